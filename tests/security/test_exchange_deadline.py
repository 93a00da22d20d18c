"""The exchange's one wall-clock deadline, under gunicorn: a MusicAPI that trickles its answer, a byte or a
line every few seconds, gets a 504 within EXCHANGE_DEADLINE, not after the router's 30 s or more.

Every slow callback waits the whole deadline, so all of them run at once, against one app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from callback_app.settings import EXCHANGE_DEADLINE
from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64, login_document, profile
from tests.support.pages import account_cookies_added, error_code_in
from tests.support.servers import GunicornApp
from tests.support.user import User

from .slow_upstream import BEHAVIOURS, SLOW_BUT_IN_TIME, SlowUpstream

# What a loaded machine may add to the deadline before the answer is out.
MARGIN = 2.0
SLOW = [behaviour for behaviour in BEHAVIOURS if behaviour != SLOW_BUT_IN_TIME]


@dataclass(frozen=True)
class Outcome:
    response: requests.Response
    elapsed: float
    user: User
    user_uuid: str


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[SlowUpstream]:
    upstream = SlowUpstream(tick=3.0)
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def slow_app(start_app: Callable[..., GunicornApp], slow_upstream: SlowUpstream) -> GunicornApp:
    return start_app(MUSICAPI_API_URL=f"{slow_upstream.url}/api")


@pytest.fixture(scope="module")
def slow_callbacks(
    slow_app: GunicornApp, slow_upstream: SlowUpstream, simulator: Simulator
) -> Iterator[dict[str, Outcome]]:
    """One person per behaviour, each coming back from the login at the same moment."""
    prepared = {}
    for behaviour in BEHAVIOURS:
        user = User(slow_app.url, simulator)
        login = user.start_login("spotify")
        document = login_document("spotify")
        slow_upstream.behave(document["integrationUserUUID"], behaviour, {"integrationUser": profile()})
        prepared[behaviour] = (user, user.callback_url(login, encode_data64(document)), document["integrationUserUUID"])

    def come_back(behaviour: str) -> Outcome:
        user, url, user_uuid = prepared[behaviour]
        started = time.monotonic()
        response = user.come_back(url)
        return Outcome(response, time.monotonic() - started, user, user_uuid)

    with ThreadPoolExecutor(len(BEHAVIOURS)) as pool:
        outcomes = dict(zip(BEHAVIOURS, pool.map(come_back, BEHAVIOURS), strict=True))
    yield outcomes
    # Idle keep-alive connections would hold the app's graceful shutdown at the end of the run.
    for outcome in outcomes.values():
        outcome.user.http.close()


@pytest.mark.parametrize("behaviour", SLOW)
def test_a_trickling_musicapi_gets_a_504_within_the_deadline(
    slow_callbacks: dict[str, Outcome], slow_upstream: SlowUpstream, behaviour: str
) -> None:
    outcome = slow_callbacks[behaviour]

    assert outcome.response.status_code == 504, outcome.response.text[:300]
    assert error_code_in(outcome.response.text) == "upstream_timeout"
    assert outcome.elapsed < EXCHANGE_DEADLINE + MARGIN, f"answered after {outcome.elapsed:.1f} s"
    assert not account_cookies_added(outcome.response)
    assert slow_upstream.calls_for(outcome.user_uuid) == 1, "a token already sent is never sent again"
    assert outcome.user.accounts() == []


def test_a_slow_answer_that_finishes_inside_the_deadline_connects(
    slow_callbacks: dict[str, Outcome], slow_upstream: SlowUpstream
) -> None:
    outcome = slow_callbacks[SLOW_BUT_IN_TIME]

    assert outcome.response.status_code == 303, outcome.response.text[:300]
    assert outcome.elapsed > slow_upstream.tick, "the answer really was slow"
    assert outcome.user.connected_services() == ["spotify"]
    assert slow_upstream.calls_for(outcome.user_uuid) == 1

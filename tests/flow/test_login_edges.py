"""The edges of a login, over HTTP against the app under gunicorn: a callback arriving twice, a browser out of room.

A one-time token works once: whatever the browser does, it is sent to MusicAPI at most once, and
never when the account it buys could not be kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import account_cookies_added
from tests.support.processes import Wiretap
from tests.support.servers import GunicornApp, ThreadedServer
from tests.support.user import User

from .refusals import assert_error_page

# Long enough that a second copy of the callback surely arrives while the first one waits for MusicAPI.
EXCHANGE_LATENCY = 1.0
NEXT = "/account/music"
# Connected together, these accounts fill the Cookie header so far that MusicAPI's chooser can still
# be opened (an account of typical size fits) but a TIDAL account (among the largest) cannot be kept.
NEARLY_FULL = ("appleMusic", "amazonMusic", "spotify", "youtube", "youtubeMusic", "deezer", "soundcloud")
# Other cookies of the host (a shared domain's analytics, another app) filling the same room.
FOREIGN_COOKIE_BYTES = 6000


@pytest.fixture(scope="module")
def wiretap(musicapi: ThreadedServer) -> Iterator[Wiretap]:
    tap = Wiretap(musicapi.url)
    yield tap
    tap.close()


@pytest.fixture(scope="module")
def tapped_app(start_app: Callable[..., GunicornApp], wiretap: Wiretap) -> GunicornApp:
    """The app with its MusicAPI calls passing the wiretap, which says when the exchange has started."""
    return start_app(MUSICAPI_API_URL=f"{wiretap.url}/api")


def test_the_same_callback_twice_while_the_first_is_in_flight_spends_the_token_once(
    tapped_app: GunicornApp, wiretap: Wiretap, simulator: Simulator
) -> None:
    user = User(tapped_app.url, simulator)
    login = user.start_login("spotify", next_path=NEXT)
    document = simulator.issue_login("spotify")
    url = user.callback_url(login, encode_data64(document))
    simulator.latency = EXCHANGE_LATENCY
    wiretap.arrived.clear()
    answers: dict[str, requests.Response] = {}
    first_answered_at: list[float] = []

    def first_copy() -> None:
        answers["first"] = user.come_back(url)
        first_answered_at.append(time.monotonic())

    first = threading.Thread(target=first_copy, daemon=True)
    first.start()
    assert wiretap.arrived.wait(15), "the first copy never reached MusicAPI"
    # A double click: the same browser, its cookies as they are, while the first answer is still coming.
    second_sent_at = time.monotonic()
    answers["second"] = user.come_back(url)
    first.join(30)

    assert first_answered_at, "the first copy never answered"
    assert second_sent_at < first_answered_at[0]
    for copy, response in answers.items():
        assert response.status_code == 303, (copy, response.text[:300])
        assert response.headers["Location"] == NEXT
        assert account_cookies_added(response), f"the {copy} answer does not carry the account"
    assert len(simulator.calls()) == 1
    assert user.connected_services() == ["spotify"]

    simulator.latency = 0.0
    again = user.come_back(url)

    assert_error_page(again, 400, "already_connected", retry=False)
    assert len(simulator.calls()) == 1
    assert document["oneTimeToken"] not in tapped_app.logs.text()


def a_token_still_unspent(simulator: Simulator, login: dict[str, str]) -> bool:
    """Whether MusicAPI would still accept the login's one-time token (asked directly, as the app would)."""
    return simulator.exchange(login["integrationUserUUID"], f"Token {login['oneTimeToken']}").status == 200


def test_the_chooser_refuses_a_login_its_own_accounts_leave_no_room_for_before_spending_the_token(
    user: User, simulator: Simulator
) -> None:
    for service in NEARLY_FULL:
        assert user.connect(service).status_code == 303, service
    calls_before = len(simulator.calls())
    login = user.start_login(None)
    assert login.status_code == 303, "the chooser could not even be opened"
    tidal = simulator.issue_login("tidal")

    response = user.come_back(user.callback_url(login, encode_data64(tidal)))

    assert_error_page(response, 400, "session_full", retry=False)
    assert len(simulator.calls()) == calls_before
    assert sorted(user.connected_services()) == sorted(NEARLY_FULL)
    assert a_token_still_unspent(simulator, tidal)


def test_the_chooser_refuses_a_login_other_cookies_leave_no_room_for_before_spending_the_token(
    user: User, simulator: Simulator
) -> None:
    user.open_home()
    user.http.cookies.set("site_analytics", "a" * FOREIGN_COOKIE_BYTES, domain="127.0.0.1", path="/")
    login = user.start_login(None)
    assert login.status_code == 303, "the chooser could not even be opened"
    tidal = simulator.issue_login("tidal")

    response = user.come_back(user.callback_url(login, encode_data64(tidal)))

    assert_error_page(response, 400, "cookies_full", retry=False)
    assert simulator.calls() == []
    assert user.accounts() == []
    assert a_token_still_unspent(simulator, tidal)

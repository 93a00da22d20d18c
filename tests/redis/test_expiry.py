"""Session limits kept by the server, on an injected clock: a week without a visit ends a session, and
visits keep it alive only until thirty days after it began."""

from __future__ import annotations

import pytest
from flask import Flask

from callback_app.session.base import ABSOLUTE_LIFETIME, IDLE_TIMEOUT, TICKET_COOKIE
from callback_app.simulator import Simulator
from tests.conftest import MakeApp
from tests.support.clock import FakeClock
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import encode_data64
from tests.support.redis import RedisServer

from .conftest import session_key, ticket_in

DAY = 24 * 3600


@pytest.fixture
def app_and_clock(make_app: MakeApp, redis_server: RedisServer) -> tuple[Flask, FakeClock]:
    return make_app(redis_url=redis_server.url)


@pytest.fixture
def listener(app_and_clock: tuple[Flask, FakeClock], simulator: Simulator) -> InProcessBrowser:
    """A browser with Spotify connected."""
    browser = InProcessBrowser(app_and_clock[0])
    login = browser.start_login("spotify")
    data64 = encode_data64(simulator.issue_login("spotify"))
    assert browser.callback({"state": browser.state(login), "data64": data64}).status_code == 303
    return browser


def session_record_of(browser: InProcessBrowser) -> str:
    return session_key(ticket_in(browser.cookie(TICKET_COOKIE)))


def connected(browser: InProcessBrowser) -> list[str]:
    return [account["service"] for account in browser.accounts()]


def test_a_session_not_visited_for_eight_days_is_gone(
    listener: InProcessBrowser, app_and_clock: tuple[Flask, FakeClock], redis_server: RedisServer
) -> None:
    _, clock = app_and_clock
    key = session_record_of(listener)
    assert 0 < redis_server.client().ttl(key) <= IDLE_TIMEOUT

    clock.advance(8 * DAY)

    assert connected(listener) == []
    assert not redis_server.client().exists(key)


def test_visits_every_six_days_keep_a_session_until_thirty_days(
    listener: InProcessBrowser, app_and_clock: tuple[Flask, FakeClock], redis_server: RedisServer
) -> None:
    _, clock = app_and_clock
    key = session_record_of(listener)
    for day in (6, 12, 18, 24):
        clock.advance(6 * DAY)
        assert connected(listener) == ["spotify"], f"day {day}"
    # Redis itself drops the record no later than the absolute limit.
    assert 0 < redis_server.client().ttl(key) <= ABSOLUTE_LIFETIME - 24 * DAY

    clock.advance(6 * DAY)

    assert connected(listener) == []
    answer = listener.get("/api/session")
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "not_connected"}

"""Tokens that die, over HTTP against the app under gunicorn: refreshed once however many ask, or kept as expired.

The app runs on real time, so tokens are made to die at MusicAPI's end: its clock is set back while
it issues them (it gives every token an hour from its own clock), then put back where it was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from callback_app.session.accounts import REFRESH_MARGIN
from callback_app.simulator import Simulator
from callback_app.simulator.state import AUTH_DATA_LIFETIME_MS
from tests.support.clock import FakeClock
from tests.support.musicapi import encode_data64
from tests.support.pages import csrf_token_in
from tests.support.servers import GunicornApp
from tests.support.user import User

# The simulator's own client credentials.
CLIENT = {"MUSICAPI_CLIENT_ID": "simulator-client", "MUSICAPI_CLIENT_SECRET": "simulator-secret"}
STORM = 50
# MusicAPI answers each refresh this slowly, so the storm's requests overlap while one is under way.
REFRESH_LATENCY = 0.5
IN_A_ROW = 20
ACCOUNT_CARD = re.compile(r'<li class="card account[^"]*">.*?</li>', re.DOTALL)


@pytest.fixture(scope="module")
def refreshing_app(start_app: Callable[..., GunicornApp]) -> GunicornApp:
    return start_app(**CLIENT)


class TokenLifetimes:
    """Sets how long the tokens MusicAPI issues from now on live (measured on real time)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def live(self, seconds: float) -> None:
        self.clock.now = time.time() - AUTH_DATA_LIFETIME_MS / 1000 + seconds


@pytest.fixture
def tokens(musicapi_clock: FakeClock) -> Iterator[TokenLifetimes]:
    kept = musicapi_clock.now
    yield TokenLifetimes(musicapi_clock)
    musicapi_clock.now = kept


def refresh_calls(simulator: Simulator) -> int:
    return sum(1 for call in simulator.calls() if call.authorization_scheme == "Basic")


def session_in(app: GunicornApp, cookie_header: str) -> requests.Response:
    """/api/session as one more tab of the same browser asks for it."""
    return requests.get(f"{app.url}/api/session", headers={"Cookie": cookie_header}, timeout=30)


def cookie_header(user: User) -> str:
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in user.http.cookies)


def test_fifty_tabs_reading_an_expiring_account_at_once_cause_one_refresh(
    refreshing_app: GunicornApp, simulator: Simulator, tokens: TokenLifetimes
) -> None:
    user = User(refreshing_app.url, simulator)
    tokens.live(REFRESH_MARGIN / 2)
    assert user.connect("spotify").status_code == 303
    tokens.live(AUTH_DATA_LIFETIME_MS / 1000)
    simulator.latency = REFRESH_LATENCY
    header = cookie_header(user)

    with ThreadPoolExecutor(STORM) as pool:
        answers = list(pool.map(lambda _: session_in(refreshing_app, header), range(STORM)))

    assert [answer.status_code for answer in answers] == [200] * STORM
    accounts = [answer.json()["accounts"][0] for answer in answers]
    # Every tab got the same fresh tokens: an hour to live, not the seconds the login's tokens had left.
    assert len({account["authData"]["accessToken"] for account in accounts}) == 1
    assert all(account["expiresAt"] / 1000 > time.time() + REFRESH_MARGIN for account in accounts)
    assert all(account["expired"] is False and "refreshError" not in account for account in accounts)
    assert refresh_calls(simulator) == 1


def test_a_token_living_less_than_the_margin_is_refreshed_at_most_once_a_minute(
    refreshing_app: GunicornApp, simulator: Simulator, tokens: TokenLifetimes
) -> None:
    # Every token MusicAPI hands out, the refreshed ones too, lives half the refresh margin.
    tokens.live(REFRESH_MARGIN / 2)
    user = User(refreshing_app.url, simulator)
    assert user.connect("spotify").status_code == 303

    seen = [user.accounts()[0] for _ in range(IN_A_ROW)]

    assert refresh_calls(simulator) == 1
    for account in seen:
        assert account["expired"] is False
        assert account["expiresAt"] / 1000 < time.time() + REFRESH_MARGIN
    assert len({account["authData"]["accessToken"] for account in seen}) == 1


def test_an_expired_account_stays_marked_expired_with_a_reconnect_button(
    user: User, simulator: Simulator, tokens: TokenLifetimes
) -> None:
    tokens.live(-120)
    assert user.connect("spotify").status_code == 303
    tokens.live(AUTH_DATA_LIFETIME_MS / 1000)
    assert user.connect("deezer").status_code == 303

    readings = [{account["service"]: account["expired"] for account in user.accounts()} for _ in range(3)]
    page = user.get("/")

    assert readings == [{"spotify": True, "deezer": False}] * 3
    cards = {("Spotify" in card, "Deezer" in card): card for card in ACCOUNT_CARD.findall(page.text)}
    spotify, deezer = cards[True, False], cards[False, True]
    assert "Expired — reconnect to keep using it" in spotify
    assert 'action="/connect/spotify"' in spotify
    assert "Reconnect" in spotify
    assert "Expired" not in deezer
    assert "Reconnect" not in deezer
    assert refresh_calls(simulator) == 0

    # Reconnect is an ordinary login for that service; the new account replaces the expired one.
    reconnect = user.post("/connect/spotify", {"csrf_token": csrf_token_in(page.text)})
    assert reconnect.status_code == 303
    login = encode_data64(simulator.issue_login("spotify"))
    assert user.come_back(user.callback_url(reconnect, login)).status_code == 303
    assert {account["service"]: account["expired"] for account in user.accounts()} == {
        "spotify": False,
        "deezer": False,
    }

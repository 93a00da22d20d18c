"""Turning REDIS_URL on keeps the accounts people connected in cookie mode (moved into Redis on their
next visit); turning it off again logs them out cleanly."""

from __future__ import annotations

from callback_app.simulator import Simulator
from tests.support.pages import cookie_name, error_code_in, is_deletion, set_cookies
from tests.support.redis import RedisServer
from tests.support.servers import GunicornApp
from tests.support.user import User

from .conftest import session_key, ticket_of

SERVICES = ["spotify", "appleMusic"]
ACCOUNT_COOKIES = {"acct-spotify", "acct-appleMusic"}


def deleted_cookies(response: object) -> set[str]:
    return {cookie_name(header) for header in set_cookies(response) if is_deletion(header)}


def test_cookie_mode_accounts_move_into_redis_and_back_out_cleanly(
    app_server: GunicornApp, redis_app: GunicornApp, redis_server: RedisServer, simulator: Simulator
) -> None:
    browser = User(app_server.url, simulator)
    for service in SERVICES:
        assert browser.connect(service).status_code == 303
    in_cookies = browser.accounts()
    assert browser.cookie_names() >= ACCOUNT_COOKIES

    # The deployment turns REDIS_URL on (same SECRET_KEY); the same browser comes back.
    browser.app_url = redis_app.url
    first_visit = browser.get("/api/session")

    assert first_visit.status_code == 200
    assert first_visit.json()["accounts"] == in_cookies
    assert deleted_cookies(first_visit) >= ACCOUNT_COOKIES
    assert not ACCOUNT_COOKIES & browser.cookie_names()
    stored = redis_server.client().hkeys(session_key(ticket_of(browser)))
    assert set(stored) == {b"_seen", *(service.encode() for service in SERVICES)}
    assert browser.accounts() == in_cookies

    # And off again: the ticket points to accounts cookie mode cannot read.
    browser.app_url = app_server.url
    page = browser.get("/")

    assert page.status_code == 200
    assert error_code_in(page.text) is None
    assert "/disconnect/" not in page.text
    assert "sid" in deleted_cookies(page)
    assert "sid" not in browser.cookie_names()
    answer = browser.get("/api/session")
    assert answer.status_code == 401
    assert answer.json() == {"error": "not_connected"}

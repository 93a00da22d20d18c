"""Login CSRF and flow binding: a callback counts only in the browser that started it, for its service, once."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask

from callback_app.login.flows import FLOW_LIFETIME
from callback_app.simulator import Simulator
from tests.conftest import MakeApp
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import encode_data64
from tests.support.pages import account_cookies_added, cookie_attributes, cookie_name, error_code_in, set_cookies
from tests.support.user import User


def test_an_attackers_login_link_does_not_connect_the_attackers_account_in_a_victims_browser(
    make_user: Callable[..., User], simulator: Simulator
) -> None:
    attacker, victim = make_user(), make_user()
    login = attacker.start_login("spotify")
    planted = attacker.callback_url(login, encode_data64(simulator.issue_login("spotify", user_key="attacker")))

    response = victim.come_back(planted)

    assert response.status_code == 400
    assert error_code_in(response.text) == "flow_missing"
    assert "another browser" in response.text
    assert victim.accounts() == []
    assert not account_cookies_added(response)
    assert simulator.calls() == [], "an unbound callback must not even spend the token"


def test_an_attackers_link_leaves_the_victims_own_login_in_progress_working(
    make_user: Callable[..., User], simulator: Simulator
) -> None:
    attacker, victim = make_user(), make_user()
    victim_login = victim.start_login("spotify")
    attacker_login = attacker.start_login("spotify")
    planted = attacker.callback_url(attacker_login, encode_data64(simulator.issue_login("spotify")))

    refused = victim.come_back(planted)
    finished = victim.come_back(victim.callback_url(victim_login, encode_data64(simulator.issue_login("spotify"))))

    assert refused.status_code == 400
    assert error_code_in(refused.text) == "state_mismatch"
    assert finished.status_code == 303
    assert victim.connected_services() == ["spotify"]
    assert len(simulator.calls()) == 1


def test_a_used_callback_link_replayed_says_already_connected_and_changes_nothing(
    user: User, simulator: Simulator
) -> None:
    login = user.start_login("spotify")
    url = user.callback_url(login, encode_data64(simulator.issue_login("spotify")))
    assert user.come_back(url).status_code == 303
    before = user.accounts()

    replay = user.come_back(url)

    assert replay.status_code == 400
    assert error_code_in(replay.text) == "already_connected"
    assert user.accounts() == before
    assert len(simulator.calls()) == 1


def test_a_used_link_replayed_after_disconnecting_is_named_as_used_not_connected(
    user: User, simulator: Simulator
) -> None:
    login = user.start_login("spotify")
    url = user.callback_url(login, encode_data64(simulator.issue_login("spotify")))
    assert user.come_back(url).status_code == 303
    assert user.post("/disconnect/spotify", {"csrf_token": user.csrf_token or ""}).status_code == 303

    replay = user.come_back(url)

    assert replay.status_code == 400
    assert error_code_in(replay.text) == "flow_replayed"
    assert user.accounts() == []
    assert len(simulator.calls()) == 1


def test_a_callback_for_another_service_than_the_one_started_is_refused(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    response = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("tidal"))))

    assert response.status_code == 400
    assert error_code_in(response.text) == "service_mismatch"
    assert user.accounts() == []
    assert simulator.calls() == []


def test_the_chooser_accepts_only_allowed_services(make_app: MakeApp, simulator: Simulator) -> None:
    app, _ = make_app(services=("spotify", "tidal"))
    browser = InProcessBrowser(app)
    login = browser.start_login(None)

    response = browser.callback(
        {"state": browser.state(login), "data64": encode_data64(simulator.issue_login("deezer"))}
    )

    assert response.status_code == 400
    assert error_code_in(response.get_data(as_text=True)) == "service_mismatch"
    assert browser.accounts() == []
    assert simulator.calls() == []


def test_a_login_finished_after_ten_minutes_is_refused(make_app: MakeApp, simulator: Simulator) -> None:
    app, clock = make_app()
    browser = InProcessBrowser(app)
    login = browser.start_login("spotify")
    state = browser.state(login)
    clock.advance(FLOW_LIFETIME + 1)

    response = browser.callback({"state": state, "data64": encode_data64(simulator.issue_login("spotify"))})

    assert response.status_code == 400
    assert error_code_in(response.get_data(as_text=True)) == "flow_expired"
    assert browser.accounts() == []
    assert simulator.calls() == []


def test_the_flow_cookie_expires_within_ten_minutes_and_is_locked_down(user: User) -> None:
    login = user.start_login("spotify")

    [flow] = [header for header in set_cookies(login) if cookie_name(header) == "flow"]
    attributes = cookie_attributes(flow)
    assert 0 < int(attributes["max-age"]) <= 600
    # Expires says the same, for a browser that reads only Expires.
    expires_in = parsedate_to_datetime(attributes["expires"]).timestamp() - time.time()
    assert 0 < expires_in <= 600 + 5
    assert "HttpOnly" in flow
    assert "SameSite=Lax" in flow
    assert "Path=/" in flow
    assert "Domain" not in flow


def test_the_state_is_compared_in_constant_time(
    fast_app: Flask, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(left: bytes, right: bytes) -> bool:
        compared.append((left, right))
        return real_compare(left, right)

    monkeypatch.setattr("callback_app.login.flows.hmac.compare_digest", spy)
    browser = InProcessBrowser(fast_app)
    state = browser.state(browser.start_login("spotify"))
    browser.callback({"state": state, "data64": encode_data64(simulator.issue_login("spotify"))})

    assert (state.encode(), state.encode()) in compared


class TestStartingALoginNeedsThePagesCsrfToken:
    def test_a_link_cannot_start_a_login(self, user: User) -> None:
        response = user.get("/connect/spotify")

        assert response.status_code == 405
        assert response.headers["Allow"].split(", ").count("POST") == 1
        assert not any(cookie_name(h) == "flow" for h in set_cookies(response))

    def test_a_form_without_the_token_is_refused(self, user: User) -> None:
        user.open_home()
        response = user.post("/connect/spotify", {})

        assert response.status_code == 400
        assert error_code_in(response.text) == "csrf_token"
        assert not any(cookie_name(h) == "flow" for h in set_cookies(response))

    def test_another_browsers_token_is_refused(self, make_user: Callable[..., User]) -> None:
        attacker, victim = make_user(), make_user()
        attacker.open_home()
        victim.open_home()
        assert attacker.csrf_token is not None

        response = victim.post("/connect/spotify", {"csrf_token": attacker.csrf_token})

        assert response.status_code == 400
        assert error_code_in(response.text) == "csrf_token"

    def test_a_cross_site_form_is_refused_even_with_a_valid_token(self, user: User) -> None:
        user.open_home()
        response = user.post(
            "/connect/spotify", {"csrf_token": user.csrf_token or ""}, headers={"Origin": "https://evil.example"}
        )

        assert response.status_code == 400
        assert error_code_in(response.text) == "foreign_origin"

    def test_disconnect_and_logout_need_the_token_too(self, user: User) -> None:
        user.connect("spotify")

        assert user.post("/disconnect/spotify", {}).status_code == 400
        assert user.post("/logout", {"csrf_token": "forged"}).status_code == 400
        assert user.connected_services() == ["spotify"]

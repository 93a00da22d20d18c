"""Login CSRF and flow binding: a callback counts only in the browser that started it, for its service, once."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import pytest
from flask import Flask

from callback_app.flow import FLOW_LIFETIME
from callback_app.simulator import Simulator
from tests.support.user import User, encode_data64

from .conftest import MakeApp
from .helpers import InProcessBrowser, account_cookies_added, cookie_name, set_cookies


def test_an_attackers_login_link_does_not_connect_the_attackers_account_in_a_victims_browser(
    make_user: Callable[..., User], simulator: Simulator
) -> None:
    attacker, victim = make_user(), make_user()
    login = attacker.start_login("spotify")
    planted = attacker.callback_url(login, encode_data64(simulator.issue_login("spotify", user_key="attacker")))

    response = victim.come_back(planted)

    assert response.status_code == 400
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
    assert "Another login was started" in refused.text
    assert finished.status_code == 303
    assert victim.connected_services() == ["spotify"]
    assert len(simulator.calls()) == 1


def test_a_used_callback_link_replayed_changes_nothing(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    url = user.callback_url(login, encode_data64(simulator.issue_login("spotify")))
    assert user.come_back(url).status_code == 303
    before = user.accounts()

    replay = user.come_back(url)

    assert replay.status_code == 400
    assert "already used" in replay.text
    assert user.accounts() == before
    assert len(simulator.calls()) == 1


def test_a_callback_for_another_service_than_the_one_started_is_refused(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    response = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("tidal"))))

    assert response.status_code == 400
    assert "different service" in response.text
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
    assert "expired" in response.get_data(as_text=True)
    assert browser.accounts() == []
    assert simulator.calls() == []


def test_the_flow_cookie_expires_within_ten_minutes_and_is_locked_down(user: User) -> None:
    login = user.start_login("spotify")

    [flow] = [header for header in set_cookies(login) if cookie_name(header) == "flow"]
    assert 0 < int(flow.split("Max-Age=")[1].split(";")[0]) <= 600
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

    monkeypatch.setattr("callback_app.flow.hmac.compare_digest", spy)
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
        assert "form expired" in response.text
        assert not any(cookie_name(h) == "flow" for h in set_cookies(response))

    def test_another_browsers_token_is_refused(self, make_user: Callable[..., User]) -> None:
        attacker, victim = make_user(), make_user()
        attacker.open_home()
        victim.open_home()
        assert attacker.csrf_token is not None

        response = victim.post("/connect/spotify", {"csrf_token": attacker.csrf_token})

        assert response.status_code == 400

    def test_a_cross_site_form_is_refused_even_with_a_valid_token(self, user: User) -> None:
        user.open_home()
        response = user.post(
            "/connect/spotify", {"csrf_token": user.csrf_token or ""}, headers={"Origin": "https://evil.example"}
        )

        assert response.status_code == 400

    def test_disconnect_and_logout_need_the_token_too(self, user: User) -> None:
        user.connect("spotify")

        assert user.post("/disconnect/spotify", {}).status_code == 400
        assert user.post("/logout", {"csrf_token": "forged"}).status_code == 400
        assert user.connected_services() == ["spotify"]

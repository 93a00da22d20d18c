"""Every way a callback can fail, over real HTTP: the contract's status, a page, nothing changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from callback_app.cookies import Sealer
from callback_app.simulator import Simulator
from tests.support.clock import FakeClock
from tests.support.musicapi import encode_data64
from tests.support.pages import csrf_token_in, set_cookies
from tests.support.servers import TEST_SECRET_KEY
from tests.support.user import User

from .refusals import assert_error_page, visible_text


def test_a_cancelled_login_says_so_and_connects_nothing(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    response = user.come_back(user.callback_url(login, encode_data64(simulator.failed_login("spotify"))))

    assert_error_page(response, 400, "login_failed")
    assert user.accounts() == []
    assert simulator.calls() == []


def test_a_callback_in_another_browser_is_refused_without_calling_musicapi(
    make_user: Callable[..., User], simulator: Simulator
) -> None:
    victim, attacker = make_user(), make_user()
    login = attacker.start_login("spotify")
    url = attacker.callback_url(login, encode_data64(simulator.issue_login("spotify")))

    response = victim.come_back(url)

    # A browser that started nothing gets nothing, not even a CSRF token: only the way back.
    assert_error_page(response, 400, "flow_missing", retry=False)
    assert simulator.calls() == []
    assert victim.accounts() == []
    assert "Set-Cookie" not in response.headers


def test_another_browsers_state_with_my_flow_cookie_is_refused(
    make_user: Callable[..., User], simulator: Simulator
) -> None:
    me, other = make_user(), make_user()
    me.start_login("spotify")
    other_login = other.start_login("spotify")

    response = me.come_back(other.callback_url(other_login, encode_data64(simulator.issue_login("spotify"))))

    assert_error_page(response, 400, "state_mismatch", retry=True)
    assert simulator.calls() == []
    assert me.accounts() == []


def test_a_finished_callback_again_in_the_browser_holding_the_account_says_already_connected(
    user: User, simulator: Simulator
) -> None:
    login = user.start_login("spotify")
    url = user.callback_url(login, encode_data64(simulator.issue_login("spotify")))
    assert user.come_back(url).status_code == 303
    calls_after_login = len(simulator.calls())

    response = user.come_back(url)

    assert_error_page(response, 400, "already_connected", retry=False)
    assert 'href="/"' in response.text
    assert len(simulator.calls()) == calls_after_login
    assert user.connected_services() == ["spotify"]


def test_a_finished_callback_again_after_a_disconnect_is_a_used_link(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    url = user.callback_url(login, encode_data64(simulator.issue_login("spotify")))
    assert user.come_back(url).status_code == 303
    assert user.post("/disconnect/spotify", {"csrf_token": user.csrf_token or ""}).status_code == 303

    response = user.come_back(url)

    assert_error_page(response, 400, "flow_replayed", retry=True)
    assert len(simulator.calls()) == 1
    assert user.accounts() == []


def test_a_different_service_than_the_one_asked_for_is_refused(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    response = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("tidal"))))

    assert_error_page(response, 400, "service_mismatch")
    assert simulator.calls() == []


def test_a_service_outside_the_allowlist_is_refused_even_from_the_chooser(
    start_app: Callable[..., object], simulator: Simulator
) -> None:
    app = start_app(MUSICAPI_SERVICES="spotify,deezer")
    user = User(app.url, simulator)  # type: ignore[attr-defined]
    login = user.start_login(None)
    response = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("tidal"))))

    assert_error_page(response, 400, "service_mismatch")
    assert user.post("/connect/tidal", {"csrf_token": user.csrf_token or ""}).status_code == 404


@pytest.mark.parametrize(
    "data64",
    ["", "%%%", "bm90IGpzb24=", "W10=", "e30=", "!" * 100, "A" * 5000],
    ids=["empty", "garbage", "not-json", "json-array", "empty-object", "bad-chars", "too-long"],
)
def test_malformed_data64_is_a_400_page(user: User, simulator: Simulator, data64: str) -> None:
    login = user.start_login("spotify")
    response = user.come_back(user.callback_url(login, data64))

    assert_error_page(response, 400, "malformed_callback")
    assert simulator.calls() == []


def test_a_token_that_expired_before_the_return_is_a_502(
    user: User, simulator: Simulator, musicapi_clock: FakeClock
) -> None:
    login = user.start_login("spotify")
    data64 = encode_data64(simulator.issue_login("spotify"))
    musicapi_clock.advance(61)

    response = user.come_back(user.callback_url(login, data64))

    assert_error_page(response, 502, "upstream_refused")
    assert len(simulator.calls()) == 1
    assert user.accounts() == []


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("http_500", "upstream_error"),
        ("http_401", "upstream_refused"),
        ("http_404", "upstream_refused"),
        ("non_json", "upstream_error"),
        ("huge_body", "upstream_error"),
        ("wrong_shape", "upstream_error"),
        ("redirect", "upstream_error"),
        ("empty_body", "upstream_error"),
    ],
)
def test_musicapi_faults_are_502_pages_and_never_retried(
    user: User, simulator: Simulator, fault: str, code: str
) -> None:
    login = user.start_login("spotify")
    data64 = encode_data64(simulator.issue_login("spotify"))
    simulator.fault = fault

    response = user.come_back(user.callback_url(login, data64))

    assert_error_page(response, 502, code)
    assert len(simulator.calls()) == 1
    assert user.accounts() == []


def test_musicapi_down_is_a_502_page(start_app: Callable[..., object], simulator: Simulator) -> None:
    app = start_app(MUSICAPI_API_URL="http://127.0.0.1:9/api")
    user = User(app.url, simulator)  # type: ignore[attr-defined]
    login = user.start_login("spotify")

    response = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("spotify"))))

    assert_error_page(response, 502, "upstream_unreachable")


def test_musicapi_too_slow_is_a_504_page_within_the_timeout(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    data64 = encode_data64(simulator.issue_login("spotify"))
    simulator.hang_seconds = 20
    simulator.fault = "hang"

    response = user.come_back(user.callback_url(login, data64))

    assert_error_page(response, 504, "upstream_timeout")
    assert response.elapsed.total_seconds() < 15
    assert len(simulator.calls()) == 1


def test_a_failed_callback_still_consumes_the_flow(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    url = user.callback_url(login, encode_data64(simulator.failed_login("spotify")))
    assert_error_page(user.come_back(url), 400, "login_failed")

    assert_error_page(user.come_back(url), 400, "flow_replayed", retry=False)


def test_the_error_page_offers_to_try_the_same_service_again(user: User, simulator: Simulator) -> None:
    login = user.start_login("deezer")
    response = user.come_back(user.callback_url(login, encode_data64(simulator.failed_login("deezer"))))

    assert 'action="/connect/deezer"' in response.text


@pytest.mark.parametrize(
    ("form", "origin", "code"),
    [
        ({}, None, "csrf_token"),
        ({"csrf_token": "forged"}, None, "csrf_token"),
        ("valid", "https://evil.example", "foreign_origin"),
    ],
    ids=["missing", "forged", "cross-origin"],
)
def test_starting_a_login_needs_this_browsers_csrf_token(
    user: User, form: object, origin: str | None, code: str
) -> None:
    user.open_home()
    data = {"csrf_token": user.csrf_token or ""} if form == "valid" else form
    headers = {"Origin": origin} if origin else {}

    response = user.post("/connect/spotify", data, headers=headers)  # type: ignore[arg-type]

    assert_error_page(response, 400, code, retry=False)
    assert "flow" not in user.cookie_names()


def test_try_again_from_an_error_page_starts_the_login_although_its_origin_is_null(
    user: User, simulator: Simulator
) -> None:
    login = user.start_login("deezer")
    page = user.come_back(user.callback_url(login, encode_data64(simulator.failed_login("deezer"))))

    # The error page is no-referrer, so the browser posts its "Try again" form with "Origin: null".
    again = user.post("/connect/deezer", {"csrf_token": csrf_token_in(page.text)}, headers={"Origin": "null"})

    assert again.status_code == 303
    assert "/deezer/auth" in again.headers["Location"]
    assert "flow" in user.cookie_names()


def test_connect_is_post_only_and_services_must_be_known(user: User) -> None:
    user.open_home()
    assert user.get("/connect/spotify").status_code == 405
    assert "POST" in user.get("/connect/spotify").headers["Allow"]
    assert user.post("/connect/myspace", {"csrf_token": user.csrf_token or ""}).status_code == 404


def test_unknown_pages_are_404_pages_not_stack_traces(user: User) -> None:
    response = user.get("/nope")

    assert response.status_code == 404
    assert "Reference code: not_found" in visible_text(response.text)


def an_old_flow(minutes_ago: float) -> tuple[str, str]:
    """A state and flow cookie exactly as the app made them, ``minutes_ago`` (same SECRET_KEY)."""
    sealer = Sealer([TEST_SECRET_KEY], clock=FakeClock(time.time() - minutes_ago * 60))
    state = sealer.sign("state", "an-old-random-state-value")
    cookie = sealer.seal("flow", "flow", {"st": state, "sv": "spotify", "nx": "/"})
    return state, cookie


def test_a_login_finished_after_ten_minutes_has_expired(user: User, simulator: Simulator) -> None:
    user.open_home()
    state, cookie = an_old_flow(minutes_ago=11)
    user.http.cookies.set("flow", cookie, domain="127.0.0.1", path="/")
    data64 = encode_data64(simulator.issue_login("spotify"))

    response = user.get("/callback?" + urlencode({"state": state, "data64": data64}))

    assert_error_page(response, 400, "flow_expired", retry=True)
    assert simulator.calls() == []
    assert any(h.startswith("flow=;") for h in set_cookies(response))


def test_an_old_link_without_its_flow_cookie_says_expired(user: User, simulator: Simulator) -> None:
    user.open_home()
    state, _ = an_old_flow(minutes_ago=30)
    data64 = encode_data64(simulator.issue_login("spotify"))

    response = user.get("/callback?" + urlencode({"state": state, "data64": data64}))

    assert_error_page(response, 400, "flow_expired", retry=True)
    assert simulator.calls() == []


def test_a_flow_nine_minutes_old_still_connects(user: User, simulator: Simulator) -> None:
    state, cookie = an_old_flow(minutes_ago=9)
    user.http.cookies.set("flow", cookie, domain="127.0.0.1", path="/")
    data64 = encode_data64(simulator.issue_login("spotify"))

    response = user.get("/callback?" + urlencode({"state": state, "data64": data64}))

    assert response.status_code == 303
    assert user.connected_services() == ["spotify"]

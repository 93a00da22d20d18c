"""Popup logins: the opener learns how the login in its popup ended from a short-lived sealed cookie."""

from __future__ import annotations

import pytest
from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer
from callback_app.login.attempts import CONNECTED, FAILED, PENDING, Attempts
from callback_app.login.flows import FLOW_LIFETIME
from callback_app.notices import Notices
from callback_app.simulator import Simulator
from tests.conftest import MakeApp
from tests.support.clock import FakeClock
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import encode_data64
from tests.unit.helpers import KEY, OTHER_KEY, BrowserCookies

ATTEMPT = "popup-attempt-0123456789"


def attempts_of(clock: FakeClock, *, key: str = KEY, secure: bool = True) -> Attempts:
    return Attempts(sealer=Sealer([key], clock=clock), jar=CookieJar(secure=secure))


@pytest.fixture
def attempts(clock: FakeClock) -> Attempts:
    return attempts_of(clock)


def recorded(attempts: Attempts, visitor: BrowserCookies, status: str, **details: str) -> dict[str, dict[str, str]]:
    response = Response()
    attempts.record(response, ATTEMPT, status, **details)
    return visitor.receive(response)


@pytest.mark.parametrize(
    "attempt",
    ["a" * 16, "A" * 64, "popup_attempt-0123", "0123456789abcdef0123"],
)
def test_an_attempt_id_is_16_to_64_url_safe_characters(attempt: str) -> None:
    assert Attempts.valid_id(attempt)


@pytest.mark.parametrize(
    "attempt",
    [
        None,
        "",
        "a" * 15,
        "a" * 65,
        "popup.attempt.0123",
        "popup attempt 0123",
        "popup-attempt-zoë0",
        "../../etc/passwd00",
    ],
)
def test_anything_else_is_not_an_attempt_id(attempt: str | None) -> None:
    assert not Attempts.valid_id(attempt)


@pytest.mark.parametrize(
    ("status", "details", "expected"),
    [
        (PENDING, {"service": "spotify"}, {"status": "pending", "service": "spotify"}),
        (PENDING, {}, {"status": "pending"}),
        (CONNECTED, {"service": "tidal"}, {"status": "connected", "service": "tidal"}),
        (
            FAILED,
            {"service": "deezer", "reason": "login_failed"},
            {"status": "failed", "service": "deezer", "reason": "login_failed"},
        ),
        (FAILED, {"reason": "flow_expired"}, {"status": "failed", "reason": "flow_expired"}),
    ],
)
def test_an_attempt_reads_back_as_it_was_recorded(
    attempts: Attempts, status: str, details: dict[str, str], expected: dict[str, str]
) -> None:
    visitor = BrowserCookies()
    recorded(attempts, visitor, status, **details)

    assert attempts.read(visitor.cookies, ATTEMPT) == expected


def test_the_attempt_cookie_is_protected_and_lives_as_long_as_a_flow(attempts: Attempts) -> None:
    cookie = recorded(attempts, BrowserCookies(), PENDING, service="spotify")["__Host-attempt"]

    assert cookie["max-age"] == str(FLOW_LIFETIME)
    assert {"secure", "httponly"} <= set(cookie)
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert "spotify" not in cookie["value"]
    assert ATTEMPT not in cookie["value"]


def test_a_newer_status_replaces_the_older(attempts: Attempts) -> None:
    visitor = BrowserCookies()
    recorded(attempts, visitor, PENDING, service="spotify")
    recorded(attempts, visitor, CONNECTED, service="spotify")

    assert attempts.read(visitor.cookies, ATTEMPT) == {"status": "connected", "service": "spotify"}


def test_another_attempt_of_this_browser_is_unknown(attempts: Attempts) -> None:
    visitor = BrowserCookies()
    recorded(attempts, visitor, PENDING)

    assert attempts.read(visitor.cookies, "another-attempt-0123456789") is None


def test_a_browser_without_the_cookie_has_no_attempt(attempts: Attempts) -> None:
    assert attempts.read({}, ATTEMPT) is None


@pytest.mark.parametrize(("elapsed", "known"), [(FLOW_LIFETIME, True), (FLOW_LIFETIME + 1, False)])
def test_an_attempt_is_known_for_as_long_as_a_flow_lives(
    attempts: Attempts, clock: FakeClock, elapsed: int, known: bool
) -> None:
    visitor = BrowserCookies()
    recorded(attempts, visitor, PENDING)
    clock.advance(elapsed)

    assert (attempts.read(visitor.cookies, ATTEMPT) is not None) is known


def test_a_tampered_forged_or_borrowed_cookie_tells_nothing(attempts: Attempts, clock: FakeClock) -> None:
    visitor = BrowserCookies()
    recorded(attempts, visitor, CONNECTED, service="spotify")
    sealed = visitor.cookies["__Host-attempt"]
    forged = BrowserCookies()
    recorded(attempts_of(clock, key=OTHER_KEY), forged, CONNECTED, service="spotify")
    notice = Response()
    Notices(sealer=Sealer([KEY], clock=clock), jar=CookieJar(secure=True)).leave(notice, "connected", "spotify")
    borrowed = BrowserCookies()
    borrowed.receive(notice)

    for value in (sealed[:-2] + "AA", forged.cookies["__Host-attempt"], borrowed.cookies["__Host-notice"]):
        assert attempts.read({"__Host-attempt": value}, ATTEMPT) is None


# -- what a page of an allowed site reads through /api/attempts/<id> ---------------------------------------------


def start_popup_login(browser: InProcessBrowser, service: str) -> str:
    browser.open_home()
    login = browser.post(
        f"/connect/{service}", {"csrf_token": browser.csrf_token or "", "mode": "popup", "attempt": ATTEMPT}
    )
    return browser.state(login)


def test_a_popup_login_is_pending_then_connected(make_app: MakeApp, simulator: Simulator) -> None:
    browser = InProcessBrowser(make_app()[0])
    state = start_popup_login(browser, "spotify")

    pending = browser.get(f"/api/attempts/{ATTEMPT}")
    back = browser.callback({"state": state, "data64": encode_data64(simulator.issue_login("spotify"))})
    connected = browser.get(f"/api/attempts/{ATTEMPT}")

    assert (pending.status_code, pending.get_json()) == (200, {"status": "pending", "service": "spotify"})
    assert (back.status_code, back.headers["Location"]) == (303, "/popup/done")
    assert (connected.status_code, connected.get_json()) == (200, {"status": "connected", "service": "spotify"})
    assert connected.headers["Cache-Control"] == "no-store"


def test_a_cancelled_popup_login_is_failed_with_its_reason(make_app: MakeApp, simulator: Simulator) -> None:
    browser = InProcessBrowser(make_app()[0])
    state = start_popup_login(browser, "tidal")

    browser.callback({"state": state, "data64": encode_data64(simulator.failed_login("tidal"))})

    assert browser.get(f"/api/attempts/{ATTEMPT}").get_json() == {"status": "failed", "reason": "login_failed"}


def test_an_attempt_this_browser_never_started_is_unknown(make_app: MakeApp) -> None:
    browser = InProcessBrowser(make_app()[0])

    response = browser.get(f"/api/attempts/{ATTEMPT}")

    assert (response.status_code, response.get_json()) == (404, {"error": "unknown_attempt"})


@pytest.mark.parametrize("attempt", ["short", "has.dots.in.it.0123456", "a" * 65])
def test_a_popup_login_with_a_bad_attempt_id_is_refused(make_app: MakeApp, attempt: str) -> None:
    browser = InProcessBrowser(make_app()[0])
    browser.open_home()

    response = browser.post(
        "/connect/spotify", {"csrf_token": browser.csrf_token or "", "mode": "popup", "attempt": attempt}
    )

    assert response.status_code == 400
    assert browser.cookie("flow") is None

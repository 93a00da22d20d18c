"""What just happened, said once: a one-shot sealed cookie that the next page shows as its banner."""

from __future__ import annotations

import html
import re

import pytest
from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer
from callback_app.notices import CONNECTED, DISCONNECTED, KINDS, LOGGED_OUT, NOTICE_LIFETIME, Notice, Notices
from callback_app.simulator import Simulator
from tests.conftest import MakeApp
from tests.support.clock import FakeClock
from tests.support.inprocess import InProcessBrowser
from tests.unit.helpers import KEY, OTHER_KEY, BrowserCookies, connect_in_process

STATUS_AREA = re.compile(r'<div class="status-area" role="status">(.*?)</div>', re.DOTALL)


def notices_of(clock: FakeClock, *, key: str = KEY) -> Notices:
    return Notices(sealer=Sealer([key], clock=clock), jar=CookieJar(secure=True))


@pytest.fixture
def notices(clock: FakeClock) -> Notices:
    return notices_of(clock)


def left(notices: Notices, kind: str, service: str = "") -> BrowserCookies:
    response = Response()
    notices.leave(response, kind, service)
    visitor = BrowserCookies()
    visitor.receive(response)
    return visitor


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("service", ["spotify", ""])
def test_a_notice_reads_back_as_it_was_left(notices: Notices, kind: str, service: str) -> None:
    visitor = left(notices, kind, service)

    assert notices.peek(visitor.cookies) == Notice(kind=kind, service=service)


def test_the_notice_cookie_is_protected_and_short_lived(notices: Notices) -> None:
    response = Response()
    notices.leave(response, CONNECTED, "spotify")

    cookie = BrowserCookies().receive(response)["__Host-notice"]
    assert cookie["max-age"] == str(NOTICE_LIFETIME)
    assert {"secure", "httponly"} <= set(cookie)
    assert "spotify" not in cookie["value"]


@pytest.mark.parametrize(("elapsed", "shown"), [(NOTICE_LIFETIME, True), (NOTICE_LIFETIME + 1, False)])
def test_a_notice_left_too_long_ago_is_not_shown(notices: Notices, clock: FakeClock, elapsed: int, shown: bool) -> None:
    visitor = left(notices, DISCONNECTED, "tidal")
    clock.advance(elapsed)

    assert (notices.peek(visitor.cookies) is not None) is shown


@pytest.mark.parametrize("payload", [{"k": "hacked", "s": ""}, {"k": CONNECTED, "s": 5}, {"s": "spotify"}, {}])
def test_an_authentic_notice_of_an_unknown_shape_is_not_shown(notices: Notices, payload: dict[str, object]) -> None:
    sealed = notices.sealer.seal("notice", "notice", payload)

    assert notices.peek({"__Host-notice": sealed}) is None


def test_a_tampered_or_forged_notice_is_not_shown(notices: Notices, clock: FakeClock) -> None:
    genuine = left(notices, CONNECTED, "spotify").cookies["__Host-notice"]
    forged = left(notices_of(clock, key=OTHER_KEY), CONNECTED, "spotify").cookies["__Host-notice"]

    for value in (genuine[:-2] + "AA", forged, "garbage", ""):
        assert notices.peek({"__Host-notice": value}) is None
    assert notices.peek({}) is None


def test_clearing_deletes_the_notice_only_when_the_browser_has_one(notices: Notices) -> None:
    visitor = left(notices, LOGGED_OUT)
    with_notice, without_notice = Response(), Response()

    notices.clear(visitor.cookies, with_notice)
    notices.clear({}, without_notice)

    assert visitor.receive(with_notice)["__Host-notice"]["max-age"] == "0"
    assert without_notice.headers.getlist("Set-Cookie") == []


# -- the banner on the start page -------------------------------------------------------------------------------


def banner(page: str) -> str:
    """The start page's banner as a person reads it (empty when there is none)."""
    match = STATUS_AREA.search(page)
    assert match, "the start page has no status area"
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()))


def name_of(browser: InProcessBrowser, service: str) -> str:
    return next(account["name"] for account in browser.accounts() if account["service"] == service)


def test_a_connection_is_announced_once(make_app: MakeApp, simulator: Simulator) -> None:
    browser = InProcessBrowser(make_app()[0])
    back = connect_in_process(browser, simulator, "spotify")

    first = browser.get("/").get_data(as_text=True)
    second = browser.get("/").get_data(as_text=True)

    assert back.headers["Location"] == "/"
    assert banner(first) == f"Connected Spotify as {name_of(browser, 'spotify')}."
    assert banner(second) == ""
    assert browser.cookie("notice") is None


def test_reconnecting_a_service_says_the_account_was_replaced(make_app: MakeApp, simulator: Simulator) -> None:
    browser = InProcessBrowser(make_app()[0])
    connect_in_process(browser, simulator, "tidal", user_key="first")
    browser.get("/")

    connect_in_process(browser, simulator, "tidal", user_key="second")

    expected = f"Your TIDAL account is now {name_of(browser, 'tidal')} (it replaced the previous one)."
    assert banner(browser.get("/").get_data(as_text=True)) == expected


def test_disconnecting_and_logging_out_are_announced(make_app: MakeApp, simulator: Simulator) -> None:
    browser = InProcessBrowser(make_app()[0])
    connect_in_process(browser, simulator, "spotify")
    connect_in_process(browser, simulator, "deezer")
    browser.open_home()

    browser.post("/disconnect/deezer", {"csrf_token": browser.csrf_token or ""})
    after_disconnect = banner(browser.open_home().get_data(as_text=True))
    browser.post("/logout", {"csrf_token": browser.csrf_token or ""})
    after_logout = banner(browser.get("/").get_data(as_text=True))

    assert after_disconnect == "Disconnected Deezer."
    assert after_logout == "You're logged out. Nothing is connected any more."


def test_a_script_that_disconnects_gets_no_banner(make_app: MakeApp, simulator: Simulator) -> None:
    browser = InProcessBrowser(make_app()[0])
    connect_in_process(browser, simulator, "spotify")
    browser.open_home()

    response = browser.post(
        "/disconnect/spotify", {"csrf_token": browser.csrf_token or ""}, headers={"Accept": "application/json"}
    )

    assert response.status_code == 204
    assert browser.cookie("notice") is None


def test_a_page_of_an_allowed_site_gets_no_banner_cookie(make_app: MakeApp, simulator: Simulator) -> None:
    browser = InProcessBrowser(make_app(allowed_origins=("https://www.example.com",))[0])
    connect_in_process(browser, simulator, "spotify")
    browser.open_home()

    response = browser.post(
        "/logout", {"next": "https://www.example.com/bye"}, headers={"Origin": "https://www.example.com"}
    )

    assert (response.status_code, response.headers["Location"]) == (303, "https://www.example.com/bye")
    assert browser.cookie("notice") is None

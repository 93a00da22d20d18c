"""Every way a return from MusicAPI can fail has its own plain page, a reference code, and a button that
says what it does: "Try again" starts the same login afresh, "Back to start" goes home."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from playwright.sync_api import Route, expect

from callback_app.simulator import Simulator
from tests.browser.visitor import Visitor
from tests.support.servers import GunicornApp, free_port

pytestmark = pytest.mark.browser

TRY_AGAIN = "Try again"
BACK_TO_START = "Back to start"


def test_cancel_at_musicapi_then_try_again(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    visitor.press_connect("Spotify")
    expect(page.get_by_text("MusicAPI simulator")).to_be_visible()
    visitor.screenshot("simulator-login")
    visitor.cancel_at_musicapi()

    visitor.expect_problem("The login didn't go through", "login_failed", TRY_AGAIN)
    expect(page.get_by_text("Nothing was connected")).to_be_visible()
    # Besides the same login again, a quieter way home.
    expect(page.get_by_role("link", name=BACK_TO_START)).to_be_visible()
    visitor.screenshot("cancelled", full_page=False)

    visitor.press_try_again()
    visitor.log_in_at_musicapi("Spotify")
    expect(visitor.banner()).to_contain_text("Connected Spotify")


def test_going_back_to_musicapi_after_a_login_says_it_is_done(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    visitor.connect("Spotify")

    page.go_back()
    visitor.log_in_at_musicapi("Spotify")
    visitor.expect_problem("This account is already connected", "already_connected", "Continue")
    visitor.screenshot("back-and-again")
    page.get_by_role("link", name="Continue").click()
    expect(visitor.account_card("Spotify")).to_be_visible()


def test_reopening_a_used_login_link_says_it_was_used(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    visitor.press_connect("Spotify")
    with page.expect_request("**/callback?*") as returned:
        visitor.log_in_at_musicapi("Spotify")
    expect(visitor.banner()).to_contain_text("Connected Spotify")

    page.goto(returned.value.url)
    visitor.expect_problem("This account is already connected", "already_connected", "Continue")
    visitor.open_start()
    visitor.disconnect("Spotify")
    page.goto(returned.value.url)
    visitor.expect_problem("This login link was already used", "flow_replayed", TRY_AGAIN)
    visitor.screenshot("used-link")
    visitor.press_try_again()
    visitor.log_in_at_musicapi("Spotify")
    expect(visitor.banner()).to_contain_text("Connected Spotify")


def test_a_login_link_opened_in_another_browser(visit: Callable[..., Visitor]) -> None:
    phone, laptop = visit(), visit()
    phone.open_start()
    phone.press_connect("Deezer")
    with phone.page.expect_request("**/callback?*") as returned:
        phone.log_in_at_musicapi("Deezer")

    laptop.page.goto(returned.value.url)
    laptop.expect_problem("This login was started in another browser", "flow_missing", BACK_TO_START)
    laptop.screenshot("other-browser")
    laptop.page.get_by_role("link", name=BACK_TO_START).click()
    expect(laptop.heading()).to_have_text("Connect your music")
    laptop.connect("Deezer")


def test_a_login_that_came_back_too_late(visitor: Visitor) -> None:
    """MusicAPI's one-time token lives one minute: a return slower than that is refused by MusicAPI."""
    page = visitor.page

    def come_back_a_minute_later(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        issued = route.fetch(max_redirects=0)  # MusicAPI issues the one-time token now...
        visitor.musicapi_clock.advance(61)  # ...and the browser only comes back with it after a minute.
        route.fulfill(response=issued)

    visitor.open_start()
    visitor.press_connect("TIDAL")
    page.route("**/auth/*/tidal/auth", come_back_a_minute_later)
    visitor.log_in_at_musicapi("TIDAL")

    visitor.expect_problem("MusicAPI did not accept the login", "upstream_refused", TRY_AGAIN)
    visitor.screenshot("too-late")
    page.unroute("**/auth/*/tidal/auth")
    visitor.press_try_again()
    visitor.log_in_at_musicapi("TIDAL")
    expect(visitor.banner()).to_contain_text("Connected TIDAL")


def test_musicapi_breaks_during_the_exchange(visitor: Visitor, simulator: Simulator) -> None:
    visitor.open_start()
    visitor.press_connect("Spotify")
    simulator.fault = "http_500"
    visitor.log_in_at_musicapi("Spotify")

    visitor.expect_problem("MusicAPI had a problem", "upstream_error", TRY_AGAIN)
    visitor.screenshot("musicapi-broke")
    simulator.fault = None
    visitor.press_try_again()
    visitor.log_in_at_musicapi("Spotify")
    expect(visitor.banner()).to_contain_text("Connected Spotify")


def test_musicapi_cannot_be_reached(visit: Callable[..., Visitor], start_app: Callable[..., GunicornApp]) -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}/api"
    app = start_app(MUSICAPI_API_URL=nobody_listens)
    visitor = visit(app.url)
    visitor.open_start()
    visitor.press_connect("Spotify")
    visitor.log_in_at_musicapi("Spotify")

    visitor.expect_problem("We couldn't reach MusicAPI", "upstream_unreachable", TRY_AGAIN)
    visitor.screenshot("unreachable")
    visitor.press_try_again()
    expect(visitor.page.get_by_role("heading", name="Log in to Spotify")).to_be_visible()


def test_a_button_left_too_long_has_expired(visitor: Visitor) -> None:
    visitor.open_start()
    # The browser forgot this site's cookies meanwhile (they expired, or were cleared).
    visitor.page.context.clear_cookies()
    visitor.press_connect("Spotify")

    visitor.expect_problem("This button has expired", "csrf_token", BACK_TO_START)
    visitor.screenshot("stale-button")
    visitor.page.get_by_role("link", name=BACK_TO_START).click()
    visitor.connect("Spotify")


def test_an_address_with_nothing_there_and_a_login_address_typed_in(visitor: Visitor) -> None:
    visitor.open("/no-such-page")
    visitor.expect_problem("This page doesn't exist", "not_found", BACK_TO_START)

    visitor.open("/connect/spotify")
    visitor.expect_problem("That doesn't work from a link", "method_not_allowed", BACK_TO_START)
    visitor.page.get_by_role("link", name=BACK_TO_START).click()
    expect(visitor.heading()).to_have_text("Connect your music")


def test_a_form_sent_to_another_name_of_the_app(visitor: Visitor) -> None:
    """The app answers forms only at PUBLIC_URL's host (127.0.0.1), not at another name of it (localhost)."""
    other_name = visitor.app_url.replace("127.0.0.1", "localhost")
    form = f'<form method="post" action="{other_name}/logout"><button>Log out</button></form>'
    visitor.page.goto("data:text/html," + quote(form))
    visitor.page.get_by_role("button", name="Log out").click()

    visitor.expect_problem("Please use this site's main address", "wrong_host", "Go to the start page")
    # It looks like the app's other pages: its stylesheet is allowed to load there.
    expect(visitor.page.locator(".btn-primary")).to_have_css("border-radius", "10px")
    visitor.page.get_by_role("link", name="Go to the start page").click()
    expect(visitor.page).to_have_url(visitor.app_url + "/")

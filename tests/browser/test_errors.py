"""Every way a return from MusicAPI can fail has its own plain page, and one obvious way to try again."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Route, expect

from callback_app.simulator import Simulator
from tests.browser.visitor import Visitor
from tests.support.servers import GunicornApp, free_port

pytestmark = pytest.mark.browser


def expect_problem(visitor: Visitor, headline: str, reference: str) -> None:
    """A plain headline, the reference code only in small print, and one obvious way to try again."""
    page = visitor.page
    expect(page.get_by_role("heading", level=1)).to_have_text(headline)
    expect(page.get_by_text(f"Reference: {reference}")).to_be_visible()
    try_again = page.get_by_role("button", name="Try again").or_(page.get_by_role("link", name="Try again"))
    expect(try_again).to_have_count(1)
    expect(try_again).to_be_visible()


def test_cancel_at_musicapi_then_try_again(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    visitor.press_connect("Spotify")
    expect(page.get_by_text("MusicAPI simulator")).to_be_visible()
    visitor.screenshot("simulator-login")
    visitor.cancel_at_musicapi()

    expect_problem(visitor, "The login was cancelled", "login_failed")
    expect(page.get_by_text("Nothing was connected")).to_be_visible()
    visitor.screenshot("cancelled", readme_name="error.png", full_page=False)

    page.get_by_role("button", name="Try again").click()
    visitor.log_in_at_musicapi("Spotify")
    expect(page.get_by_role("status")).to_contain_text("Connected Spotify")


def test_going_back_or_reopening_a_used_login_link_says_it_was_used(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    visitor.press_connect("Spotify")
    with page.expect_request("**/callback?*") as returned:
        visitor.log_in_at_musicapi("Spotify")
    expect(page.get_by_role("status")).to_contain_text("Connected Spotify")

    page.go_back()
    visitor.log_in_at_musicapi("Spotify")
    expect_problem(visitor, "This login link was already used", "flow_replayed")
    visitor.screenshot("back-and-again")

    page.goto(returned.value.url)
    expect_problem(visitor, "This login link was already used", "flow_replayed")
    page.get_by_role("link", name="Try again").click()
    expect(visitor.account_card("Spotify")).to_be_visible()


def test_a_login_link_opened_in_another_browser(visit: Callable[..., Visitor]) -> None:
    phone, laptop = visit(), visit()
    phone.open_start()
    phone.press_connect("Deezer")
    with phone.page.expect_request("**/callback?*") as returned:
        phone.log_in_at_musicapi("Deezer")

    laptop.page.goto(returned.value.url)
    expect_problem(laptop, "This login was started in another browser", "flow_missing")
    laptop.screenshot("other-browser")
    laptop.page.get_by_role("link", name="Try again").click()
    expect(laptop.page.get_by_role("heading", name="Connect your music", level=1)).to_be_visible()
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

    expect_problem(visitor, "MusicAPI did not accept the login", "upstream_refused")
    visitor.screenshot("too-late")
    page.unroute("**/auth/*/tidal/auth")
    page.get_by_role("button", name="Try again").click()
    visitor.log_in_at_musicapi("TIDAL")
    expect(page.get_by_role("status")).to_contain_text("Connected TIDAL")


def test_musicapi_breaks_during_the_exchange(visitor: Visitor, simulator: Simulator) -> None:
    visitor.open_start()
    visitor.press_connect("Spotify")
    simulator.fault = "http_500"
    visitor.log_in_at_musicapi("Spotify")

    expect_problem(visitor, "MusicAPI had a problem", "upstream_error")
    visitor.screenshot("musicapi-broke")


def test_musicapi_cannot_be_reached(visit: Callable[..., Visitor], start_app: Callable[..., GunicornApp]) -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}/api"
    app = start_app(MUSICAPI_API_URL=nobody_listens)
    visitor = visit(app.url)
    visitor.open_start()
    visitor.press_connect("Spotify")
    visitor.log_in_at_musicapi("Spotify")

    expect_problem(visitor, "We couldn't reach MusicAPI", "upstream_unreachable")
    expect(visitor.page.get_by_role("button", name="Try again")).to_be_visible()
    visitor.screenshot("unreachable")

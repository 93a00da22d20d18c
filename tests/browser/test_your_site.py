"""The app from a deployer's own site: a page on another origin of the same site (127.0.0.1, another port)
connects, reads and disconnects accounts through connect.js, in both modes, in real Chromium; a page on an
origin the app does not trust gets nothing and starts nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect

from callback_app.login.flows import FLOW_COOKIE
from tests.browser.site_page import NOTHING_CONNECTED, SitePage, YourSite
from tests.browser.visitor import Visitor

pytestmark = pytest.mark.browser

# What Playwright reports when a window is gone (closed by itself, or by the page that opened it).
POPUP_GONE = "close"
# What connect.js's attempt to read the session comes to from an origin the app does not answer.
UNREACHABLE = "Refused: network_error"
# The site's page starts a popup login as soon as it loads, once, without anyone pressing anything.
CONNECT_ON_LOAD = """
if (window.location.href === %s && !sessionStorage.getItem('asked')) {
  sessionStorage.setItem('asked', '1');
  window.addEventListener('load', () => window.CallbackApp.connect('spotify', {popup: true}));
}
"""


def refused_logout(access_line: str) -> bool:
    return "path=/logout" in access_line and "outcome=foreign_origin" in access_line


@pytest.fixture
def site_visitor(visit: Callable[..., Visitor], your_site: YourSite) -> Visitor:
    return visit(your_site.app.url)


@pytest.fixture
def site(site_visitor: Visitor, your_site: YourSite) -> SitePage:
    return SitePage(site_visitor, your_site.url)


def account_line(service: str, token_length: int) -> re.Pattern[str]:
    return re.compile(rf"^{service}: \S.* \(access token, {token_length} characters\)")


def test_connect_js_loads_from_the_app_under_its_own_headers(site: SitePage, your_site: YourSite) -> None:
    page = site.visitor.page
    with page.expect_response(f"{your_site.app.url}/connect.js") as script:
        site.open()

    headers = script.value.headers
    assert script.value.status == 200
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    assert headers["content-type"].startswith("text/javascript")
    assert "content-security-policy" in headers
    assert headers["x-content-type-options"] == "nosniff"
    assert page.evaluate("window.CallbackApp.origin") == your_site.app.url
    expect(site.accounts()).to_have_text([NOTHING_CONNECTED])
    assert site.visitor.problems == [], "the site's page met CSP errors or script errors"


def test_redirect_mode_comes_back_to_the_site_page(site: SitePage, your_site: YourSite) -> None:
    visitor = site.visitor
    site.open()
    site.connect_here("Spotify")
    visitor.log_in_at_musicapi("Spotify")

    expect(visitor.page).to_have_url(your_site.url)
    token = visitor.session()["accounts"][0]["authData"]["accessToken"]
    expect(site.accounts()).to_have_text([account_line("spotify", len(token))])
    assert token not in visitor.page.content()
    visitor.screenshot("back-on-the-site")

    visitor.open_start()
    expect(visitor.account_card("Spotify")).to_be_visible()


def test_popup_mode_resolves_with_the_new_account_and_the_popup_closes_itself(site: SitePage) -> None:
    site.open()
    popup = site.connect_in_popup("TIDAL")
    expect(popup.page.get_by_role("heading", name="Log in to TIDAL")).to_be_visible()
    site.wait_while_the_page_checks_on_the_login()
    with popup.page.expect_event(POPUP_GONE):
        popup.log_in_at_musicapi("TIDAL")

    expect(site.outcome()).to_have_text(re.compile(r"^Connected tidal as \S.*\.$"))
    token = site.visitor.session()["accounts"][0]["authData"]["accessToken"]
    expect(site.accounts()).to_have_text([account_line("tidal", len(token))])
    expect(site.visitor.page).to_have_url(site.url)
    site.visitor.screenshot("connected-in-a-popup")


def test_session_disconnect_and_logout_from_the_site(site: SitePage, site_visitor: Visitor) -> None:
    site.open()
    for service in ("Deezer", "Spotify"):
        popup = site.connect_in_popup(service)
        with popup.page.expect_event(POPUP_GONE):
            popup.log_in_at_musicapi(service)
        expect(site.outcome()).to_contain_text(f"Connected {service.lower()}")
    expect(site.accounts()).to_have_count(2)

    site.disconnect("deezer")
    expect(site.outcome()).to_have_text("Disconnected deezer.")
    expect(site.accounts()).to_have_text([re.compile(r"^spotify: ")])
    assert [account["service"] for account in site_visitor.session()["accounts"]] == ["spotify"]

    # session() reads what is true now: a change made on the app's own page shows on the next read.
    app_tab = site_visitor.in_window(site_visitor.page.context.new_page())
    app_tab.open_start()
    app_tab.connect("Deezer")
    site.read_session_again()
    expect(site.accounts()).to_have_count(2)

    site.log_out_everywhere()
    expect(site.outcome()).to_have_text("Logged out.")
    expect(site.accounts()).to_have_text([NOTHING_CONNECTED])
    app_tab.open_start()
    expect(app_tab.heading()).to_have_text("Connect your music")


def test_cancel_in_the_popup_rejects_with_login_failed(site: SitePage) -> None:
    site.open()
    popup = site.connect_in_popup("Spotify")
    expect(popup.page.get_by_role("heading", name="Log in to Spotify")).to_be_visible()
    site.wait_while_the_page_checks_on_the_login()
    with popup.page.expect_event(POPUP_GONE):
        popup.cancel_at_musicapi()

    expect(site.outcome()).to_have_text("Refused: login_failed")
    expect(site.accounts()).to_have_text([NOTHING_CONNECTED])


def test_closing_the_popup_rejects_with_popup_closed(site: SitePage) -> None:
    site.open()
    popup = site.connect_in_popup("Deezer")
    expect(popup.page.get_by_role("heading", name="Log in to Deezer")).to_be_visible()
    site.wait_while_the_page_checks_on_the_login()
    popup.page.close()

    expect(site.outcome()).to_have_text("Refused: popup_closed")
    expect(site.accounts()).to_have_text([NOTHING_CONNECTED])


def test_blocked_popups_fall_back_to_the_redirect(
    visit: Callable[..., Visitor], your_site: YourSite, browser_that_blocks_popups: Browser
) -> None:
    visitor = visit(your_site.app.url, in_browser=browser_that_blocks_popups)
    # Nobody presses anything: Chromium refuses the window, and the login happens in this one.
    visitor.page.add_init_script(CONNECT_ON_LOAD % json.dumps(your_site.url))
    visitor.page.goto(your_site.url)

    visitor.log_in_at_musicapi("Spotify")
    expect(visitor.page).to_have_url(your_site.url)
    expect(SitePage(visitor, your_site.url).accounts()).to_have_text([re.compile(r"^spotify: ")])
    assert visitor.page.context.pages == [visitor.page], "a window opened after all"


def test_a_page_the_app_does_not_trust_reads_nothing_and_starts_nothing(
    visit: Callable[..., Visitor], your_site: YourSite
) -> None:
    visitor = visit(your_site.app.url)
    visitor.open_start()
    visitor.connect("Spotify")
    name = visitor.session()["accounts"][0]["name"]

    stranger = SitePage(visitor, your_site.stranger_url)
    stranger.open()
    expect(stranger.outcome()).to_have_text(UNREACHABLE)
    expect(stranger.accounts()).to_have_count(0)
    assert name not in visitor.page.content()

    # The logout's POST reaches the app, which refuses it (the browser keeps even that from the page).
    logs = your_site.app.logs
    refused_before = sum(map(refused_logout, logs.text().splitlines()))
    stranger.log_out_everywhere()
    assert logs.wait_for(refused_logout, count=refused_before + 1)
    stranger.connect_here("Deezer")
    visitor.expect_problem("This request came from another website", "foreign_origin", "Back to start")
    visitor.screenshot("foreign-origin")
    cookies = {cookie["name"] for cookie in visitor.page.context.cookies()}
    assert FLOW_COOKIE not in cookies

    # Nothing changed: the account is still there, and no login was started.
    assert [account["service"] for account in visitor.session()["accounts"]] == ["spotify"]

"""Developer material stays off the listeners' pages: the /developers page exists only in development
(the simulator) or when the deployer asks for it, and shows what a token is like, never the token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.browser.visitor import Visitor
from tests.support.servers import GunicornApp

pytestmark = pytest.mark.browser

FOR_DEVELOPERS = "For developers"


def test_listeners_see_no_developer_link_and_there_is_no_developer_page(visitor: Visitor) -> None:
    visitor.open_start()
    visitor.connect("Spotify")
    expect(visitor.page.get_by_role("contentinfo")).to_be_visible()
    expect(visitor.page.get_by_role("link", name=FOR_DEVELOPERS)).to_have_count(0)

    response = visitor.open("/developers")
    assert response is not None
    assert response.status == 404
    expect(visitor.heading()).to_have_text("This page doesn't exist")


def test_with_the_simulator_on_the_footer_links_to_the_developer_page(
    visit: Callable[..., Visitor], start_app: Callable[..., GunicornApp]
) -> None:
    app = start_app(MUSICAPI_SIMULATOR="1")
    visitor = visit(app.url)
    visitor.open_start()

    visitor.page.get_by_role("contentinfo").get_by_role("link", name=FOR_DEVELOPERS).click()
    expect(visitor.heading()).to_have_text("Use the connection from your pages")


def test_the_developer_page_shows_how_long_a_token_is_and_when_it_expires(
    visit: Callable[..., Visitor], developer_app: GunicornApp
) -> None:
    visitor = visit(developer_app.url)
    page = visitor.page
    visitor.open("/developers")
    demo = page.get_by_role("region", name="Live demo")
    expect(demo).to_contain_text("Nothing connected")

    visitor.open_start()
    visitor.connect("Spotify")
    page.get_by_role("contentinfo").get_by_role("link", name=FOR_DEVELOPERS).click()

    expect(visitor.heading()).to_have_text("Use the connection from your pages")
    item = demo.get_by_role("listitem")
    expect(item).to_have_count(1)
    account = visitor.session()["accounts"][0]
    token = account["authData"]["accessToken"]
    # The browser's clock is set to UTC; English pages tell the time on a 12-hour clock.
    expires = datetime.fromtimestamp(account["expiresAt"] / 1000, UTC).strftime("%I:%M %p")
    expect(item.locator(".demo-service")).to_have_text("spotify")
    expect(item.locator(".demo-token")).to_have_text(f"Access token length: {len(token)}")
    expect(item.locator(".demo-expiry")).to_have_text(f"Expires at {expires}")
    visitor.screenshot("developers")
    # Not the token, nor its first characters (which would help anyone looking over a shoulder).
    assert token[:8] not in page.content()
    assert token[:8] not in visitor.visible_text()

    page.get_by_role("button", name="Check again").click()
    expect(item).to_have_count(1)

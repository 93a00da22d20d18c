"""The quality bar on every page: accessible (axe-core), light and dark, 320 px to desktop, small and self-contained."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.visitor import AVATAR_ORIGIN, Visitor
from tests.support.servers import ThreadedServer

pytestmark = pytest.mark.browser

MAX_PAGE_BYTES = 50 * 1024
NARROW_PHONE = {"width": 320, "height": 640}
DESKTOP = {"width": 1280, "height": 800}


def tour(visitor: Visitor, at_each_page: Callable[[str], None]) -> None:
    """Every page a person meets on the way: empty start, MusicAPI's pages, an error, connected, developers."""
    page = visitor.page
    visitor.open_start()
    at_each_page("landing-empty")

    visitor.press_connect("Spotify")
    expect(page.get_by_role("heading", name="Log in to Spotify")).to_be_visible()
    at_each_page("simulator-login")

    visitor.cancel_at_musicapi()
    expect(page.get_by_role("heading", name="The login was cancelled")).to_be_visible()
    at_each_page("error")

    page.get_by_role("button", name="Try again").click()
    visitor.log_in_at_musicapi("Spotify")
    expect(page.get_by_role("status")).to_contain_text("Connected Spotify")
    at_each_page("landing-connected")

    page.get_by_role("button", name="Any service").click()
    expect(page.get_by_role("heading", name="Connect your music account")).to_be_visible()
    at_each_page("simulator-chooser")

    visitor.open("/developers")
    expect(page.get_by_role("region", name="Live demo").get_by_role("listitem")).to_have_count(1)
    at_each_page("developers")

    visitor.open("/no-such-page")
    expect(page.get_by_role("heading", name="There is nothing at this address")).to_be_visible()
    at_each_page("not-found")


# What the page and everything it loaded weigh, uncompressed (the profile picture aside: it is not ours).
PAGE_WEIGHT = """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
    .reduce((total, entry) => total + entry.decodedBodySize, 0)"""
INLINE_CODE = "[...document.querySelectorAll('[style], style, script:not([src])')].map(e => e.outerHTML.slice(0, 80))"
SIDEWAYS_SCROLL = "document.documentElement.scrollWidth - window.innerWidth"
# Mean of the red, green and blue channels of a computed colour, 0 (black) to 255 (white).
BRIGHTNESS = "color => color.match(/\\d+/g).slice(0, 3).reduce((sum, part) => sum + Number(part), 0) / 3"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_every_page_is_accessible_small_and_self_contained(visitor: Visitor, musicapi: ThreadedServer) -> None:
    requested: list[str] = []
    visitor.page.on("request", lambda request: requested.append(request.url))
    findings: dict[str, list[str]] = {}

    def check(name: str) -> None:
        problems = []
        # First: screenshots and axe-core add styles of their own.
        if inline := visitor.page.evaluate(INLINE_CODE):
            problems.append(f"inline styles or scripts (the CSP blocks them): {inline}")
        visitor.screenshot(name, full_page=False)
        problems += visitor.markup_problems()
        problems += visitor.accessibility_violations()
        if (weight := visitor.page.evaluate(PAGE_WEIGHT)) >= MAX_PAGE_BYTES:
            problems.append(f"weighs {weight} bytes")
        problems += [f"broken image {source}" for source in visitor.broken_images()]
        if problems:
            findings[name] = problems

    tour(visitor, check)

    assert findings == {}
    assert {origin(url) for url in requested} <= {visitor.app_url, musicapi.url, AVATAR_ORIGIN}


def test_every_page_in_dark_mode_on_a_320px_phone(visit: Callable[..., Visitor]) -> None:
    visitor = visit(color_scheme="dark", viewport=NARROW_PHONE)
    findings: dict[str, list[str]] = {}

    def check(name: str) -> None:
        visitor.screenshot(name)
        problems = visitor.accessibility_violations()
        if (overflow := visitor.page.evaluate(SIDEWAYS_SCROLL)) > 0:
            problems.append(f"scrolls sideways by {overflow} px")
        body = visitor.page.locator("body")
        background = body.evaluate(f"body => ({BRIGHTNESS})(getComputedStyle(body).backgroundColor)")
        text = body.evaluate(f"body => ({BRIGHTNESS})(getComputedStyle(body).color)")
        if background > 60 or text < 190:
            problems.append(f"not dark: background {background:.0f}, text {text:.0f}")
        if problems:
            findings[name] = problems

    tour(visitor, check)

    assert findings == {}


def test_every_page_on_a_desktop(visit: Callable[..., Visitor]) -> None:
    visitor = visit(viewport=DESKTOP)
    too_wide: dict[str, int] = {}

    def check(name: str) -> None:
        visitor.screenshot(name)
        if (overflow := visitor.page.evaluate(SIDEWAYS_SCROLL)) > 0:
            too_wide[name] = overflow

    tour(visitor, check)

    assert too_wide == {}

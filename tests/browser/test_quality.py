"""The quality bar on every page: accessible (axe-core), light and dark, 320 px to desktop, small and
self-contained, in English, in German (long words) and in Arabic (right to left); badges a person tells apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import FloatRect, Locator, expect

from callback_app.musicapi.protocol import SERVICE_NAMES
from tests.browser.visitor import AVATAR_ORIGIN, Visitor
from tests.support.servers import GunicornApp, ThreadedServer

pytestmark = pytest.mark.browser

MAX_PAGE_BYTES = 50 * 1024
NARROW_PHONE = {"width": 320, "height": 640}
DESKTOP = {"width": 1280, "height": 800}


def tour(visitor: Visitor, at_each_page: Callable[[str], None], *, musicapi_pages: bool = True) -> None:
    """Every page a person meets on the way: empty start, MusicAPI's pages, an error, connected, developers.

    MusicAPI's pages are the same in every language: ``musicapi_pages=False`` passes them by.
    """
    page, words = visitor.page, visitor.words
    visitor.open_start()
    at_each_page("landing-empty")

    visitor.press_connect("Spotify")
    expect(page.get_by_role("heading", name="Log in to Spotify")).to_be_visible()
    if musicapi_pages:
        at_each_page("simulator-login")

    visitor.cancel_at_musicapi()
    expect(visitor.heading()).to_have_text(words("The login didn't go through"))
    at_each_page("error")

    visitor.press_try_again()
    visitor.log_in_at_musicapi("Spotify")
    expect(visitor.banner()).to_contain_text(words.pattern("Connected %(service)s as %(name)s.", service="Spotify"))
    at_each_page("landing-connected")

    visitor.press_any_service()
    expect(page.get_by_role("heading", name="Connect your music account")).to_be_visible()
    if musicapi_pages:
        at_each_page("simulator-chooser")

    visitor.open("/developers")
    expect(page.get_by_role("region", name=words("Live demo")).get_by_role("listitem")).to_have_count(1)
    at_each_page("developers")

    visitor.open("/no-such-page")
    expect(visitor.heading()).to_have_text(words("This page doesn't exist"))
    at_each_page("not-found")


# What the page and everything it loaded weigh, uncompressed (the profile picture aside: it is not ours).
PAGE_WEIGHT = """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
    .reduce((total, entry) => total + entry.decodedBodySize, 0)"""
INLINE_CODE = "[...document.querySelectorAll('[style], style, script:not([src])')].map(e => e.outerHTML.slice(0, 80))"
SIDEWAYS_SCROLL = "document.documentElement.scrollWidth - window.innerWidth"
# Text a person cannot read in full: it runs past the window's edges, or past a box that cuts it off.
# Boxes that scroll (code samples) can be read; text hidden on purpose (for screen readers) is clipped away.
TEXT_CUT_OFF = """() => {
  const cut = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) { continue; }
    let bounds = {left: 0, right: document.documentElement.clientWidth};
    for (let box = node.parentElement; box && bounds; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (style.clip !== 'auto' || ['auto', 'scroll'].includes(style.overflowX)) {
        bounds = null;
      } else if (style.overflowX !== 'visible') {
        bounds = box.getBoundingClientRect();
        break;
      }
    }
    const range = document.createRange();
    range.selectNodeContents(node);
    const outside = rect => rect.width > 0 && (rect.left < bounds.left - 0.5 || rect.right > bounds.right + 0.5);
    if (bounds && [...range.getClientRects()].some(outside)) {
      cut.push(node.textContent.trim().slice(0, 40));
    }
  }
  return cut;
}"""
# Mean of the red, green and blue channels of a computed colour, 0 (black) to 255 (white).
BRIGHTNESS = "color => color.match(/\\d+/g).slice(0, 3).reduce((sum, part) => sum + Number(part), 0) / 3"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def layout_problems(visitor: Visitor) -> list[str]:
    """The page does not fit the window: it scrolls sideways, or some of its text is cut off."""
    problems = []
    if (overflow := visitor.page.evaluate(SIDEWAYS_SCROLL)) > 0:
        problems.append(f"scrolls sideways by {overflow} px")
    problems += [f"cut off: {text}" for text in visitor.page.evaluate(TEXT_CUT_OFF)]
    return problems


def test_every_page_is_accessible_small_and_self_contained(
    visit: Callable[..., Visitor], developer_app: GunicornApp, musicapi: ThreadedServer
) -> None:
    visitor = visit(developer_app.url)
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


def test_every_page_in_dark_mode_on_a_320px_phone(visit: Callable[..., Visitor], developer_app: GunicornApp) -> None:
    visitor = visit(developer_app.url, color_scheme="dark", viewport=NARROW_PHONE)
    findings: dict[str, list[str]] = {}

    def check(name: str) -> None:
        visitor.screenshot(name)
        problems = visitor.accessibility_violations() + layout_problems(visitor)
        body = visitor.page.locator("body")
        background = body.evaluate(f"body => ({BRIGHTNESS})(getComputedStyle(body).backgroundColor)")
        text = body.evaluate(f"body => ({BRIGHTNESS})(getComputedStyle(body).color)")
        if background > 60 or text < 190:
            problems.append(f"not dark: background {background:.0f}, text {text:.0f}")
        if problems:
            findings[name] = problems

    tour(visitor, check)

    assert findings == {}


def test_every_page_on_a_desktop(visit: Callable[..., Visitor], developer_app: GunicornApp) -> None:
    visitor = visit(developer_app.url, viewport=DESKTOP)
    findings: dict[str, list[str]] = {}

    def check(name: str) -> None:
        visitor.screenshot(name)
        if problems := layout_problems(visitor):
            findings[name] = problems

    tour(visitor, check)

    assert findings == {}


def test_every_page_in_german_on_a_320px_phone(visit: Callable[..., Visitor], developer_app: GunicornApp) -> None:
    """German's long compound words wrap: nothing runs off a small screen."""
    visitor = visit(developer_app.url, language="de", viewport=NARROW_PHONE)
    findings: dict[str, list[str]] = {}

    def check(name: str) -> None:
        visitor.screenshot(name)
        problems = visitor.accessibility_violations() + layout_problems(visitor)
        if problems:
            findings[name] = problems

    tour(visitor, check, musicapi_pages=False)

    assert findings == {}


# Where a block's text ends on the right (its text, not its box, which spans the column either way).
TEXT_RIGHT_EDGE = """element => {
  const range = document.createRange();
  range.selectNodeContents(element);
  return range.getBoundingClientRect().right;
}"""


def box(locator: Locator) -> FloatRect:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not on the page"
    return found


def test_every_page_in_arabic_reads_right_to_left(visit: Callable[..., Visitor], developer_app: GunicornApp) -> None:
    visitor = visit(developer_app.url, language="ar")
    page, words = visitor.page, visitor.words
    findings: dict[str, list[str]] = {}

    def check(name: str) -> None:
        visitor.screenshot(name)
        problems = visitor.accessibility_violations() + layout_problems(visitor)
        if page.locator("html").get_attribute("dir") != "rtl":
            problems.append("not right to left")
        if problems:
            findings[name] = problems

    tour(visitor, check, musicapi_pages=False)
    assert findings == {}

    # The layout mirrors: what sits on the left in English sits on the right.
    visitor.open_start()
    viewport = page.viewport_size
    assert viewport is not None
    width = viewport["width"]
    brand = box(page.get_by_role("banner").get_by_role("link", name=words("Music Connect")))
    log_out = box(visitor.log_out_button())
    assert brand["x"] > log_out["x"], "the app's name should be on the right, Log out on the left"
    assert brand["x"] + brand["width"] > width * 0.8
    card = visitor.account_card("Spotify")
    avatar, name = box(card.locator(".avatar")), box(card.locator(".account-name"))
    assert avatar["x"] > name["x"], "the picture should be right of the name"
    button = visitor.connect_button("Deezer")
    badge, label = box(button.locator("img")), box(button.locator(".btn-label"))
    assert badge["x"] > label["x"], "the badge should be right of the label"
    heading = page.get_by_role("heading", name=words("Connected accounts"))
    text_end = heading.evaluate(TEXT_RIGHT_EDGE)
    assert text_end == pytest.approx(box(heading)["x"] + box(heading)["width"], abs=1)


def badge_look(locator: Locator) -> dict[str, Any]:
    """The colour and letters of a service badge, as the browser loaded its SVG."""
    look: dict[str, Any] = locator.evaluate(
        """async image => {
          const svg = new DOMParser().parseFromString(await (await fetch(image.src)).text(), 'image/svg+xml');
          const text = svg.querySelector('text');
          return {fill: svg.querySelector('rect').getAttribute('fill').toLowerCase(),
                  monogram: text ? text.textContent : ''};
        }"""
    )
    return look


def test_every_service_has_a_badge_of_its_own_and_the_app_has_an_icon(visitor: Visitor) -> None:
    visitor.open_start()
    looks: dict[str, dict[str, Any]] = {}
    pictures: dict[str, bytes] = {}
    for name in SERVICE_NAMES.values():
        badge = visitor.connect_button(name).locator("img")
        looks[name] = badge_look(badge)
        pictures[name] = badge.screenshot(animations="disabled")

    fills = {look["fill"] for look in looks.values()}
    monograms = {look["monogram"] for look in looks.values()}
    assert len(fills) == len(SERVICE_NAMES), looks
    assert len(monograms) == len(SERVICE_NAMES), looks
    assert all(re.fullmatch(r"[A-Z][a-z]", monogram) for monogram in monograms), monograms
    assert len(set(pictures.values())) == len(SERVICE_NAMES), "two badges look the same on screen"

    icon = visitor.page.context.request.get(visitor.app_url + "/favicon.ico")
    assert icon.status == 200
    assert icon.headers["content-type"] in ("image/vnd.microsoft.icon", "image/x-icon")
    expect(visitor.page.locator('link[rel="icon"][href="/favicon.ico"]')).to_have_count(1)

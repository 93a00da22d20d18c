"""Browser fixtures: Debian's Chromium through Playwright, and visitors who click through the real pages.

The app runs under gunicorn exactly as deployed (``app_server``); MusicAPI is the simulator, whose HTML
login pages the browser really visits. Every test saves screenshots under ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType

from callback_app.i18n import BY_CODE
from tests.browser.site_page import LateSite, YourSite, example_site
from tests.browser.visitor import Visitor, route_avatars
from tests.browser.words import Words
from tests.support.clock import FakeClock
from tests.support.servers import GunicornApp, ThreadedServer

PHONE = {"width": 390, "height": 844}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
]
# What a browser set to each language asks for: a regional tag, as people's browsers send it.
BROWSER_LOCALES = {
    "en": "en-GB",
    "de": "de-DE",
    "fr": "fr-FR",
    "es": "es-ES",
    "pt_BR": "pt-BR",
    "pl": "pl-PL",
    "ja": "ja-JP",
    "ar": "ar-EG",
}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, never a downloaded browser."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    """A phone-sized window, the way most people see these pages."""
    return {
        "viewport": PHONE,
        "device_scale_factor": 1,
        "locale": BROWSER_LOCALES["en"],
        "timezone_id": "UTC",
        "reduced_motion": "reduce",
    }


@pytest.fixture(scope="session")
def browser_that_blocks_popups(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any]
) -> Iterator[Browser]:
    """Chromium as people run it: a window a page opens without being clicked is blocked.

    Playwright turns Chromium's popup blocker off; this browser keeps it on.
    """
    browser = browser_type.launch(**browser_type_launch_args, ignore_default_args=["--disable-popup-blocking"])
    yield browser
    browser.close()


@pytest.fixture
def visit(
    browser: Browser,
    browser_context_args: dict[str, Any],
    app_server: GunicornApp,
    musicapi_clock: FakeClock,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Visitor]]:
    """Open a browser (a fresh context: its own cookies) as a visitor of ``app_url`` (default: the app).

    ``language`` (a code of callback_app.i18n, "pl") sets the browser's locale, so its Accept-Language;
    ``in_browser`` another Browser; ``context_args`` override the phone defaults: ``color_scheme="dark"``,
    ``viewport={...}``.
    """
    contexts: list[BrowserContext] = []
    visitors: list[Visitor] = []
    test_name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name.removeprefix("test_")).strip("-")

    def open_browser(
        app_url: str | None = None, *, language: str = "en", in_browser: Browser | None = None, **context_args: Any
    ) -> Visitor:
        assert language in BY_CODE, language
        settings = {**browser_context_args, "locale": BROWSER_LOCALES[language], **context_args}
        context = (in_browser or browser).new_context(**settings)
        contexts.append(context)
        context.set_default_timeout(10_000)
        route_avatars(context)
        name = test_name if not visitors else f"{test_name}-{len(visitors) + 1}"
        visitor = Visitor(context.new_page(), app_url or app_server.url, musicapi_clock, name, Words(language))
        visitors.append(visitor)
        return visitor

    yield open_browser
    for context in contexts:
        context.close()
    for visitor in visitors:
        assert not visitor.problems, visitor.problems


@pytest.fixture
def visitor(visit: Callable[..., Visitor]) -> Visitor:
    return visit()


@pytest.fixture(scope="session")
def developer_app(start_app: Callable[..., GunicornApp]) -> GunicornApp:
    """The app with its developers' page on, as a deployer may choose (DEVELOPER_PAGE=1)."""
    return start_app(DEVELOPER_PAGE="1")


@pytest.fixture(scope="session")
def your_site(start_app: Callable[..., GunicornApp]) -> Iterator[YourSite]:
    """The example site on its own origin, and the app (under gunicorn) that trusts it."""
    allowed, stranger = LateSite(), LateSite()
    allowed_server, stranger_server = ThreadedServer(allowed), ThreadedServer(stranger)
    app = start_app(ALLOWED_ORIGINS=allowed_server.url)
    allowed.serve = stranger.serve = example_site(app.url, app.environ["MUSICAPI_AUTH_URL"])
    yield YourSite(app, f"{allowed_server.url}/", f"{stranger_server.url}/")
    allowed_server.close()
    stranger_server.close()

"""Browser fixtures: Debian's Chromium through Playwright, and visitors who click through the real pages.

The app runs under gunicorn exactly as deployed (``app_server``); MusicAPI is the simulator, whose HTML
login pages the browser really visits. Every test saves screenshots under ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.browser.visitor import Visitor, route_avatars
from tests.support.clock import FakeClock
from tests.support.servers import GunicornApp

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
        "locale": "en-GB",
        "timezone_id": "UTC",
        "reduced_motion": "reduce",
    }


@pytest.fixture
def visit(
    browser: Browser,
    browser_context_args: dict[str, Any],
    app_server: GunicornApp,
    musicapi_clock: FakeClock,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Visitor]]:
    """Open a browser (a fresh context: its own cookies) as a visitor of ``app_url`` (default: the app).

    ``context_args`` override the phone defaults: ``color_scheme="dark"``, ``viewport={...}``.
    """
    contexts: list[BrowserContext] = []
    visitors: list[Visitor] = []
    test_name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name.removeprefix("test_")).strip("-")

    def open_browser(app_url: str | None = None, **context_args: Any) -> Visitor:
        context = browser.new_context(**{**browser_context_args, **context_args})
        contexts.append(context)
        context.set_default_timeout(10_000)
        route_avatars(context)
        name = test_name if not visitors else f"{test_name}-{len(visitors) + 1}"
        visitor = Visitor(context.new_page(), app_url or app_server.url, musicapi_clock, name)
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

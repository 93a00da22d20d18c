"""The deployer's own site (examples/your-site) beside the app, and its page as a visitor uses it."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Locator, Response, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.visitor import Visitor
from tests.support.servers import ROOT, GunicornApp

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

NOTHING_CONNECTED = "Nothing connected yet."
# connect.js asks the app how a popup login is going (GET /api/attempts/<id>) while the popup is open.
ATTEMPT_CHECK = re.compile(r"/api/attempts/[^/?]+$")
CHECKS_WHILE_READING = 2
# It asks about twice a second; a page that stopped asking has given up on the popup.
CHECK_TIMEOUT_MS = 5000


class LateSite:
    """A WSGI app that learns what to serve later: the site needs the app's address, the app the site's."""

    def __init__(self) -> None:
        self.serve: WsgiApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        assert self.serve is not None, "the site was asked for a page before the app was up"
        return self.serve(environ, start_response)


def example_site(app_url: str, musicapi_auth_url: str) -> WsgiApp:
    """examples/your-site/serve.py's page, using the app at ``app_url`` and its MusicAPI's login pages."""
    spec = importlib.util.spec_from_file_location("your_site_serve", ROOT / "examples" / "your-site" / "serve.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    site: WsgiApp = module.site(app_url, musicapi_auth_url)
    return site


@dataclass(frozen=True)
class YourSite:
    """A deployer's site beside the app: the same site (127.0.0.1), other origins (other ports)."""

    app: GunicornApp
    url: str
    # The same page on an origin of the same site that ALLOWED_ORIGINS does not name.
    stranger_url: str


@dataclass
class SitePage:
    """One visitor on the site's page at ``url``, which uses the app through connect.js."""

    visitor: Visitor
    url: str

    def open(self) -> Response | None:
        response = self.visitor.page.goto(self.url)
        expect(self.visitor.page.get_by_role("heading", name="Your site", level=1)).to_be_visible()
        return response

    def choose(self, service_name: str) -> None:
        self.visitor.page.get_by_label("Service").select_option(label=service_name)

    def connect_here(self, service_name: str) -> None:
        """The redirect mode: this window leaves for the login and comes back to this page."""
        self.choose(service_name)
        self.visitor.page.get_by_role("button", name="Connect here (redirect)").click()

    def connect_in_popup(self, service_name: str) -> Visitor:
        """The popup mode: the login opens in a window of its own; the visitor continues there."""
        self.choose(service_name)
        with self.visitor.page.expect_popup() as popup:
            self.visitor.page.get_by_role("button", name="Connect in a popup").click()
        return self.visitor.in_window(popup.value)

    def wait_while_the_page_checks_on_the_login(self) -> None:
        """The person takes their time on MusicAPI's page: meanwhile the site's page keeps asking the app."""
        page = self.visitor.page
        try:
            for _ in range(CHECKS_WHILE_READING):
                with page.expect_request(ATTEMPT_CHECK, timeout=CHECK_TIMEOUT_MS):
                    pass
        except PlaywrightTimeout:
            pytest.fail(f"the site's page stopped waiting for the popup login: {self.outcome().text_content()!r}")

    def read_session_again(self) -> None:
        self.visitor.page.get_by_role("button", name="Read the session again").click()

    def disconnect(self, service: str) -> None:
        self.visitor.page.get_by_role("button", name=f"Disconnect {service}").click()

    def log_out_everywhere(self) -> None:
        self.visitor.page.get_by_role("button", name="Log out everywhere").click()

    def outcome(self) -> Locator:
        """What connect.js's promise ended with, as the page says it."""
        return self.visitor.page.get_by_role("status")

    def accounts(self) -> Locator:
        """The page's list of what session() returned."""
        return self.visitor.page.get_by_role("region", name="Connected accounts").get_by_role("listitem")

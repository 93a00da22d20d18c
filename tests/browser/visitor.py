"""A person in a browser: methods read like what they do on the pages, and what the tests check there."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, Response, Route, expect

from tests.browser.markup import markup_problems
from tests.support.clock import FakeClock
from tests.support.servers import ROOT

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
README_SCREENSHOTS = ROOT / "docs" / "screenshots"
# The README's screenshots are tracked files: only `make screenshots` rewrites them, not every test run.
UPDATE_README_SCREENSHOTS = os.environ.get("UPDATE_README_SCREENSHOTS") == "1"
# Profile pictures live on the simulator's made-up CDN; the browser gets this local stand-in instead.
AVATAR_ORIGIN = "https://cdn.simulator.musicapi.example"
AVATAR_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48">'
    '<rect width="48" height="48" fill="#c7d2fe"/><circle cx="24" cy="19" r="9" fill="#4338ca"/>'
    '<path d="M7 46c2-10 9-15 17-15s15 5 17 15z" fill="#4338ca"/></svg>'
)
SERIOUS = ("serious", "critical")
ASSET_TYPES = {"stylesheet", "script", "image", "font"}


@dataclass
class Visitor:
    """One person in one browser: methods read like what they do and see."""

    page: Page
    app_url: str
    musicapi_clock: FakeClock
    name: str
    problems: list[str] = field(default_factory=list)
    documents: list[Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("response", self._response)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def _response(self, response: Response) -> None:
        if response.request.resource_type in ASSET_TYPES and response.status >= 400:
            self.problems.append(f"missing asset: {response.status} for {response.url}")
        elif response.request.is_navigation_request() and not 300 <= response.status < 400:
            self.documents.append(response)

    def _console(self, message: ConsoleMessage) -> None:
        # The CSP refusing a style or script shows only here (error pages opened on purpose do not count).
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.problems.append(f"console: {text}")

    # Going places

    def open_start(self) -> None:
        self.page.goto(self.app_url + "/")
        expect(self.page.get_by_role("heading", level=1)).to_be_visible()

    def open(self, path: str) -> None:
        self.page.goto(self.app_url + path)

    # The connect flow, by clicking

    def press_connect(self, service_name: str) -> None:
        self.page.get_by_role("button", name=f"Connect {service_name}").click()

    def log_in_at_musicapi(self, service_name: str, account: str = "ada") -> None:
        page = self.page
        expect(page.get_by_role("heading", name=f"Log in to {service_name}")).to_be_visible()
        page.get_by_label("Simulated account").fill(account)
        page.get_by_role("button", name=f"Log in to {service_name}").click()

    def cancel_at_musicapi(self) -> None:
        self.page.get_by_role("button", name="Cancel").click()

    def connect(self, service_name: str, account: str = "ada") -> None:
        """Press the service's button, log in on MusicAPI's page, and come back connected."""
        self.press_connect(service_name)
        self.log_in_at_musicapi(service_name, account)
        expect(self.page.get_by_role("status")).to_contain_text(f"Connected {service_name}")

    def account_card(self, service_name: str) -> Locator:
        accounts = self.page.get_by_role("region", name="Connected accounts")
        return accounts.get_by_role("listitem").filter(has_text=service_name)

    # Evidence

    def broken_images(self) -> list[str]:
        """Pictures that did not load (profile pictures and service badges alike).

        Waits until every picture has finished loading or failing: a swapped-in badge may still be on its way.
        """
        self.page.wait_for_function("() => Array.from(document.images).every(image => image.complete)")
        broken: list[str] = self.page.locator("img").evaluate_all(
            "images => images.filter(image => !image.complete || image.naturalWidth === 0).map(image => image.src)"
        )
        return broken

    def screenshot(self, name: str, *, readme_name: str | None = None, full_page: bool = True) -> Path:
        """Save what the person sees; ``readme_name`` also saves the first screenful to docs/screenshots
        when UPDATE_README_SCREENSHOTS=1 (``make screenshots``)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
        if readme_name is not None and UPDATE_README_SCREENSHOTS:
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(README_SCREENSHOTS / readme_name), animations="disabled", caret="hide")
        return path

    def markup_problems(self) -> list[str]:
        """What is wrong with the HTML the server sent for the current page (not the browser's repaired DOM)."""
        return markup_problems(self.documents[-1].text())

    def accessibility_violations(self) -> list[str]:
        """Serious and critical axe-core findings on the current page, one readable line each."""
        results = Axe().run(self.page)
        return [
            f"{violation['id']} ({violation['impact']}): {violation['help']} -> "
            + ", ".join(str(node["target"]) for node in violation["nodes"])
            for violation in results.response["violations"]
            if violation["impact"] in SERIOUS
        ]


def route_avatars(context: BrowserContext) -> None:
    def avatar(route: Route) -> None:
        route.fulfill(status=200, content_type="image/svg+xml", body=AVATAR_SVG)

    context.route(f"{AVATAR_ORIGIN}/**", avatar)

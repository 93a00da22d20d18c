"""A person in a browser: methods read like what they do on the pages, and what the tests check there."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, Response, Route, expect

from tests.browser.markup import markup_problems
from tests.browser.words import IN_ENGLISH, Words
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
# Runs after the page's own submit handling (window is the last stop of a bubbling event): counts the
# submissions the page let through, then keeps the browser here, as if the network were very slow.
HOLD_SUBMISSIONS = """() => {
  window.sentForms = 0;
  window.addEventListener('submit', event => {
    if (!event.defaultPrevented) { window.sentForms += 1; }
    event.preventDefault();
  });
}"""
# Words a person meets without reading the page's text: names of controls, labels a script shows later.
UNSEEN_WORDS = """() => {
  const named = ['aria-label', 'alt', 'title', 'placeholder'];
  const elements = [...document.querySelectorAll('*')];
  return [
    document.title,
    ...elements.flatMap(element => named.map(name => element.getAttribute(name))),
    ...elements.flatMap(element => Object.values(element.dataset)),
  ].filter(Boolean).join('\\n');
}"""


@dataclass
class Visitor:
    """One person in one browser window: methods read like what they do and see, in their language."""

    page: Page
    app_url: str
    musicapi_clock: FakeClock
    name: str
    words: Words = IN_ENGLISH
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

    def in_window(self, page: Page) -> Visitor:
        """The same person in another window (a popup a page opened, a second tab); its problems count too."""
        return Visitor(page, self.app_url, self.musicapi_clock, f"{self.name}-window", self.words, self.problems)

    # Going places

    def open_start(self) -> None:
        self.page.goto(self.app_url + "/")
        expect(self.page.get_by_role("heading", level=1)).to_be_visible()

    def open(self, path: str) -> Response | None:
        return self.page.goto(self.app_url + path)

    def choose_language(self, name: str) -> None:
        """Pick a language by its own name ("Deutsch") in the footer's switch."""
        self.page.get_by_role("navigation", name=self.words("Language")).get_by_role("link", name=name).click()

    # The connect flow, by clicking

    def connect_button(self, service_name: str) -> Locator:
        return self.page.get_by_role("button", name=self.words("Connect %(service)s", service=service_name), exact=True)

    def press_connect(self, service_name: str) -> None:
        self.connect_button(service_name).click()

    def press_any_service(self) -> None:
        self.page.get_by_role("button", name=self.words("Any service: choose on MusicAPI")).click()

    def press_try_again(self) -> None:
        self.page.get_by_role("button", name=self.words("Try again")).click()

    def log_in_at_musicapi(self, service_name: str, account: str = "ada") -> None:
        """MusicAPI's own pages are in English, whatever language this app speaks."""
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
        expect(self.banner()).to_contain_text(
            self.words.pattern("Connected %(service)s as %(name)s.", service=service_name)
        )

    def disconnect(self, service_name: str) -> None:
        disconnect = self.words("Disconnect")
        self.account_card(service_name).get_by_role("button", name=f"{disconnect} {service_name}").click()

    def log_out(self) -> None:
        self.log_out_button().click()

    # What the pages show

    def banner(self) -> Locator:
        """What just happened, said at the top of the start page."""
        return self.page.get_by_role("status")

    def log_out_button(self) -> Locator:
        return self.page.get_by_role("banner").get_by_role("button", name=self.words("Log out"))

    def accounts(self) -> Locator:
        return self.page.get_by_role("region", name=self.words("Connected accounts"))

    def account_card(self, service_name: str) -> Locator:
        return self.accounts().get_by_role("listitem").filter(has_text=service_name)

    def offered(self) -> Locator:
        """The section offering services to connect (all of them, or those not connected yet)."""
        headings = (self.words("Connect another service"), self.words("Choose your service"))
        either = "|".join(f"^{re.escape(heading)}$" for heading in headings)
        return self.page.get_by_role("region", name=re.compile(either))

    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    def session(self) -> dict[str, Any]:
        """What /api/session says for this browser (its cookies), as a page of the app would read it."""
        response = self.page.context.request.get(self.app_url + "/api/session")
        body: dict[str, Any] = response.json()
        return body

    # Evidence

    def expect_problem(self, headline: str, reference: str, action: str) -> None:
        """An error page: a plain headline, the reference code in small print, and one obvious thing to do."""
        expect(self.heading()).to_have_text(headline)
        expect(self.page.get_by_text(f"{self.words('Reference code:')} {reference}")).to_be_visible()
        primary = self.page.locator(".btn-primary")
        expect(primary).to_have_count(1)
        expect(primary).to_be_visible()
        expect(primary).to_have_accessible_name(action)

    def visible_text(self) -> str:
        """Every word of the current page a person may meet: its text, title, control names and script labels."""
        text: str = self.page.locator("body").inner_text()
        unseen: str = self.page.evaluate(UNSEEN_WORDS)
        return f"{text}\n{unseen}"

    def english_left(self) -> list[str]:
        """English texts of the catalog on the current page, which this visitor's language says differently."""
        return self.words.english_left_in(self.visible_text())

    def hold_submissions(self) -> None:
        """From now on, this page's forms stay here as if the network were very slow; ``sent_forms`` counts them."""
        self.page.evaluate(HOLD_SUBMISSIONS)

    def sent_forms(self) -> int:
        sent: int = self.page.evaluate("window.sentForms")
        return sent

    def broken_images(self) -> list[str]:
        """Pictures that did not load (profile pictures and service badges alike).

        Waits until every picture has finished loading or failing; a failed profile picture is swapped
        for its badge in the same moment, so that one is seen loading.
        """
        images = self.page.locator("img")
        for image in images.all():
            expect(image).to_have_js_property("complete", True)
        broken: list[str] = images.evaluate_all(
            "images => images.filter(image => image.naturalWidth === 0).map(image => image.src)"
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

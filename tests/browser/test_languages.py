"""Listeners in Warsaw, São Paulo, Riyadh and Tokyo: the pages speak the browser's language, a visible switch
changes it for good, and a whole login (cancel and retry included) meets no English on the app's pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from callback_app.i18n import LANGUAGES, Language
from tests.browser.visitor import Visitor
from tests.browser.words import IN_ENGLISH, Words

pytestmark = pytest.mark.browser

TRANSLATED = [language for language in LANGUAGES if language.code != "en"]


def expect_language(visitor: Visitor, tag: str, *, rtl: bool = False) -> None:
    html = visitor.page.locator("html")
    expect(html).to_have_attribute("lang", tag)
    expect(html).to_have_attribute("dir", "rtl" if rtl else "ltr")


@pytest.mark.parametrize("language", LANGUAGES, ids=[language.code for language in LANGUAGES])
def test_pages_speak_the_language_the_browser_prefers(visit: Callable[..., Visitor], language: Language) -> None:
    visitor = visit(language=language.code)
    words = visitor.words
    visitor.open_start()
    expect_language(visitor, language.tag, rtl=language.rtl)
    expect(visitor.heading()).to_have_text(words("Connect your music"))
    expect(visitor.connect_button("Spotify")).to_be_visible()

    visitor.open("/no-such-page")
    expect_language(visitor, language.tag, rtl=language.rtl)
    expect(visitor.heading()).to_have_text(words("This page doesn't exist"))
    visitor.screenshot("not-found", full_page=False)


def test_a_language_the_app_does_not_speak_gets_english(visit: Callable[..., Visitor]) -> None:
    visitor = visit(locale="sv-SE")
    visitor.open_start()
    expect_language(visitor, "en")
    expect(visitor.heading()).to_have_text("Connect your music")


def test_the_language_switch_changes_the_language_and_remembers_it(visit: Callable[..., Visitor]) -> None:
    visitor = visit()
    page = visitor.page
    visitor.open_start()
    switch = page.get_by_role("contentinfo").get_by_role("navigation", name="Language")
    expect(switch).to_be_visible()
    expect(switch.get_by_role("link", name="English")).to_have_attribute("aria-current", "true")

    visitor.choose_language("Polski")
    expect_language(visitor, "pl")
    visitor.words = polish = Words("pl")
    expect(visitor.heading()).to_have_text(polish("Connect your music"))
    expect(page).to_have_url(visitor.app_url + "/")

    # Remembered on the next page, though the browser still asks for English.
    visitor.open("/no-such-page")
    expect_language(visitor, "pl")
    expect(visitor.heading()).to_have_text(polish("This page doesn't exist"))

    # The switch brings the visitor back to the page they were on.
    visitor.choose_language("العربية")
    expect_language(visitor, "ar", rtl=True)
    expect(page).to_have_url(visitor.app_url + "/no-such-page")
    visitor.words = arabic = Words("ar")
    expect(visitor.heading()).to_have_text(arabic("This page doesn't exist"))
    visitor.open_start()
    expect_language(visitor, "ar", rtl=True)

    visitor.choose_language("English")
    expect_language(visitor, "en")
    visitor.words = IN_ENGLISH
    expect(visitor.heading()).to_have_text("Connect your music")


@pytest.mark.parametrize("language", TRANSLATED, ids=[language.code for language in TRANSLATED])
def test_a_login_cancel_and_retry_meet_no_english(visit: Callable[..., Visitor], language: Language) -> None:
    visitor = visit(language=language.code)
    words = visitor.words
    english: dict[str, list[str]] = {}

    def look(name: str) -> None:
        visitor.screenshot(name, full_page=False)
        if found := visitor.english_left():
            english[name] = found

    visitor.open_start()
    look("start")
    visitor.press_connect("Spotify")
    visitor.cancel_at_musicapi()
    visitor.expect_problem(words("The login didn't go through"), "login_failed", words("Try again"))
    look("cancelled")

    visitor.press_try_again()
    visitor.log_in_at_musicapi("Spotify")
    expect(visitor.banner()).to_contain_text(words.pattern("Connected %(service)s as %(name)s.", service="Spotify"))
    look("connected")

    visitor.log_out()
    expect(visitor.banner()).to_contain_text(words("You're logged out. Nothing is connected any more."))
    look("logged-out")

    assert english == {}


def test_a_pressed_button_says_it_is_working_in_the_page_language(visit: Callable[..., Visitor]) -> None:
    visitor = visit(language="pl")
    words = visitor.words
    visitor.open_start()
    visitor.press_connect("Spotify")
    visitor.cancel_at_musicapi()
    expect(visitor.heading()).to_have_text(words("The login didn't go through"))

    visitor.hold_submissions()
    visitor.press_try_again()
    expect(visitor.page.locator("[aria-busy=true] button")).to_be_disabled()
    visitor.screenshot("working", full_page=False)
    assert visitor.english_left() == []

    visitor.open_start()
    visitor.hold_submissions()
    visitor.press_connect("Deezer")
    expect(visitor.page.get_by_role("button", name=words("Connecting %(service)s…", service="Deezer"))).to_be_disabled()
    assert visitor.english_left() == []


README_LANGUAGES = (("English", "en"), ("Deutsch", "de"), ("العربية", "ar"))


def test_the_start_page_with_two_accounts_in_english_german_and_arabic(visitor: Visitor) -> None:
    """The README's pictures: `make screenshots` writes docs/screenshots/landing-{en,de,ar}.png from here."""
    visitor.open_start()
    visitor.connect("Spotify", account="ada")
    visitor.connect("Deezer", account="grace")
    # The page as it stays once the banner of the last login has been read.
    visitor.open_start()

    for name, code in README_LANGUAGES:
        if code != visitor.words.code:
            visitor.choose_language(name)
            visitor.words = Words(code)
        expect_language(visitor, code, rtl=code == "ar")
        expect(visitor.heading()).to_have_text(visitor.words("Your music"))
        expect(visitor.account_card("Spotify")).to_be_visible()
        expect(visitor.account_card("Deezer")).to_be_visible()
        assert visitor.broken_images() == []
        visitor.screenshot(f"landing-{code}", readme_name=f"landing-{code}.png")

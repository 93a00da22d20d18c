"""Connecting music services by clicking through the real pages and MusicAPI's (simulated) login pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.visitor import AVATAR_ORIGIN, Visitor

pytestmark = pytest.mark.browser

EXPIRES_IN_AN_HOUR = re.compile(r"expires in \d+ min")


def test_connect_two_services_see_both_disconnect_one_and_log_out(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    expect(page.get_by_role("heading", name="Connect your music", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    visitor.screenshot("landing", readme_name="landing.png")

    visitor.connect("Spotify", account="ada")
    expect(page.get_by_role("status")).to_have_text(re.compile(r"Connected Spotify as \S+"))
    visitor.connect("TIDAL", account="grace")
    visitor.screenshot("connected", readme_name="connected.png")

    expect(page.get_by_role("heading", name="Your music", level=1)).to_be_visible()
    for service in ("Spotify", "TIDAL"):
        card = visitor.account_card(service)
        expect(card).to_be_visible()
        expect(card).to_contain_text(EXPIRES_IN_AN_HOUR)
        expect(card.get_by_role("button", name=f"Disconnect {service}")).to_be_visible()
    assert visitor.broken_images() == []

    visitor.account_card("Spotify").get_by_role("button", name="Disconnect Spotify").click()
    expect(visitor.account_card("Spotify")).to_have_count(0)
    expect(visitor.account_card("TIDAL")).to_be_visible()
    visitor.screenshot("one-left")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Connect your music", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Connected accounts")).to_have_count(0)
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    visitor.screenshot("logged-out")


# Runs after the page's own submit handling (window is the last stop of a bubbling event): counts the
# submissions the page let through, then keeps the browser here, as if the network were very slow.
HOLD_SUBMISSIONS = """
window.sentForms = 0;
window.addEventListener('submit', event => {
  if (!event.defaultPrevented) { window.sentForms += 1; }
  event.preventDefault();
});
"""


def test_the_button_says_it_is_working_and_sends_the_form_once(visitor: Visitor) -> None:
    page = visitor.page
    page.add_init_script(HOLD_SUBMISSIONS)
    visitor.open_start()

    page.get_by_role("button", name="Connect Deezer").click()
    working = page.get_by_role("button", name="Connecting Deezer…")
    expect(working).to_be_disabled()
    expect(page.get_by_role("button", name="Connect Spotify")).to_be_disabled()
    visitor.screenshot("working", full_page=False)
    # Presses that land before the buttons turn grey (a double tap) still send nothing.
    working.evaluate("button => button.form.requestSubmit()")
    page.get_by_role("button", name="Connect Spotify").evaluate("button => button.form.requestSubmit()")

    assert page.evaluate("window.sentForms") == 1, "a second press sent another form"


def test_any_service_through_musicapis_chooser(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    page.get_by_role("button", name="Any service").click()

    expect(page.get_by_text("MusicAPI simulator")).to_be_visible()
    visitor.screenshot("chooser")
    page.get_by_role("link", name="YouTube Music").click()
    visitor.log_in_at_musicapi("YouTube Music")

    expect(page.get_by_role("status")).to_contain_text("Connected YouTube Music")
    expect(visitor.account_card("YouTube Music")).to_contain_text(EXPIRES_IN_AN_HOUR)
    visitor.screenshot("connected")


def test_a_developer_page_reads_the_connected_session(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open("/developers")
    demo = page.get_by_role("region", name="Live demo")
    expect(demo).to_contain_text("Nothing connected")

    visitor.open_start()
    visitor.connect("Spotify")
    page.get_by_role("link", name="For developers").click()

    expect(page.get_by_role("heading", name="Use the connection from your pages")).to_be_visible()
    expect(demo.get_by_role("listitem")).to_have_count(1)
    expect(demo).to_contain_text("spotify")
    expect(demo).to_contain_text(re.compile(r"Token present: BQ\S{4}…"))
    expect(demo).to_contain_text(EXPIRES_IN_AN_HOUR)
    visitor.screenshot("developers")

    page.get_by_role("button", name="Check again").click()
    expect(demo.get_by_role("listitem")).to_have_count(1)


def test_connect_with_the_keyboard_only(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()

    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name="Skip to content")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()

    connect = page.get_by_role("button", name="Connect Spotify")
    for _ in range(5):
        page.keyboard.press("Tab")
        if connect.evaluate("button => button === document.activeElement"):
            break
    expect(connect).to_be_focused()
    assert connect.evaluate("button => getComputedStyle(button).outlineStyle") != "none"
    visitor.screenshot("focus")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Log in to Spotify")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Simulated account")).to_be_focused()
    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log in to Spotify")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("Connected Spotify")
    visitor.screenshot("connected")


def test_a_profile_picture_that_cannot_load_shows_the_service_badge(visitor: Visitor) -> None:
    # The picture's host is unreachable (blocked, or gone since MusicAPI handed out the link).
    visitor.page.route(f"{AVATAR_ORIGIN}/**", lambda route: route.abort())
    visitor.open_start()
    visitor.connect("Deezer")

    card = visitor.account_card("Deezer")
    expect(card.locator("img.avatar-photo")).to_have_attribute("src", re.compile(r"/static/badges/deezer\.svg$"))
    assert visitor.broken_images() == []
    visitor.screenshot("avatar-fallback")

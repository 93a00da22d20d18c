"""Connecting music services by clicking through the real pages and MusicAPI's (simulated) login pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from callback_app.musicapi.protocol import SERVICE_NAMES
from tests.browser.visitor import AVATAR_ORIGIN, Visitor
from tests.support.clock import FakeClock
from tests.support.servers import GunicornApp

pytestmark = pytest.mark.browser

# MusicAPI's tokens live an hour: Babel says "1 hour" for 59 minutes and some.
VALID_FOR_AN_HOUR = re.compile(r"^Connected · Valid for (1 hour|\d+ minutes)$")
ALL_SERVICES = len(SERVICE_NAMES)


def test_connect_two_services_see_both_disconnect_one_and_log_out(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    expect(visitor.heading()).to_have_text("Connect your music")
    expect(visitor.offered().get_by_role("button", name=re.compile(r"^Connect "))).to_have_count(ALL_SERVICES)
    expect(visitor.log_out_button()).to_have_count(0)

    visitor.connect("Spotify", account="ada")
    visitor.connect("TIDAL", account="grace")
    visitor.screenshot("connected")

    # One banner, for what just happened.
    expect(visitor.banner().locator("p")).to_have_count(1)
    expect(visitor.banner()).to_have_text(re.compile(r"^\s*Connected TIDAL as \S.*\.\s*$"))
    expect(visitor.heading()).to_have_text("Your music")
    for service in ("Spotify", "TIDAL"):
        card = visitor.account_card(service)
        expect(card).to_be_visible()
        expect(card.locator(".account-status")).to_have_text(VALID_FOR_AN_HOUR)
        expect(card.get_by_role("button", name=f"Disconnect {service}")).to_be_visible()
    assert visitor.broken_images() == []

    # Connected accounts first, then only what is not connected yet.
    offered = visitor.offered()
    accounts_box, offered_box = visitor.accounts().bounding_box(), offered.bounding_box()
    assert accounts_box is not None
    assert offered_box is not None
    assert accounts_box["y"] + accounts_box["height"] <= offered_box["y"]
    expect(offered.get_by_role("heading")).to_have_text("Connect another service")
    expect(offered.get_by_role("button", name=re.compile(r"^Connect "))).to_have_count(ALL_SERVICES - 2)
    expect(visitor.connect_button("Spotify")).to_have_count(0)
    expect(visitor.connect_button("TIDAL")).to_have_count(0)
    expect(offered).to_contain_text("Picking a service that is already connected replaces its account.")

    visitor.disconnect("Spotify")
    expect(visitor.banner()).to_have_text(re.compile(r"^\s*Disconnected Spotify\.\s*$"))
    expect(visitor.account_card("Spotify")).to_have_count(0)
    expect(visitor.account_card("TIDAL")).to_be_visible()
    expect(visitor.connect_button("Spotify")).to_be_visible()
    visitor.screenshot("one-left")

    visitor.log_out()
    expect(visitor.banner()).to_have_text(re.compile(r"^\s*You're logged out\. Nothing is connected any more\.\s*$"))
    expect(visitor.heading()).to_have_text("Connect your music")
    expect(page.get_by_role("region", name="Connected accounts")).to_have_count(0)
    expect(visitor.log_out_button()).to_have_count(0)
    visitor.screenshot("logged-out")


def test_log_out_is_on_the_first_screen_of_a_phone(visit: Callable[..., Visitor]) -> None:
    visitor = visit(viewport={"width": 320, "height": 568})
    visitor.open_start()
    visitor.connect("Spotify")
    visitor.connect("Deezer")
    expect(visitor.account_card("Deezer")).to_be_visible()

    expect(visitor.log_out_button()).to_be_in_viewport(ratio=1)
    visitor.screenshot("first-screen", full_page=False)


def test_the_button_says_it_is_working_and_sends_the_form_once(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    visitor.hold_submissions()

    visitor.press_connect("Deezer")
    working = page.get_by_role("button", name="Connecting Deezer…")
    expect(working).to_be_disabled()
    expect(visitor.connect_button("Spotify")).to_be_disabled()
    visitor.screenshot("working", full_page=False)
    # Presses that land before the buttons turn grey (a double tap) still send nothing.
    working.evaluate("button => button.form.requestSubmit()")
    visitor.connect_button("Spotify").evaluate("button => button.form.requestSubmit()")

    assert visitor.sent_forms() == 1, "a second press sent another form"


def test_any_service_through_musicapis_chooser(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()
    visitor.press_any_service()

    expect(page.get_by_text("MusicAPI simulator")).to_be_visible()
    visitor.screenshot("chooser")
    page.get_by_role("link", name="YouTube Music").click()
    visitor.log_in_at_musicapi("YouTube Music")

    expect(visitor.banner()).to_contain_text("Connected YouTube Music")
    expect(visitor.account_card("YouTube Music").locator(".account-status")).to_have_text(VALID_FOR_AN_HOUR)
    visitor.screenshot("connected")


def test_connect_with_the_keyboard_only(visitor: Visitor) -> None:
    page = visitor.page
    visitor.open_start()

    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name="Skip to content")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()

    connect = visitor.connect_button("Spotify")
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

    expect(visitor.banner()).to_contain_text("Connected Spotify")
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


def test_an_account_the_app_can_renew_says_so(
    visit: Callable[..., Visitor], start_app: Callable[..., GunicornApp]
) -> None:
    app = start_app(MUSICAPI_CLIENT_ID="simulator-client", MUSICAPI_CLIENT_SECRET="simulator-secret")
    visitor = visit(app.url)
    visitor.open_start()
    visitor.connect("Qobuz")

    expect(visitor.account_card("Qobuz").locator(".account-status")).to_have_text("Connected · Renews automatically")
    visitor.screenshot("renews")


@contextmanager
def tokens_issued_two_hours_ago(musicapi_clock: FakeClock) -> Iterator[None]:
    """MusicAPI hands out tokens as if two hours ago: their hour is over when they arrive."""
    musicapi_clock.advance(-2 * 3600)
    try:
        yield
    finally:
        musicapi_clock.advance(2 * 3600)


def test_an_expired_account_stays_and_offers_to_reconnect(visitor: Visitor) -> None:
    visitor.open_start()
    with tokens_issued_two_hours_ago(visitor.musicapi_clock):
        visitor.connect("Spotify")
    visitor.connect("Deezer")

    expired = visitor.account_card("Spotify")
    expect(expired.locator(".account-status")).to_have_text("Expired — reconnect to keep using it")
    expect(visitor.account_card("Deezer").locator(".account-status")).to_have_text(VALID_FOR_AN_HOUR)
    assert {account["service"]: account["expired"] for account in visitor.session()["accounts"]} == {
        "spotify": True,
        "deezer": False,
    }
    visitor.screenshot("expired")

    expired.get_by_role("button", name="Reconnect Spotify").click()
    visitor.log_in_at_musicapi("Spotify", account="ada")
    expect(visitor.banner()).to_have_text(
        re.compile(r"^\s*Your Spotify account is now \S.* \(it replaced the previous one\)\.\s*$")
    )
    reconnected = visitor.account_card("Spotify")
    expect(reconnected.locator(".account-status")).to_have_text(VALID_FOR_AN_HOUR)
    expect(reconnected.get_by_role("button", name="Reconnect Spotify")).to_have_count(0)

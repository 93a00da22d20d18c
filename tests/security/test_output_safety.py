"""Output safety: profile fields from MusicAPI are hostile input; the pages escape them and show only https images."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import MakeApp
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import HostileUpstream, encode_data64, login_document, profile
from tests.support.pages import account_cookies_added, error_code_in, parse_html
from tests.support.servers import ThreadedServer

SCRIPT = "<script>alert('name')</script>"
ATTRIBUTE_BREAKOUT = '"><img src=x onerror=alert(1)>'
HOSTILE_PROFILE = {
    "name": SCRIPT,
    "email": ATTRIBUTE_BREAKOUT + "@example.com",
    "country": "</p><svg onload=alert(1)>",
}
NON_HTTPS_IMAGES = [
    "javascript:alert(1)",
    "http://images.example/a.png",
    "//images.example/a.png",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "JaVaScRiPt:alert(1)",
    " https://images.example/leading-space.png",
    "/static/favicon.svg",
]


@pytest.fixture
def hostile(
    make_app: MakeApp, hostile_upstream: tuple[HostileUpstream, ThreadedServer]
) -> tuple[InProcessBrowser, HostileUpstream]:
    """A browser on an app whose MusicAPI answers the exchange with whatever profile the test sets."""
    upstream, server = hostile_upstream
    app, _ = make_app(musicapi_api_url=f"{server.url}/api")
    return InProcessBrowser(app), upstream


def connect(browser: InProcessBrowser, service: str = "spotify") -> int:
    state = browser.state(browser.start_login(service))
    return browser.callback({"state": state, "data64": encode_data64(login_document(service))}).status_code


def assert_no_active_content(page: str) -> None:
    elements, inline = parse_html(page)
    assert inline == []
    for element in elements:
        assert not any(name.startswith("on") for name in element.attributes), element
        assert element.tag not in ("svg", "iframe", "object", "embed"), element
        if element.tag == "script":
            assert (element.attributes.get("src") or "").startswith("/static/"), element
        if element.tag == "img":
            source = element.attributes.get("src") or ""
            assert source.startswith(("/static/", "https://")), element


def test_hostile_profile_fields_are_escaped_on_the_landing_page(
    hostile: tuple[InProcessBrowser, HostileUpstream],
) -> None:
    browser, upstream = hostile
    upstream.answer(profile(**HOSTILE_PROFILE))
    assert connect(browser) == 303

    page = browser.get("/").get_data(as_text=True)

    assert SCRIPT not in page
    assert "&lt;script&gt;alert(" in page
    assert ATTRIBUTE_BREAKOUT not in page
    assert "<svg" not in page
    assert_no_active_content(page)


def test_the_session_api_returns_profile_fields_as_json_data_not_html(
    hostile: tuple[InProcessBrowser, HostileUpstream],
) -> None:
    browser, upstream = hostile
    upstream.answer(profile(**HOSTILE_PROFILE))
    connect(browser)

    response = browser.get("/api/session")

    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["accounts"][0]["name"] == SCRIPT


@pytest.mark.parametrize("image_url", NON_HTTPS_IMAGES)
def test_an_image_that_is_not_https_is_not_shown(
    hostile: tuple[InProcessBrowser, HostileUpstream], image_url: str
) -> None:
    browser, upstream = hostile
    upstream.answer(profile(imageUrl=image_url))
    assert connect(browser) == 303

    page = browser.get("/").get_data(as_text=True)

    elements, _ = parse_html(page)
    assert not any(e.tag == "img" and "avatar-photo" in (e.attributes.get("class") or "") for e in elements)
    assert_no_active_content(page)


def test_an_https_image_is_shown_escaped_without_a_referrer(hostile: tuple[InProcessBrowser, HostileUpstream]) -> None:
    browser, upstream = hostile
    upstream.answer(profile(imageUrl='https://images.example/a.png" onerror="alert(1)'))
    assert connect(browser) == 303

    elements, _ = parse_html(browser.get("/").get_data(as_text=True))

    [photo] = [e for e in elements if e.tag == "img" and "avatar-photo" in (e.attributes.get("class") or "")]
    assert photo.attributes["src"] == 'https://images.example/a.png" onerror="alert(1)'
    assert photo.attributes["referrerpolicy"] == "no-referrer"
    assert "onerror" not in photo.attributes


@pytest.mark.parametrize(
    "field_values",
    [
        {"name": {"html": "<b>"}, "email": ["a@b"], "country": 48, "imageUrl": {"x": 1}},
        {"name": None, "email": None, "country": None, "imageUrl": None},
        {"name": "A" * 100_000},
        {"name": "\u202eevil\u0000\r\nSet-Cookie: x=1"},
    ],
    ids=["wrong types", "nulls", "very long name", "control characters"],
)
def test_odd_profile_values_are_shown_safely_or_not_at_all(
    hostile: tuple[InProcessBrowser, HostileUpstream], field_values: dict[str, object]
) -> None:
    browser, upstream = hostile
    upstream.answer(profile(**field_values))
    assert connect(browser) == 303

    response = browser.get("/")

    assert response.status_code == 200
    assert "Set-Cookie: x=1" not in response.headers.get("Set-Cookie", "")
    assert len(response.get_data()) < 50_000
    assert_no_active_content(response.get_data(as_text=True))


def test_an_account_too_big_for_a_cookie_is_refused_not_dropped(
    hostile: tuple[InProcessBrowser, HostileUpstream],
) -> None:
    browser, upstream = hostile
    # Random, so compression cannot hide the size: 4,000 bytes of token alone.
    upstream.answer(profile(authData={"accessToken": secrets.token_urlsafe(3000)}))

    state = browser.state(browser.start_login("spotify"))
    response = browser.callback({"state": state, "data64": encode_data64(login_document("spotify"))})

    assert response.status_code == 400
    assert error_code_in(response.get_data(as_text=True)) == "session_full"
    assert not account_cookies_added(response)
    assert browser.accounts() == []

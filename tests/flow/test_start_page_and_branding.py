"""The pages a listener sees, over HTTP: one banner for what just happened, accounts first, the deployer's brand."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
import requests

from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import cookie_name, is_deletion, parse_html, set_cookies
from tests.support.servers import GunicornApp
from tests.support.user import User

from .refusals import visible_text

BANNER = re.compile(r'<p class="banner\b[^"]*">.*?</p>', re.DOTALL)
HEADER = re.compile(r"<header\b.*?</header>", re.DOTALL)
TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL)
BRAND_IN_HEADER = re.compile(r'<a class="brand"[^>]*>.*?<span>(.*?)</span>', re.DOTALL)
# A name with every character HTML gives a meaning to.
APP_NAME = 'Ada\'s <Music> & "Friends"'
PRIVACY_URL = "https://www.example.com/privacy?lang=en&v=2"
SUPPORT_URL = "https://help.example.com/music"
# Larger than the Cookie header gunicorn reads (gunicorn.conf.py): gunicorn refuses it, with the app's page.
OVERSIZED_COOKIE = "x" * 40_000


def banners(page: requests.Response) -> list[str]:
    return [visible_text(banner) for banner in BANNER.findall(page.text)]


def title_of(page: requests.Response) -> str:
    match = TITLE.search(page.text)
    assert match, "the page has no title"
    return match.group(1)


def header_of(page: requests.Response) -> str:
    match = HEADER.search(page.text)
    assert match, "the page has no header"
    return match.group(0)


def test_the_start_page_says_once_what_just_happened(user: User) -> None:
    assert user.connect("spotify").status_code == 303
    assert user.connect("deezer").status_code == 303
    deezer = {account["service"]: account for account in user.accounts()}["deezer"]

    first, second = user.get("/"), user.get("/")

    # Two logins in a row, one banner: the latest.
    assert banners(first) == [f"Connected Deezer as {deezer['name']}."]
    assert banners(second) == []


def test_a_disconnect_and_a_logout_are_each_said_once(user: User) -> None:
    assert user.connect("spotify").status_code == 303
    user.open_home()
    assert user.post("/disconnect/spotify", {"csrf_token": user.csrf_token or ""}).status_code == 303
    assert banners(user.get("/")) == ["Disconnected Spotify."]

    assert user.connect("deezer").status_code == 303
    user.open_home()
    assert user.post("/logout", {"csrf_token": user.csrf_token or ""}).status_code == 303
    assert banners(user.get("/")) == ["You're logged out. Nothing is connected any more."]


def test_logging_out_straight_after_a_login_still_says_so(user: User) -> None:
    """The login's banner has not been shown yet when the person logs out: the logout's replaces it."""
    user.open_home()
    assert user.connect("deezer").status_code == 303
    assert "notice" in user.cookie_names()

    logout = user.post("/logout", {"csrf_token": user.csrf_token or ""})

    assert logout.status_code == 303
    # Browsers apply Set-Cookie headers in order, so the last one for a name is what they keep.
    notice_headers = [header for header in set_cookies(logout) if cookie_name(header) == "notice"]
    assert notice_headers, "the logout leaves no notice"
    assert not is_deletion(notice_headers[-1]), notice_headers
    assert banners(user.get("/")) == ["You're logged out. Nothing is connected any more."]


def test_connected_accounts_come_first_then_only_the_services_not_yet_connected(user: User) -> None:
    empty = user.get("/")
    assert "Log out" not in header_of(empty)
    assert 'action="/connect/spotify"' in empty.text

    assert user.connect("spotify").status_code == 303
    assert user.connect("tidal").status_code == 303
    page = user.get("/").text

    assert page.index('id="accounts-heading"') < page.index('id="connect-heading"')
    offered = page[page.index('id="connect-heading"') :]
    assert "Connect another service" in offered
    assert 'action="/connect/deezer"' in offered
    assert 'action="/connect"' in offered
    for connected in ("spotify", "tidal"):
        assert f'action="/connect/{connected}"' not in page
        assert f'action="/disconnect/{connected}"' in page[: page.index('id="connect-heading"')]
    header = header_of(user.get("/"))
    assert 'action="/logout"' in header
    assert "Log out" in header


@pytest.fixture(scope="module")
def branded_app(start_app: Callable[..., GunicornApp]) -> GunicornApp:
    return start_app(APP_NAME=APP_NAME, PRIVACY_URL=PRIVACY_URL, SUPPORT_URL=SUPPORT_URL, DEVELOPER_PAGE="1")


def every_kind_of_page(app: GunicornApp, simulator: Simulator) -> dict[str, requests.Response]:
    """One of each page the app shows: the start page, its own pages, and its error pages."""
    user = User(app.url, simulator)
    pages = {"start": user.open_home()}
    for path in ("/developers", "/popup/done", "/no-such-page"):
        pages[path] = user.get(path)
    login = user.start_login("deezer")
    pages["login cancelled"] = user.come_back(user.callback_url(login, encode_data64(simulator.failed_login("deezer"))))
    pages["stale button"] = user.post("/connect/deezer", {"csrf_token": "stale"})
    pages["wrong host"] = user.post("/logout", headers={"Host": "music.herokuapp.example"})
    pages["cookies too large"] = user.get("/", headers={"Cookie": f"big={OVERSIZED_COOKIE}"})
    return pages


def test_app_name_is_in_every_pages_title_and_header_escaped(branded_app: GunicornApp, simulator: Simulator) -> None:
    pages = every_kind_of_page(branded_app, simulator)

    assert {name: page.status_code for name, page in pages.items()} == {
        "start": 200,
        "/developers": 200,
        "/popup/done": 200,
        "/no-such-page": 404,
        "login cancelled": 400,
        "stale button": 400,
        "wrong host": 421,
        "cookies too large": 431,
    }
    for name, page in pages.items():
        title, brand = title_of(page), BRAND_IN_HEADER.search(header_of(page))
        assert brand, f"{name}: no name in the header"
        assert html.unescape(title).endswith(f" · {APP_NAME}"), name
        assert "&lt;Music&gt;" in title, name
        assert html.unescape(brand.group(1)) == APP_NAME, name
        assert "<Music>" not in page.text, name


def test_privacy_and_support_links_are_in_every_pages_footer_when_set(
    branded_app: GunicornApp, simulator: Simulator
) -> None:
    for name, page in every_kind_of_page(branded_app, simulator).items():
        elements, _ = parse_html(page.text)
        links = {element.attributes.get("href") for element in elements if element.tag == "a"}
        assert {PRIVACY_URL, SUPPORT_URL} <= links, name
        assert "Privacy" in visible_text(page.text), name
        assert "Help and support" in visible_text(page.text), name


def test_without_branding_the_pages_use_a_neutral_name_and_link_nowhere_else(user: User) -> None:
    page = user.get("/")

    assert html.unescape(title_of(page)).endswith(" · Music Connect")
    elements, _ = parse_html(page.text)
    links = [element.attributes.get("href") or "" for element in elements if element.tag == "a"]
    assert links
    assert all(link.startswith(("/", "#")) for link in links), links
    assert "Privacy" not in visible_text(page.text)
    assert "Help and support" not in visible_text(page.text)
    assert "For developers" not in visible_text(page.text)

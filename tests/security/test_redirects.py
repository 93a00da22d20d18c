"""Redirect safety: ``next`` is followed only when it is a path on this site; everything else goes to ``/``."""

from __future__ import annotations

import pytest

from callback_app.security import MAX_NEXT_LENGTH, safe_next
from tests.support.pages import cookie_name, error_code_in, set_cookies
from tests.support.user import User

ALLOWED_ORIGINS = ("https://www.example.com", "http://127.0.0.1:5050")

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "/\tevil.example",
    "/\t/evil.example",
    "/%09/evil.example",
    "/\r\nSet-Cookie: x=1",
    "/%0d%0aSet-Cookie:%20x=1",
    "/\x00/evil",
    "/%00",
    " //evil.example",
    "/\u2215\u2215evil.example",
    "\uff0f\uff0fevil.example",
    "/callback?state=abc&data64=xyz",
    "/" + "a" * MAX_NEXT_LENGTH,
    "",
    None,
]

LOCAL_NEXT = ["/", "/account", "/account/settings?tab=music", "/a/b#section", "/search?q=a%20b", "/.well-known/x"]


@pytest.mark.parametrize("allowed_origins", [(), ALLOWED_ORIGINS], ids=["same origin only", "with allowed origins"])
@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_hostile_next_falls_back_to_the_start_page(value: str | None, allowed_origins: tuple[str, ...]) -> None:
    assert safe_next(value, allowed_origins) == "/"


@pytest.mark.parametrize("allowed_origins", [(), ALLOWED_ORIGINS], ids=["same origin only", "with allowed origins"])
@pytest.mark.parametrize("value", LOCAL_NEXT)
def test_local_paths_are_kept(value: str, allowed_origins: tuple[str, ...]) -> None:
    assert safe_next(value, allowed_origins) == value


@pytest.mark.parametrize("value", ["//evil.example", "/\\evil.example", "https://evil.example", "/%2F%2Fevil"])
def test_after_login_the_browser_never_leaves_the_site(user: User, value: str) -> None:
    response = user.connect("spotify", next_path=value)

    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def cookie_header(user: User) -> str:
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in user.http.cookies)


def test_a_login_posted_for_another_host_is_refused_and_starts_nothing(user: User) -> None:
    user.open_home()
    response = user.post(
        "/connect/spotify",
        {"csrf_token": user.csrf_token or ""},
        # requests would not send 127.0.0.1's cookies to a Host of evil.example: send them by hand.
        headers={"Host": "evil.example", "Cookie": cookie_header(user)},
    )

    assert response.status_code == 421
    assert error_code_in(response.text) == "wrong_host"
    assert "Location" not in response.headers
    assert not any(cookie_name(header) == "flow" for header in set_cookies(response))
    assert "evil.example" not in response.text


def test_the_return_url_comes_from_public_url_never_from_forwarded_headers(user: User) -> None:
    user.open_home()
    response = user.post(
        "/connect/spotify",
        {"csrf_token": user.csrf_token or ""},
        headers={"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example;proto=https"},
    )

    assert response.status_code == 303
    assert user.return_url(response).startswith(f"{user.app_url}/callback?")

"""Redirect safety: ``next`` is followed only when it is a path on this site; everything else goes to ``/``."""

from __future__ import annotations

import pytest

from callback_app.security import safe_next
from tests.support.user import User

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
    "/" + "a" * 600,
    "",
    None,
]

LOCAL_NEXT = ["/", "/account", "/account/settings?tab=music", "/a/b#section", "/search?q=a%20b", "/.well-known/x"]


@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_hostile_next_falls_back_to_the_start_page(value: str | None) -> None:
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", LOCAL_NEXT)
def test_local_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", ["//evil.example", "/\\evil.example", "https://evil.example", "/%2F%2Fevil"])
def test_after_login_the_browser_never_leaves_the_site(user: User, value: str) -> None:
    response = user.connect("spotify", next_path=value)

    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def cookie_header(user: User) -> str:
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in user.http.cookies)


def test_the_return_url_comes_from_public_url_never_from_the_host_header(user: User) -> None:
    user.open_home()
    response = user.post(
        "/connect/spotify",
        {"csrf_token": user.csrf_token or ""},
        # requests would not send 127.0.0.1's cookies to a Host of evil.example: send them by hand.
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Cookie": cookie_header(user)},
    )

    assert response.status_code == 303
    assert user.return_url(response).startswith(f"{user.app_url}/callback?")

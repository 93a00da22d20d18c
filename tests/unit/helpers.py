"""What several unit tests share: the keys, a browser's cookie jar for werkzeug responses, and accounts."""

from __future__ import annotations

import secrets
import string
from typing import Any

from werkzeug.test import TestResponse
from werkzeug.wrappers import Response

from callback_app.musicapi.protocol import IntegrationUser
from callback_app.session.accounts import Account
from callback_app.simulator import Simulator, fake_auth_data
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import encode_data64

KEY = "current-secret-key-0123456789-abcdefghijkl"
OLD_KEY = "previous-secret-key-0123456789-abcdefghijk"
OTHER_KEY = "another-apps-secret-key-0123456789-abcdefg"
START = 1_700_000_000.0
USER_UUID = "e75315f0-d1e1-4063-b801-181ad1a954e1"
ONE_TIME_TOKEN = "e50cc5e7-254a-4cff-a000-457ae53a059d"


class BrowserCookies:
    """A cookie jar that takes Set-Cookie headers the way a browser does (Max-Age=0 removes)."""

    def __init__(self, cookies: dict[str, str] | None = None) -> None:
        self.cookies: dict[str, str] = dict(cookies or {})

    def receive(self, response: Response) -> dict[str, dict[str, str]]:
        """Store what ``response`` sets; return each Set-Cookie by name, its attributes lower-cased."""
        received: dict[str, dict[str, str]] = {}
        for header in response.headers.getlist("Set-Cookie"):
            first, *attributes = [part.strip() for part in header.split(";")]
            name, _, value = first.partition("=")
            cookie = {"value": value}
            for attribute in attributes:
                key, _, attribute_value = attribute.partition("=")
                cookie[key.lower()] = attribute_value
            received[name] = cookie
            if cookie.get("max-age") == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return received

    def header(self) -> str:
        """The Cookie header this browser sends."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


def random_text(length: int) -> str:
    """Letters and digits that no compression shortens much, like a real token."""
    return "".join(secrets.choice(string.ascii_letters + string.digits + "-_") for _ in range(length))


def make_user(
    service: str = "spotify",
    *,
    now: float = START,
    expires_in: float | None = 3600,
    auth_data: dict[str, Any] | None = None,
    name: str = "Ada Lovelace",
    user_uuid: str = USER_UUID,
) -> IntegrationUser:
    """A user as MusicAPI hands it over, with tokens of the service's realistic sizes."""
    return IntegrationUser(
        integration_user_uuid=user_uuid,
        name=name,
        email="ada.lovelace@example.com",
        image_url="https://cdn.example/avatars/0123456789abcdef.jpg",
        country="gb",
        auth_data=auth_data if auth_data is not None else fake_auth_data(service, now),
        expires_at=None if expires_in is None else int((now + expires_in) * 1000),
    )


def make_account(
    service: str = "spotify",
    *,
    now: float = START,
    expires_in: float | None = 3600,
    connected_at: float | None = None,
    **user: Any,
) -> Account:
    return Account(
        service=service,
        user=make_user(service, now=now, expires_in=expires_in, **user),
        connected_at=int(now if connected_at is None else connected_at),
    )


def connect_in_process(
    browser: InProcessBrowser, simulator: Simulator, service: str = "spotify", *, user_key: str | None = None
) -> TestResponse:
    """A whole login in an in-process app: press Connect, log in at the simulator, come back."""
    login = browser.start_login(service)
    data64 = encode_data64(simulator.issue_login(service, user_key=user_key))
    return browser.callback({"state": browser.state(login), "data64": data64})

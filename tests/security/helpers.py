"""Helpers for the security suite: an in-process browser, a hostile MusicAPI, and response readers."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SPOTIFY_LIKE_TOKEN = "BQ" + "x" * 200


def data64_of(document: Any) -> str:
    """Standard, padded base64 of a JSON document, as MusicAPI sends it."""
    return base64.b64encode(json.dumps(document).encode()).decode("ascii")


def login_document(
    service: str = "spotify", *, user_uuid: str | None = None, token: str | None = None
) -> dict[str, Any]:
    """A successful login as MusicAPI reports it in data64 (for an upstream the test controls)."""
    return {
        "integration": {"type": service, "returnUrl": f"https://api.musicapi.com/callback/{service}"},
        "authModel": {"uuid": str(uuid.uuid4()), "status": "success", "error": None},
        "integrationUserUUID": user_uuid or str(uuid.uuid4()),
        "oneTimeToken": token or str(uuid.uuid4()),
    }


def set_cookies(response: Any) -> list[str]:
    """Every Set-Cookie header of a requests or werkzeug response, unmerged."""
    if isinstance(response, TestResponse):
        return response.headers.getlist("Set-Cookie")
    return list(response.raw.headers.getlist("Set-Cookie"))


def cookie_name(header: str) -> str:
    return header.split("=", 1)[0]


def cookie_attributes(header: str) -> dict[str, str]:
    """The attributes of one Set-Cookie header, lower-cased names: {"path": "/", "httponly": "", ...}."""
    attributes = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value
    return attributes


def is_deletion(header: str) -> bool:
    attributes = cookie_attributes(header)
    return attributes.get("max-age") == "0" or header.split(";", 1)[0].endswith("=")


def account_cookies_added(response: Any) -> list[str]:
    """Set-Cookie headers that store an account (not the ones deleting one)."""
    return [h for h in set_cookies(response) if "acct-" in cookie_name(h) and not is_deletion(h)]


class InProcessBrowser:
    """A browser talking to an in-process app through Flask's test client (fast, for fuzzing and tables)."""

    def __init__(self, app: Flask, *, base_url: str = "http://localhost") -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.base_url = base_url
        self.csrf_token: str | None = None

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, base_url=self.base_url, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        return self.client.post(path, data=data or {}, base_url=self.base_url, **kwargs)

    def open_home(self) -> TestResponse:
        response = self.get("/")
        match = CSRF_FIELD.search(response.get_data(as_text=True))
        assert match, "the landing page has no CSRF token"
        self.csrf_token = match.group(1)
        return response

    def start_login(self, service: str | None = "spotify", *, next_path: str | None = None) -> TestResponse:
        if self.csrf_token is None:
            self.open_home()
        form = {"csrf_token": self.csrf_token or ""}
        if next_path is not None:
            form["next"] = next_path
        return self.post(f"/connect/{service}" if service else "/connect", form)

    def return_url(self, login: TestResponse) -> str:
        assert login.status_code == 303, login.get_data(as_text=True)[:300]
        return parse_qs(urlsplit(login.headers["Location"]).query)["returnUrl"][0]

    def state(self, login: TestResponse) -> str:
        return parse_qs(urlsplit(self.return_url(login)).query)["state"][0]

    def callback(self, query: dict[str, str] | str) -> TestResponse:
        text = query if isinstance(query, str) else urlencode(query)
        return self.get(f"/callback?{text}")

    def cookie(self, base: str) -> str | None:
        found = self.client.get_cookie(base)
        return found.value if found is not None else None

    def set_cookie(self, name: str, value: str) -> None:
        self.client.set_cookie(name, value)

    def accounts(self) -> list[dict[str, Any]]:
        response = self.get("/api/session")
        if response.status_code == 401:
            return []
        assert response.status_code == 200, response.get_data(as_text=True)
        accounts: list[dict[str, Any]] = response.get_json()["accounts"]
        return accounts


@dataclass
class HostileUpstream:
    """A MusicAPI whose exchange answers whatever the test says: hostile JSON, odd status codes.

    Serve ``wsgi`` with tests.support.servers.ThreadedServer; ``calls`` counts exchange requests.
    """

    status: int = 200
    body: Any = field(default_factory=dict)
    calls: int = 0
    # When set, the body stops half-way until ``release`` is set (or this many seconds pass).
    stall_seconds: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.release.set()  # let a stalled answer from the previous test finish
            self.status, self.body, self.calls, self.stall_seconds = 200, {}, 0, 0.0
            self.release = threading.Event()

    def answer(self, user: dict[str, Any], status: int = 200) -> None:
        """Answer the next exchanges with ``{"integrationUser": user}``."""
        self.status = status
        self.body = {"integrationUser": user}

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/api/public/integrations/user/"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b"{}"]
        with self.lock:
            self.calls += 1
        payload = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        start_response(f"{self.status} Hostile", [("Content-Type", "application/json")])
        if self.stall_seconds:
            return self._stalling(payload, self.release, self.stall_seconds)
        return [payload]

    @staticmethod
    def _stalling(payload: bytes, release: threading.Event, seconds: float) -> Iterable[bytes]:
        half = len(payload) // 2
        yield payload[:half]
        release.wait(seconds)
        yield payload[half:]


def profile(**overrides: Any) -> dict[str, Any]:
    """An exchange answer's integrationUser with harmless values, overridden by the test."""
    user: dict[str, Any] = {
        "integrationUserId": "1163433669",
        "userUUID": str(uuid.uuid4()),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "imageUrl": "https://images.example/ada.jpg",
        "country": "pl",
        "authData": {"accessToken": SPOTIFY_LIKE_TOKEN},
        "authDataExpiresAt": None,
    }
    user.update(overrides)
    return user


@dataclass
class Element:
    tag: str
    attributes: dict[str, str | None]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs)))
        self._in_script = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def parse_html(text: str) -> tuple[list[Element], list[str]]:
    """Every element with its attributes, and any inline script or style text."""
    collector = _Collector()
    collector.feed(text)
    collector.close()
    return collector.elements, collector.script_text


def loaded_resources(text: str) -> list[str]:
    """URLs a browser fetches on its own while showing the page (scripts, styles, images, icons)."""
    elements, _ = parse_html(text)
    urls = []
    for element in elements:
        if element.tag in ("script", "img", "iframe", "audio", "video", "source", "embed") and element.attributes.get(
            "src"
        ):
            urls.append(element.attributes["src"] or "")
        if element.tag == "link" and element.attributes.get("href"):
            urls.append(element.attributes["href"] or "")
    return urls

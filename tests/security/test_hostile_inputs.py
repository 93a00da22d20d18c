"""A table of hostile requests across data64, state, next, cookies, headers and methods.

Each case starts from a browser with a Spotify login in progress and a genuine MusicAPI login
at hand, then sends one hostile request. Whatever it is: never a 500, the status the contract
names, nothing stored, and MusicAPI called only when a genuine-looking token reached the exchange.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from callback_app.cookies import Sealer
from callback_app.simulator import Simulator
from tests.support.inprocess import IN_PROCESS_URL, InProcessBrowser
from tests.support.musicapi import encode_data64
from tests.support.pages import account_cookies_added, cookie_name, error_code_in, is_deletion, set_cookies

from .conftest import OTHER_SECRET_KEY


@dataclass
class Scene:
    """A browser with a Spotify login in progress, and a genuine login for it from MusicAPI."""

    browser: InProcessBrowser
    simulator: Simulator
    state: str = ""
    document: dict[str, Any] = field(default_factory=dict)

    def login(self, **changes: Any) -> dict[str, Any]:
        """The genuine login document with top-level keys (or "a.b" paths) changed; None removes."""
        document = json.loads(json.dumps(self.document))
        for path, value in changes.items():
            *parents, key = path.split(".")
            target = document
            for parent in parents:
                target = target[parent]
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        return document

    def callback(self, data64: str | None = "genuine", state: str | None = "genuine", extra: str = "") -> TestResponse:
        query = {}
        if state is not None:
            query["state"] = self.state if state == "genuine" else state
        if data64 is not None:
            query["data64"] = encode_data64(self.document) if data64 == "genuine" else data64
        return self.browser.get(f"/callback?{urlencode(query)}{extra}")

    def with_login(self, **changes: Any) -> TestResponse:
        return self.callback(encode_data64(self.login(**changes)))

    def raw(self, payload: bytes) -> TestResponse:
        return self.callback(base64.b64encode(payload).decode())

    def start_with_next(self, next_path: str) -> TestResponse:
        self.state = parse_qs(urlsplit(self.browser.return_url(self.browser.start_login(next_path=next_path))).query)[
            "state"
        ][0]
        return self.callback()

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        return self.browser.post(path, data if data is not None else {"csrf_token": self.browser.csrf_token}, **kwargs)

    def without_cookie_jar(self) -> FlaskClient:
        """A client sending only the Cookie header given (the jar would pick cookies by the Host header)."""
        return self.browser.app.test_client(use_cookies=False)

    def other_browsers_state(self) -> str:
        other = InProcessBrowser(self.browser.app)
        return other.state(other.start_login("spotify"))


@dataclass(frozen=True)
class Case:
    id: str
    send: Callable[[Scene], TestResponse]
    status: int
    # The reference code the error page (or JSON body) names; None for answers that are not errors.
    code: str | None = None
    exchanges: int = 0
    stores: bool = False
    check: Callable[[Scene, TestResponse], None] | None = None


def location_is_home(scene: Scene, response: TestResponse) -> None:
    assert response.headers["Location"] == "/"


def return_url_is_ours(scene: Scene, response: TestResponse) -> None:
    return_url = parse_qs(urlsplit(response.headers["Location"]).query)["returnUrl"][0]
    assert return_url.startswith(f"{IN_PROCESS_URL}/callback?")


def no_login_started(scene: Scene, response: TestResponse) -> None:
    assert "Location" not in response.headers
    assert not any(cookie_name(h) == "flow" for h in set_cookies(response))


def account_cookie_deleted(scene: Scene, response: TestResponse) -> None:
    assert any(cookie_name(h) == "acct-spotify" and is_deletion(h) for h in set_cookies(response))


def request_id_replaced(scene: Scene, response: TestResponse) -> None:
    assert len(response.headers["X-Request-ID"]) == 32


def set_cookie(name: str, value: str) -> Callable[[Scene], None]:
    def plant(scene: Scene) -> None:
        scene.browser.set_cookie(name, value)

    return plant


def then(setup: Callable[[Scene], None], send: Callable[[Scene], TestResponse]) -> Callable[[Scene], TestResponse]:
    def run(scene: Scene) -> TestResponse:
        setup(scene)
        return send(scene)

    return run


def genuine_flow_cookie_tampered(scene: Scene) -> None:
    value = scene.browser.cookie("flow") or ""
    scene.browser.set_cookie("flow", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))


def csrf_cookie_as_flow_cookie(scene: Scene) -> None:
    scene.browser.set_cookie("flow", scene.browser.cookie("csrf") or "")


def no_flow_cookie(scene: Scene) -> None:
    scene.browser.client.delete_cookie("flow")


UUID = "e75315f0-d1e1-4063-b801-181ad1a954e1"

DATA64_CASES = [
    Case("data64 missing", lambda s: s.callback(data64=None), 400, "malformed_callback"),
    Case("data64 empty", lambda s: s.callback(data64=""), 400, "malformed_callback"),
    Case("data64 not base64", lambda s: s.callback(data64="!!!!"), 400, "malformed_callback"),
    Case("data64 one character", lambda s: s.callback(data64="a"), 400, "malformed_callback"),
    Case("data64 20 KB", lambda s: s.callback(data64="A" * 20_000), 400, "malformed_callback"),
    Case("data64 not JSON", lambda s: s.raw(b"not json at all"), 400, "malformed_callback"),
    Case("data64 a JSON array", lambda s: s.raw(b"[1, 2, 3]"), 400, "malformed_callback"),
    Case("data64 JSON with NaN", lambda s: s.raw(b'{"integration": NaN}'), 400, "malformed_callback"),
    Case("data64 nested 5000 deep", lambda s: s.raw(b"[" * 5000 + b"]" * 5000), 400, "malformed_callback"),
    Case("data64 invalid UTF-8", lambda s: s.raw(b'\xff\xfe{"a": 1}'), 400, "malformed_callback"),
    Case("data64 percent garbage", lambda s: s.callback(data64="%ZZ%"), 400, "malformed_callback"),
    Case("data64 non-ascii", lambda s: s.callback(data64="ÿÿÿÿ"), 400, "malformed_callback"),
    Case("data64 null bytes", lambda s: s.callback(data64="\x00\x00\x00\x00"), 400, "malformed_callback"),
    Case("integration missing", lambda s: s.with_login(integration=None), 400, "malformed_callback"),
    Case("integration a string", lambda s: s.with_login(integration="spotify"), 400, "malformed_callback"),
    Case("type missing", lambda s: s.with_login(**{"integration.type": None}), 400, "malformed_callback"),
    Case("type a number", lambda s: s.with_login(**{"integration.type": 7}), 400, "malformed_callback"),
    Case("type another service", lambda s: s.with_login(**{"integration.type": "tidal"}), 400, "service_mismatch"),
    Case("type not offered", lambda s: s.with_login(**{"integration.type": "evil<script>"}), 400, "service_mismatch"),
    Case(
        "type with a null byte", lambda s: s.with_login(**{"integration.type": "spotify\x00"}), 400, "service_mismatch"
    ),
    Case("status failed", lambda s: s.with_login(**{"authModel.status": "failed"}), 400, "login_failed"),
    Case("status missing", lambda s: s.with_login(**{"authModel.status": None}), 400, "malformed_callback"),
    Case("status upper case", lambda s: s.with_login(**{"authModel.status": "SUCCESS"}), 400, "login_failed"),
    Case("error an object", lambda s: s.with_login(**{"authModel.error": {"x": 1}}), 400, "malformed_callback"),
    Case("one-time token missing", lambda s: s.with_login(oneTimeToken=None), 400, "malformed_callback"),
    Case(
        "one-time token with CRLF",
        lambda s: s.with_login(oneTimeToken="abcdefgh\r\nX-Evil: 1"),
        400,
        "malformed_callback",
    ),
    Case("one-time token too short", lambda s: s.with_login(oneTimeToken="abc"), 400, "malformed_callback"),
    Case("one-time token 600 chars", lambda s: s.with_login(oneTimeToken="a" * 600), 400, "malformed_callback"),
    Case("one-time token a number", lambda s: s.with_login(oneTimeToken=12345678), 400, "malformed_callback"),
    Case(
        "user uuid path traversal", lambda s: s.with_login(integrationUserUUID="../../admin"), 400, "malformed_callback"
    ),
    Case(
        "user uuid with a query", lambda s: s.with_login(integrationUserUUID=f"{UUID}?x=1"), 400, "malformed_callback"
    ),
    Case("user uuid missing", lambda s: s.with_login(integrationUserUUID=None), 400, "malformed_callback"),
    Case(
        "data64 twice, junk first",
        lambda s: s.callback(extra="&data64=" + encode_data64(s.document), data64="x"),
        400,
        "malformed_callback",
    ),
    Case(
        "unknown one-time token",
        lambda s: s.with_login(oneTimeToken=str(uuid.uuid4())),
        502,
        "upstream_refused",
        exchanges=1,
    ),
    Case(
        "token of another user",
        lambda s: s.with_login(integrationUserUUID=str(uuid.uuid4())),
        502,
        "upstream_refused",
        exchanges=1,
    ),
]

STATE_CASES = [
    Case("state missing", lambda s: s.callback(state=None), 400, "malformed_callback"),
    Case("state empty", lambda s: s.callback(state=""), 400, "malformed_callback"),
    Case("state random", lambda s: s.callback(state="abc"), 400, "malformed_callback"),
    Case(
        "state with a forged signature",
        lambda s: s.callback(state=s.state.rsplit(".", 1)[0] + ".forged"),
        400,
        "malformed_callback",
    ),
    Case("state of another browser", lambda s: s.callback(state=s.other_browsers_state()), 400, "state_mismatch"),
    Case(
        "state signed by another key",
        lambda s: s.callback(state=Sealer([OTHER_SECRET_KEY], clock=time.time).sign("state", "x")),
        400,
        "malformed_callback",
    ),
    Case("state 300 chars", lambda s: s.callback(state="a" * 300), 400, "malformed_callback"),
    Case("state non-ascii", lambda s: s.callback(state="ßtäte"), 400, "malformed_callback"),
    Case("csrf token as state", lambda s: s.callback(state=s.browser.csrf_token), 400, "malformed_callback"),
    Case(
        "state twice, forged first",
        lambda s: s.callback(state="forged", extra=f"&state={s.state}"),
        400,
        "malformed_callback",
    ),
]

NEXT_CASES = [
    Case(
        f"next {value!r}",
        lambda s, v=value: s.start_with_next(v),  # type: ignore[misc]
        303,
        exchanges=1,
        stores=True,
        check=location_is_home,
    )
    for value in (
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/%2F%2Fevil",
        "/\t/evil",
        "javascript:x",
    )
]

COOKIE_CASES = [
    Case("flow cookie tampered", then(genuine_flow_cookie_tampered, Scene.callback), 400, "flow_missing"),
    Case("flow cookie empty", then(set_cookie("flow", ""), Scene.callback), 400, "flow_missing"),
    Case("flow cookie 5000 chars", then(set_cookie("flow", "A" * 5000), Scene.callback), 400, "flow_missing"),
    Case("flow cookie non-ascii", then(set_cookie("flow", "ünïcode"), Scene.callback), 400, "flow_missing"),
    Case("csrf cookie as flow cookie", then(csrf_cookie_as_flow_cookie, Scene.callback), 400, "flow_missing"),
    Case("no flow cookie", then(no_flow_cookie, Scene.callback), 400, "flow_missing"),
    Case(
        "account cookie garbage",
        then(set_cookie("acct-spotify", "garbage.garbage.garbage"), lambda s: s.browser.get("/")),
        200,
        check=account_cookie_deleted,
    ),
    Case(
        "account cookie 10 KB",
        then(set_cookie("acct-spotify", "A" * 10_000), lambda s: s.browser.get("/api/session")),
        401,
        "not_connected",
        check=account_cookie_deleted,
    ),
    Case(
        "csrf cookie garbage",
        then(set_cookie("csrf", "garbage"), lambda s: s.post("/connect/spotify")),
        400,
        "csrf_token",
    ),
]

HEADER_CASES = [
    Case(
        "origin of another site",
        lambda s: s.post("/connect/spotify", headers={"Origin": "https://evil.example"}),
        400,
        "foreign_origin",
    ),
    # "Origin: null" is what our own no-referrer error page sends, so only the token decides.
    Case(
        "origin null, forged token",
        lambda s: s.post("/connect/spotify", {"csrf_token": "x"}, headers={"Origin": "null"}),
        400,
        "csrf_token",
    ),
    # A post for another host name (the platform's own, or a forged one) starts nothing.
    Case(
        "host header",
        lambda s: s.without_cookie_jar().post(
            "/connect/spotify",
            data={"csrf_token": s.browser.csrf_token},
            headers={"Host": "evil.example", "Cookie": f"csrf={s.browser.cookie('csrf')}"},
        ),
        421,
        "wrong_host",
        check=no_login_started,
    ),
    Case(
        "host header with a port",
        lambda s: s.without_cookie_jar().post(
            "/connect/spotify",
            data={"csrf_token": s.browser.csrf_token},
            headers={"Host": "localhost:8080", "Cookie": f"csrf={s.browser.cookie('csrf')}"},
        ),
        421,
        "wrong_host",
        check=no_login_started,
    ),
    Case(
        "forwarded host",
        lambda s: s.post("/connect/spotify", headers={"X-Forwarded-Host": "evil.example"}),
        303,
        check=return_url_is_ours,
    ),
    Case(
        "request id 10 KB",
        lambda s: s.browser.get("/healthz", headers={"X-Request-ID": "x" * 10_000}),
        200,
        check=request_id_replaced,
    ),
    Case(
        "JSON instead of a form",
        lambda s: s.browser.client.post(
            "/connect/spotify", json={"csrf_token": s.browser.csrf_token}, base_url=s.browser.base_url
        ),
        400,
        "csrf_token",
    ),
    Case("body over 16 KB", lambda s: s.post("/connect/spotify", {"csrf_token": "x" * 20_000}), 413, "bad_request"),
    Case(
        "too many form parts",
        lambda s: s.post("/connect/spotify", {f"f{i}": "x" for i in range(50)}, content_type="multipart/form-data"),
        413,
        "bad_request",
    ),
]

METHOD_CASES = [
    Case("GET connect", lambda s: s.browser.get("/connect/spotify"), 405, "method_not_allowed"),
    Case("PUT callback", lambda s: s.browser.client.put("/callback"), 405, "method_not_allowed"),
    Case("POST callback", lambda s: s.post("/callback"), 405, "method_not_allowed"),
    Case("DELETE logout", lambda s: s.browser.client.delete("/logout"), 405, "method_not_allowed"),
    Case("GET logout", lambda s: s.browser.get("/logout"), 405, "method_not_allowed"),
    Case("GET disconnect", lambda s: s.browser.get("/disconnect/spotify"), 405, "method_not_allowed"),
    Case("TRACE home", lambda s: s.browser.client.open("/", method="TRACE"), 405, "method_not_allowed"),
    Case("PATCH session api", lambda s: s.browser.client.patch("/api/session"), 405, "method_not_allowed"),
    Case("connect an unknown service", lambda s: s.post("/connect/myspace"), 404, "unknown_service"),
    Case("connect a traversal", lambda s: s.post("/connect/..%2F..%2Fetc"), 404, "not_found"),
    Case("disconnect an unknown service", lambda s: s.post("/disconnect/myspace"), 404, "unknown_service"),
]

CASES = DATA64_CASES + STATE_CASES + NEXT_CASES + COOKIE_CASES + HEADER_CASES + METHOD_CASES


def test_the_table_is_broad() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 50


def code_of(response: TestResponse) -> str | None:
    """The error code an answer names: in small print on a page, or as JSON's "error"."""
    if response.mimetype == "application/json":
        return (response.get_json() or {}).get("error")
    return error_code_in(response.get_data(as_text=True)) if response.status_code >= 400 else None


@pytest.mark.filterwarnings("ignore:The '.*' cookie is too large")
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request(fast_app: Flask, simulator: Simulator, case: Case) -> None:
    browser = InProcessBrowser(fast_app)
    scene = Scene(browser, simulator)
    scene.state = browser.state(browser.start_login("spotify"))
    scene.document = simulator.issue_login("spotify")

    response = case.send(scene)

    assert response.status_code == case.status, response.get_data(as_text=True)[:2000]
    assert code_of(response) == case.code
    assert len(simulator.calls()) == case.exchanges
    if not case.stores:
        assert not account_cookies_added(response)
        assert browser.accounts() == []
    if case.check is not None:
        case.check(scene, response)
    if response.mimetype == "text/html":
        assert scene.document["oneTimeToken"] not in response.get_data(as_text=True)

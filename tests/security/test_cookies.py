"""Cookies: sealed, bound to their name and purpose, rotated, timed out, and dropped when bad."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from itsdangerous import TimestampSigner

from callback_app.context import EXTENSION, Parts
from callback_app.cookies import Sealer, encryption_key
from callback_app.errors import CookieError
from callback_app.session.base import ABSOLUTE_LIFETIME, IDLE_TIMEOUT
from callback_app.simulator import Simulator
from tests.conftest import MakeApp
from tests.support.clock import FakeClock
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import HostileUpstream, encode_data64, login_document, profile
from tests.support.pages import account_cookies_added, cookie_attributes, cookie_name, is_deletion, set_cookies
from tests.support.servers import TEST_SECRET_KEY, ThreadedServer
from tests.support.user import User

from .conftest import OTHER_SECRET_KEY, HttpsDeployment

DAY = 24 * 3600


def connect(browser: InProcessBrowser, simulator: Simulator, service: str = "spotify") -> None:
    state = browser.state(browser.start_login(service))
    response = browser.callback({"state": state, "data64": encode_data64(simulator.issue_login(service))})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def connect_via(browser: InProcessBrowser, service: str = "spotify") -> None:
    """Connect through a hostile upstream (whose answer the test set)."""
    state = browser.state(browser.start_login(service))
    response = browser.callback({"state": state, "data64": encode_data64(login_document(service))})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def test_account_cookies_hide_the_tokens_and_profile(browser: InProcessBrowser, simulator: Simulator) -> None:
    connect(browser, simulator)
    [account] = browser.accounts()
    sealed = browser.cookie("acct-spotify")
    assert sealed is not None

    body = sealed.split(".")[0]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    for secret in (account["authData"]["accessToken"], account["authData"]["refreshToken"], account["email"]):
        assert secret not in sealed
        assert secret[:16].encode() not in raw


@pytest.mark.parametrize(
    ("sealed_as", "opened_as"),
    [
        (("flow", "flow"), ("acct-spotify", "account")),
        (("acct-spotify", "account"), ("acct-tidal", "account")),
        (("csrf", "csrf"), ("flow", "flow")),
        (("flow-spent", "spent"), ("flow", "flow")),
        (("acct-spotify", "account"), ("acct-spotify", "flow")),
    ],
)
def test_a_sealed_value_opens_only_under_its_own_name_and_purpose(
    sealed_as: tuple[str, str], opened_as: tuple[str, str]
) -> None:
    sealer = Sealer([TEST_SECRET_KEY], clock=time.time)
    value = sealer.seal(*sealed_as, {"st": "x", "s": "spotify"})

    with pytest.raises(CookieError):
        sealer.open(*opened_as, value, max_age=3600)


def test_a_flow_cookie_replayed_as_a_session_cookie_is_not_a_session(
    browser: InProcessBrowser, simulator: Simulator
) -> None:
    browser.start_login("spotify")
    flow = browser.cookie("flow")
    assert flow is not None
    browser.set_cookie("acct-spotify", flow)

    response = browser.get("/api/session")

    assert response.status_code == 401
    assert any(cookie_name(h) == "acct-spotify" and is_deletion(h) for h in set_cookies(response))


def tamper(value: str) -> str:
    middle = len(value) // 2
    return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]


def test_a_tampered_account_cookie_is_deleted_with_the_same_attributes_and_means_not_connected(
    browser: InProcessBrowser, simulator: Simulator
) -> None:
    connect(browser, simulator)
    sealed = browser.cookie("acct-spotify")
    assert sealed is not None
    browser.set_cookie("acct-spotify", tamper(sealed))

    response = browser.get("/")

    assert response.status_code == 200
    [deletion] = [h for h in set_cookies(response) if cookie_name(h) == "acct-spotify"]
    attributes = cookie_attributes(deletion)
    assert is_deletion(deletion)
    assert attributes["path"] == "/"
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert "domain" not in attributes
    assert browser.accounts() == []


# The sealed format, spelled out: an account cookie's name and purpose, as the signature's salt
# and the encryption's associated data.
ACCOUNT_CONTEXT = json.dumps(["seal", "account", "acct-spotify"], separators=(",", ":"))


class _SignerAt(TimestampSigner):
    """itsdangerous' signer on the app's clock, so a forged value is neither old nor from the future."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__([TEST_SECRET_KEY], salt=f"callback_app:{ACCOUNT_CONTEXT}", digest_method=hashlib.sha256)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


class AccountCookieForger:
    """Someone holding SECRET_KEY: makes authentic ``acct-spotify`` values around any encrypted bytes."""

    def __init__(self, parts: Parts) -> None:
        self.signer = _SignerAt(parts.clock)
        self.aead = AESGCM(encryption_key(TEST_SECRET_KEY, b"callback_app cookie encryption v1"))
        genuine = self.signer.unsign(parts.sealer.seal("acct-spotify", "account", {"s": "spotify"}))
        self.key_id = base64.urlsafe_b64decode(genuine + b"=" * (-len(genuine) % 4))[:4]

    def sign(self, raw: bytes) -> str:
        return self.signer.sign(base64.urlsafe_b64encode(raw).rstrip(b"=")).decode()

    def encrypted(self, framed: bytes) -> str:
        nonce = os.urandom(12)
        return self.sign(self.key_id + nonce + self.aead.encrypt(nonce, framed, ACCOUNT_CONTEXT.encode()))


def test_an_authentic_but_undecryptable_cookie_is_treated_as_absent(fast_app: Flask) -> None:
    parts: Parts = fast_app.extensions[EXTENSION]
    forger = AccountCookieForger(parts)
    assert parts.sealer.open("acct-spotify", "account", forger.encrypted(b'j{"x":1}'), max_age=60).payload == {
        "x": 1
    }, "the forger makes values the app accepts as its own"
    # Inflates to 2 MB: far past the 64 KB plaintext cap, yet small enough to pass the length check.
    bomb = b"z" + zlib.compress(b"[" * (2 * 1024 * 1024), 9)
    forged = {
        "random bytes": forger.sign(forger.key_id + os.urandom(64)),
        "unknown key id": forger.sign(os.urandom(4) + os.urandom(64)),
        "zip bomb": forger.encrypted(bomb),
        "unknown framing": forger.encrypted(b"x{}"),
        "not a dict": forger.encrypted(b"j[1,2]"),
        "not JSON": forger.encrypted(b"j{not json"),
        "not a record": forger.encrypted(b'j{"x":1}'),
    }

    for kind, value in forged.items():
        browser = InProcessBrowser(fast_app)
        assert len(value) < 4000, kind
        browser.set_cookie("acct-spotify", value)

        response = browser.get("/api/session")

        assert response.status_code == 401, kind
        assert any(cookie_name(h) == "acct-spotify" and is_deletion(h) for h in set_cookies(response)), kind


class TestKeyRotation:
    def test_an_old_key_in_the_fallbacks_still_opens_and_the_cookie_is_resealed_under_the_new_key(
        self, make_app: MakeApp, simulator: Simulator
    ) -> None:
        before, _ = make_app(secret_key=OTHER_SECRET_KEY)
        browser = InProcessBrowser(before)
        connect(browser, simulator)
        old_cookie = browser.cookie("acct-spotify")

        rotated, clock = make_app(secret_key=TEST_SECRET_KEY, secret_key_fallbacks=(OTHER_SECRET_KEY,))
        browser.app, browser.client.application = rotated, rotated
        response = browser.get("/api/session")

        assert response.status_code == 200
        [resealed] = account_cookies_added(response)
        new_cookie = browser.cookie("acct-spotify")
        assert new_cookie not in (None, old_cookie)
        current_key_only = Sealer([TEST_SECRET_KEY], clock=clock)
        assert current_key_only.open("acct-spotify", "account", new_cookie or "", max_age=60).payload
        with pytest.raises(CookieError):
            current_key_only.open("acct-spotify", "account", old_cookie or "", max_age=60)
        assert resealed

    def test_a_retired_key_opens_nothing(self, make_app: MakeApp, simulator: Simulator) -> None:
        before, _ = make_app(secret_key=OTHER_SECRET_KEY)
        browser = InProcessBrowser(before)
        connect(browser, simulator)

        after, _ = make_app(secret_key=TEST_SECRET_KEY)
        browser.app, browser.client.application = after, after
        response = browser.get("/api/session")

        assert response.status_code == 401
        assert any(cookie_name(h) == "acct-spotify" and is_deletion(h) for h in set_cookies(response))


Built = tuple[InProcessBrowser, FakeClock, HostileUpstream]


class TestLifetimes:
    @pytest.fixture
    def app_with_upstream(
        self, make_app: MakeApp, hostile_upstream: tuple[HostileUpstream, ThreadedServer]
    ) -> Callable[..., Built]:
        def build(**overrides: object) -> Built:
            upstream, server = hostile_upstream
            app, clock = make_app(musicapi_api_url=f"{server.url}/api", **overrides)
            return InProcessBrowser(app), clock, upstream

        return build

    def test_an_idle_session_ends_after_a_week(self, app_with_upstream: Callable[..., Built]) -> None:
        browser, clock, upstream = app_with_upstream()
        upstream.answer(profile(authDataExpiresAt=None))
        connect_via(browser)
        clock.advance(IDLE_TIMEOUT - 60)
        assert len(browser.accounts()) == 1, "used within the week: still connected"
        clock.advance(IDLE_TIMEOUT - 60)
        assert len(browser.accounts()) == 1, "each visit slides the idle window"

        clock.advance(IDLE_TIMEOUT + 1)
        response = browser.get("/api/session")

        assert response.status_code == 401
        assert any(cookie_name(h) == "acct-spotify" and is_deletion(h) for h in set_cookies(response))

    def test_an_active_session_still_ends_after_thirty_days(self, app_with_upstream: Callable[..., Built]) -> None:
        browser, clock, upstream = app_with_upstream()
        upstream.answer(profile(authDataExpiresAt=None))
        connect_via(browser)
        for _ in range(4):
            clock.advance(6 * DAY)
            response = browser.get("/api/session")
            assert response.status_code == 200
            for header in account_cookies_added(response):
                max_age = int(cookie_attributes(header)["max-age"])
                assert max_age <= ABSOLUTE_LIFETIME - 4 * 6 * DAY + 6 * DAY

        clock.advance(ABSOLUTE_LIFETIME - 4 * 6 * DAY + 1)
        assert browser.get("/api/session").status_code == 401

    def test_an_expired_token_keeps_the_account_marked_expired_until_the_session_ends(
        self, app_with_upstream: Callable[..., Built]
    ) -> None:
        browser, clock, upstream = app_with_upstream()
        expires_in = 2 * 3600
        upstream.answer(profile(authDataExpiresAt=int((clock() + expires_in) * 1000)))
        connect_via(browser)
        [fresh] = browser.accounts()
        assert fresh["expired"] is False

        clock.advance(expires_in + 1)
        [expired] = browser.accounts()

        assert expired["expired"] is True
        assert expired["integrationUserUUID"] == fresh["integrationUserUUID"]
        clock.advance(IDLE_TIMEOUT + 1)
        assert browser.get("/api/session").status_code == 401, "the idle limit still ends it"


class TestOverHttps:
    def test_every_cookie_is_host_prefixed_secure_httponly_lax_and_domainless(
        self, https_deployment: HttpsDeployment, simulator: Simulator
    ) -> None:
        user = User(https_deployment.url, simulator)
        user.http.verify = https_deployment.ca_bundle
        user.http.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment wins over verify
        home = user.open_home()
        login = user.start_login("spotify")
        done = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("spotify"))))
        assert done.status_code == 303
        headers = set_cookies(home) + set_cookies(login) + set_cookies(done) + set_cookies(user.get("/"))

        assert {cookie_name(h) for h in headers} >= {"__Host-csrf", "__Host-flow", "__Host-acct-spotify"}
        for header in headers:
            attributes = cookie_attributes(header)
            assert cookie_name(header).startswith("__Host-"), header
            assert "secure" in attributes, header
            assert "httponly" in attributes, header
            assert attributes["samesite"] == "Lax", header
            assert attributes["path"] == "/", header
            assert "domain" not in attributes, header
        assert user.connected_services() == ["spotify"]

    def test_a_cookie_without_the_prefix_is_ignored_over_https(
        self, https_deployment: HttpsDeployment, simulator: Simulator
    ) -> None:
        # A sibling subdomain can plant "acct-spotify" (no prefix) but never "__Host-acct-spotify".
        planted = Sealer([TEST_SECRET_KEY], clock=time.time).seal("acct-spotify", "account", {"s": "spotify"})
        response = requests.get(
            f"{https_deployment.url}/api/session",
            cookies={"acct-spotify": planted},
            verify=https_deployment.ca_bundle,
            timeout=10,
        )

        assert response.status_code == 401
        assert json.loads(response.text) == {"error": "not_connected"}

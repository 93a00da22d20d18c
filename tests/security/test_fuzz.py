"""Property-based fuzzing of the callback, cookie opening, ``next`` and data64 decoding.

The default "ci" profile runs a few hundred examples per property; ``HYPOTHESIS_PROFILE=fuzz``
(``make fuzz``) runs thousands. Properties: never a 500, nothing stored, and no MusicAPI call
for a callback that is not bound to this browser's flow.
"""

from __future__ import annotations

import base64
import json
import os
import string
import time
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from hypothesis import example, given, settings
from hypothesis import strategies as st

from callback_app.cookies import Sealer
from callback_app.errors import CallbackError, CookieError
from callback_app.musicapi.protocol import KNOWN_SERVICES, LoginResult, decode_data64
from callback_app.security import safe_next
from callback_app.simulator import Simulator
from tests.support.inprocess import InProcessBrowser
from tests.support.pages import account_cookies_added, is_deletion, set_cookies
from tests.support.servers import TEST_SECRET_KEY

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
uuids = st.uuids().map(str)
services = st.sampled_from([*KNOWN_SERVICES, "evil", ""]) | st.text(max_size=20)


@st.composite
def login_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """Documents shaped like MusicAPI's login result, with any leaf replaced by something hostile."""
    document: dict[str, Any] = {
        "integration": draw(st.fixed_dictionaries({"type": services, "returnUrl": st.text(max_size=30)}) | json_values),
        "authModel": draw(
            st.fixed_dictionaries(
                {
                    "uuid": uuids,
                    "status": st.sampled_from(["success", "failed", "SUCCESS"]) | st.text(max_size=10),
                    "error": st.none() | st.text(max_size=20) | json_values,
                }
            )
            | json_values
        ),
        "integrationUserUUID": draw(uuids | st.text(max_size=40) | json_values),
        "oneTimeToken": draw(uuids | st.text(max_size=40) | json_values),
    }
    for key in draw(st.sets(st.sampled_from(sorted(document)))):
        del document[key]
    document.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3)))
    return document


def _standard(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _urlsafe(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


# Every way MusicAPI's data64 has been seen to arrive.
ENCODINGS = (
    _standard,
    lambda raw: _standard(raw).rstrip("="),
    _urlsafe,
    lambda raw: _urlsafe(raw).rstrip("="),
    lambda raw: quote(_standard(raw), safe=""),
    lambda raw: _standard(raw).replace("+", " "),
)


def encoded(payloads: st.SearchStrategy[bytes]) -> st.SearchStrategy[str]:
    return st.tuples(payloads, st.sampled_from(ENCODINGS)).map(lambda pair: pair[1](pair[0]))


data64_values = st.one_of(
    st.text(max_size=200),
    encoded(st.binary(max_size=300)),
    encoded(json_values.map(lambda value: json.dumps(value).encode())),
    encoded(login_shaped().map(lambda document: json.dumps(document).encode())),
)
cookie_text = st.text(alphabet=string.ascii_letters + string.digits + "-_.=+/%!~*'()", max_size=300)


def assert_nothing_stored(response: Any) -> None:
    assert response.status_code != 500
    assert not account_cookies_added(response)


@given(state=st.none() | st.text(max_size=300), data64=data64_values, flow_cookie=st.none() | cookie_text)
@example(state="", data64="", flow_cookie=None)
def test_fuzz_unbound_callbacks_are_refused_without_calling_musicapi(
    fast_app: Flask, simulator: Simulator, state: str | None, data64: str, flow_cookie: str | None
) -> None:
    browser = InProcessBrowser(fast_app)
    if flow_cookie is not None:
        browser.set_cookie("flow", flow_cookie)
    calls = len(simulator.calls())
    query = {"data64": data64} if state is None else {"state": state, "data64": data64}

    response = browser.callback(query)

    assert response.status_code == 400
    assert all(is_deletion(header) for header in set_cookies(response)), "an unbound callback stores nothing"
    assert len(simulator.calls()) == calls


@given(data64=data64_values)
def test_fuzz_bound_callbacks_with_hostile_data64_never_fail_open(
    fast_app: Flask, simulator: Simulator, data64: str
) -> None:
    browser = InProcessBrowser(fast_app)
    state = browser.state(browser.start_login("spotify"))
    calls = len(simulator.calls())

    response = browser.callback({"state": state, "data64": data64})

    assert_nothing_stored(response)
    spent = len(simulator.calls()) - calls
    assert (response.status_code, spent) in ((400, 0), (502, 1)), (response.status_code, spent)
    assert urlsplit(response.headers.get("Location", "/")).netloc == ""


@pytest.fixture(scope="module")
def browser_mid_login(fast_app: Flask) -> InProcessBrowser:
    """One browser with a login in progress, shared by examples that can never bind to it (random states)."""
    browser = InProcessBrowser(fast_app)
    browser.start_login("spotify")
    return browser


@given(raw_query=st.text(max_size=400))
def test_fuzz_raw_callback_query_strings(
    browser_mid_login: InProcessBrowser, simulator: Simulator, raw_query: str
) -> None:
    browser = browser_mid_login
    calls = len(simulator.calls())

    response = browser.get("/callback?" + quote(raw_query, safe="=&%+"))

    assert_nothing_stored(response)
    assert response.status_code == 400
    assert len(simulator.calls()) == calls


@pytest.mark.filterwarnings("ignore:The '.*' cookie is too large")
@settings(max_examples=max(1, settings.default.max_examples // 2))  # two page loads per example
@given(
    cookies=st.dictionaries(
        st.sampled_from(["acct-spotify", "acct-tidal", "flow", "flow-spent", "csrf", "sid", "attempt", "notice"]),
        cookie_text,
    )
)
def test_fuzz_hostile_cookies_mean_not_connected(fast_app: Flask, cookies: dict[str, str]) -> None:
    browser = InProcessBrowser(fast_app)
    for name, value in cookies.items():
        browser.set_cookie(name, value)

    home = browser.get("/")
    session = browser.get("/api/session")

    assert home.status_code == 200
    assert session.status_code == 401
    assert_nothing_stored(home)


SEALER = Sealer([TEST_SECRET_KEY], clock=time.time)
GENUINE = SEALER.seal("acct-spotify", "account", {"s": "spotify", "a": {"accessToken": "BQ" + "x" * 300}})


@given(name=st.text(max_size=30), purpose=st.text(max_size=30), value=st.text(max_size=5000))
def test_fuzz_opening_arbitrary_text_only_ever_fails_cleanly(name: str, purpose: str, value: str) -> None:
    with pytest.raises(CookieError):
        SEALER.open(name, purpose, value, max_age=3600)


@given(data=st.data())
def test_fuzz_any_change_to_a_sealed_cookie_is_detected(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(GENUINE) - 1))
    replacement = data.draw(st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=0, max_size=3))
    tampered = GENUINE[:position] + replacement + GENUINE[position + 1 :]
    if tampered == GENUINE:
        return

    with pytest.raises(CookieError):
        SEALER.open("acct-spotify", "account", tampered, max_age=3600)


ALLOWED_ORIGINS = ("https://www.example.com", "http://127.0.0.1:5050")
ALLOWED_ENDPOINTS = {("https", "www.example.com", 443), ("http", "127.0.0.1", 5050)}
# Text that looks like URLs on and around the allowed origins, for the fuzz to bend.
url_like = st.one_of(
    st.text(max_size=600),
    st.tuples(
        st.sampled_from(["https://", "http://", "//", "/", "\\\\", "https:/", "", "javascript:"]),
        st.sampled_from(["www.example.com", "127.0.0.1:5050", "www.example.com.evil.com", "evil.com", ""]),
        st.text(max_size=60),
    ).map("".join),
)


@given(value=url_like)
@example(value="/\t/evil.example")
@example(value="/%2F%2Fevil.example")
@example(value="https://www.example.com@evil.example/")
@example(value="https://www.example.com.evil.com/")
def test_fuzz_next_is_a_local_path_or_on_an_allowed_origin(value: str) -> None:
    result = safe_next(value, ALLOWED_ORIGINS)

    assert result in ("/", value)
    assert not any(character in result for character in "\\\t\r\n\x00 ")
    parts = urlsplit(result)
    if parts.netloc:
        default_port = {"https": 443, "http": 80}.get(parts.scheme)
        assert (parts.scheme, parts.hostname, parts.port or default_port) in ALLOWED_ENDPOINTS, result
        assert "@" not in parts.netloc
    else:
        assert result.startswith("/")
        assert not result.startswith("//")
        assert not parts.scheme


@given(value=url_like)
def test_fuzz_next_without_allowed_origins_is_always_a_local_path(value: str) -> None:
    result = safe_next(value, ())

    assert result in ("/", value)
    parts = urlsplit(result)
    assert result.startswith("/")
    assert not result.startswith("//")
    assert not parts.scheme
    assert not parts.netloc


@given(raw=data64_values)
def test_fuzz_decoding_data64_returns_a_login_or_a_callback_error(raw: str) -> None:
    outcome: LoginResult | CallbackError
    try:
        outcome = decode_data64(raw)
    except CallbackError as error:
        outcome = error

    assert isinstance(outcome, LoginResult) or outcome.status == 400


def test_fuzz_profile_is_chosen_by_the_environment() -> None:
    expected = 5000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 200
    assert settings.default.max_examples == expected

"""MusicAPI knowledge: login URLs, every data64 seen in the wild, and an exchange client that fails cleanly."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from callback_app.errors import (
    CallbackError,
    LoginFailed,
    MalformedCallback,
    UpstreamError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from callback_app.musicapi import (
    MAX_DATA64_LENGTH,
    MAX_IMAGE_URL,
    MAX_PROFILE_TEXT,
    MAX_RESPONSE_BYTES,
    IntegrationUser,
    LoginResult,
    MusicApiClient,
    _PooledHTTPConnection,
    _PooledHTTPSConnection,
    decode_data64,
    login_url,
    parse_integration_user,
    service_name,
)
from callback_app.simulator import Simulator
from tests.support.clock import FakeClock
from tests.support.servers import ThreadedServer, free_port

USER_UUID = "e75315f0-d1e1-4063-b801-181ad1a954e1"
ONE_TIME_TOKEN = "e50cc5e7-254a-4cff-a000-457ae53a059d"
AUTH_URL = "https://app.musicapi.com"


def login_document(**changes: Any) -> dict[str, Any]:
    """data64's JSON as MusicAPI sends it, with '>' and '?' so its base64 holds '+' and '/'."""
    document: dict[str, Any] = {
        "integration": {"type": "spotify", "returnUrl": "https://api.musicapi.com/callback/spotify?>>>???~~~"},
        "authModel": {"uuid": "6fe4e706-a7d5-4d29-8f0e-1c4e8b0d9a11", "status": "success", "error": None},
        "integrationUserUUID": USER_UUID,
        "oneTimeToken": ONE_TIME_TOKEN,
    }
    document.update(changes)
    return document


def encode(document: Any, *, urlsafe: bool = False, padding: bool = True, ascii_only: bool = True) -> str:
    raw = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8")
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode("ascii")
    return text if padding else text.rstrip("=")


def encode_bytes(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


STANDARD = encode(login_document())


def test_the_sample_document_exercises_every_alphabet_character() -> None:
    assert "+" in STANDARD
    assert "/" in STANDARD
    assert STANDARD.endswith("=")


# -- login URLs -------------------------------------------------------------------------------------------------


def test_the_login_url_of_one_service() -> None:
    url = login_url(AUTH_URL, "my-app", "https://app.example.com/callback", "spotify")

    assert url == (
        "https://app.musicapi.com/my-app/spotify/auth"
        "?returnUrl=https%3A%2F%2Fapp.example.com%2Fcallback&requestOneTimeToken=true&forwardFailures=true"
    )


def test_the_login_url_of_the_service_chooser() -> None:
    url = login_url(AUTH_URL, "my-app", "https://app.example.com/callback")

    assert url.startswith("https://app.musicapi.com/my-app?")
    assert parse_qs(urlsplit(url).query) == {
        "returnUrl": ["https://app.example.com/callback"],
        "requestOneTimeToken": ["true"],
        "forwardFailures": ["true"],
    }


@pytest.mark.parametrize(
    "return_url",
    [
        "https://app.example.com/callback?state=abc",
        "https://app.example.com/callback?state=a+b/c=&next=%2Fhome&x=1",
        "https://app.example.com/callback?state=zoë#frag",
        "http://127.0.0.1:5000/callback?state=IjEi.ZVPx.AbC-_",
    ],
)
@pytest.mark.parametrize("service", ["tidal", None])
def test_the_return_url_survives_whole_with_its_own_query(return_url: str, service: str | None) -> None:
    url = login_url(AUTH_URL, "my-app", return_url, service)
    query = urlsplit(url).query

    assert parse_qs(query)["returnUrl"] == [return_url]
    assert "&x=" not in query
    assert "&next=" not in query
    assert "#" not in url
    assert query.count("=") == 3


@pytest.mark.parametrize(
    ("slug", "service", "expected_path"),
    [
        ("my-app", "appleMusic", "/my-app/appleMusic/auth"),
        ("a/b", "x?y", "/a%2Fb/x%3Fy/auth"),
        ("a b", None, "/a%20b"),
    ],
)
def test_slug_and_service_are_path_encoded(slug: str, service: str | None, expected_path: str) -> None:
    url = login_url(AUTH_URL, slug, "https://app.example.com/callback", service)

    assert urlsplit(url).path == expected_path


@pytest.mark.parametrize(
    ("service", "expected"), [("spotify", "Spotify"), ("appleMusic", "Apple Music"), ("newThing", "newThing")]
)
def test_service_names(service: str, expected: str) -> None:
    assert service_name(service) == expected


# -- data64: every variant seen in the wild decodes -------------------------------------------------------------


def plus_as_space(text: str) -> str:
    return text.replace("+", " ")


def double_plus_document() -> dict[str, Any]:
    """A document (non-ASCII, as an error text or unknown field may be) whose base64 holds '++'."""
    for prefix in ("", "x", "xx"):
        document = login_document()
        document["integration"]["label"] = prefix + "?\uff1f"
        if "++" in encode(document, ascii_only=False):
            return document
    raise AssertionError("no alignment gives '++'")


VARIANTS: list[tuple[str, str]] = [
    ("standard", STANDARD),
    ("standard-unpadded", STANDARD.rstrip("=")),
    ("urlsafe", encode(login_document(), urlsafe=True)),
    ("urlsafe-unpadded", encode(login_document(), urlsafe=True, padding=False)),
    ("plus-as-space", plus_as_space(STANDARD)),
    ("plus-as-space-unpadded", plus_as_space(STANDARD.rstrip("="))),
    ("percent-encoded", quote(STANDARD, safe="")),
    ("percent-encoded-urlsafe", quote(encode(login_document(), urlsafe=True), safe="")),
    ("percent-encoded-plus-only", STANDARD.replace("+", "%2B")),
    ("surrounding-spaces", f"  {STANDARD}  "),
    ("surrounding-newlines", f"\r\n{STANDARD}\n"),
    ("surrounding-tabs", f"\t{STANDARD}\t"),
    ("percent-encoded-newline", quote(STANDARD + "\n", safe="")),
    ("non-ascii-json", encode(login_document(authModel={"status": "success", "error": None, "note": "zoë"}))),
    (
        "non-ascii-utf8",
        encode(login_document(authModel={"status": "success", "error": None, "n": "zoë"}), ascii_only=False),
    ),
]


@pytest.mark.parametrize("data64", [value for _, value in VARIANTS], ids=[name for name, _ in VARIANTS])
def test_every_data64_variant_decodes(data64: str) -> None:
    assert decode_data64(data64) == LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN)


def test_data64_percent_encoded_twice_decodes() -> None:
    assert decode_data64(quote(quote(STANDARD, safe=""), safe="")).one_time_token == ONE_TIME_TOKEN


def test_a_double_plus_turned_into_two_spaces_decodes() -> None:
    data64 = encode(double_plus_document(), ascii_only=False)
    assert "++" in data64

    assert decode_data64(plus_as_space(data64)).one_time_token == ONE_TIME_TOKEN


def test_a_double_plus_decodes_when_left_alone() -> None:
    assert decode_data64(encode(double_plus_document(), ascii_only=False)).one_time_token == ONE_TIME_TOKEN


def test_unknown_fields_are_ignored() -> None:
    document = login_document()
    document["integration"]["isSuperPrivate"] = True
    document["authModel"]["errorType"] = None
    document["somethingNew"] = {"nested": [1, 2]}

    assert decode_data64(encode(document)).service == "spotify"


def test_the_user_uuid_is_normalised_to_lower_case() -> None:
    assert decode_data64(encode(login_document(integrationUserUUID=USER_UUID.upper()))).integration_user_uuid == (
        USER_UUID
    )


@pytest.mark.parametrize(
    "token", [ONE_TIME_TOKEN, "abcdefgh", "a" * 512, "A.b_c~d+e/f=g-h", "eyJhbGciOiJIUzI1NiJ9.e30.sig"]
)
def test_opaque_header_safe_tokens_are_accepted(token: str) -> None:
    assert decode_data64(encode(login_document(oneTimeToken=token))).one_time_token == token


@pytest.mark.parametrize("service", ["spotify", "appleMusic", "youtubeMusic", "somethingNew"])
def test_the_service_is_reported_as_sent(service: str) -> None:
    document = login_document()
    document["integration"]["type"] = service

    assert decode_data64(encode(document)).service == service


# -- data64: malformed ------------------------------------------------------------------------------------------


def with_auth_model(**changes: Any) -> dict[str, Any]:
    document = login_document()
    document["authModel"] = {**document["authModel"], **changes}
    return document


def with_integration(**changes: Any) -> dict[str, Any]:
    document = login_document()
    document["integration"] = {**document["integration"], **changes}
    return document


def without(key: str) -> dict[str, Any]:
    document = login_document()
    del document[key]
    return document


MALFORMED: list[tuple[str, str]] = [
    ("empty", ""),
    ("only-spaces", "   "),
    ("too-long", "A" * (MAX_DATA64_LENGTH + 1)),
    ("too-long-valid", encode(login_document(pad="x" * MAX_DATA64_LENGTH))),
    ("invalid-characters", "eyJ!!!!"),
    ("html", "<script>alert(1)</script>"),
    ("dollar", STANDARD[:20] + "$" + STANDARD[21:]),
    ("non-ascii", STANDARD[:20] + "é" + STANDARD[21:]),
    ("one-char-too-many", STANDARD.rstrip("=") + "A" * (5 - len(STANDARD.rstrip("=")) % 4)),
    ("single-char", "e"),
    ("percent-garbage", "%ZZ%"),
    ("percent-to-non-ascii", "%C3%A9%C3%A9%C3%A9%C3%A9"),
    ("not-utf8", encode_bytes(b'{"a": "\xff\xfe"}')),
    ("not-json", encode_bytes(b"hello world")),
    ("truncated-json", encode_bytes(json.dumps(login_document()).encode()[:-10])),
    ("json-array", encode([login_document()])),
    ("json-string", encode("success")),
    ("json-number", encode(42)),
    ("json-null", encode(None)),
    ("nan", encode_bytes(json.dumps(login_document()).encode()[:-1] + b', "x": NaN}')),
    ("infinity", encode_bytes(json.dumps(login_document()).encode()[:-1] + b', "x": -Infinity}')),
    ("deep-nesting", encode_bytes(b"[" * 3000 + b"]" * 3000)),
    ("deep-nesting-object", encode_bytes(b'{"a":' * 1200 + b"1" + b"}" * 1200)),
    ("missing-integration", encode(without("integration"))),
    ("missing-auth-model", encode(without("authModel"))),
    ("integration-not-object", encode(login_document(integration="spotify"))),
    ("auth-model-list", encode(login_document(authModel=["success"]))),
    ("missing-type", encode(login_document(integration={"returnUrl": "https://x"}))),
    ("type-number", encode(with_integration(type=7))),
    ("type-null", encode(with_integration(type=None))),
    ("status-missing", encode(login_document(authModel={"error": None}))),
    ("status-bool", encode(with_auth_model(status=True))),
    ("status-list", encode(with_auth_model(status=["success"]))),
    ("error-number", encode(with_auth_model(error=5))),
    ("error-object", encode(with_auth_model(error={"message": "x"}))),
    ("missing-uuid", encode(without("integrationUserUUID"))),
    ("missing-token", encode(without("oneTimeToken"))),
    ("uuid-number", encode(login_document(integrationUserUUID=123))),
    ("uuid-traversal", encode(login_document(integrationUserUUID="../x"))),
    ("uuid-traversal-suffix", encode(login_document(integrationUserUUID=USER_UUID + "/../../admin"))),
    ("uuid-query", encode(login_document(integrationUserUUID=USER_UUID + "?x=1"))),
    ("uuid-newline", encode(login_document(integrationUserUUID=USER_UUID + "\n"))),
    ("uuid-not-hex", encode(login_document(integrationUserUUID="g75315f0-d1e1-4063-b801-181ad1a954e1"))),
    ("uuid-no-dashes", encode(login_document(integrationUserUUID=USER_UUID.replace("-", "")))),
    ("uuid-empty", encode(login_document(integrationUserUUID=""))),
    ("token-number", encode(login_document(oneTimeToken=12345678))),
    ("token-crlf", encode(login_document(oneTimeToken=ONE_TIME_TOKEN + "\r\nX-Injected: 1"))),
    ("token-lf", encode(login_document(oneTimeToken=ONE_TIME_TOKEN + "\n"))),
    ("token-space", encode(login_document(oneTimeToken="abc defgh"))),
    ("token-short", encode(login_document(oneTimeToken="abc"))),
    ("token-long", encode(login_document(oneTimeToken="a" * 513))),
    ("token-unicode", encode(login_document(oneTimeToken="tokenzoë123"))),
    ("token-empty", encode(login_document(oneTimeToken=""))),
]


@pytest.mark.parametrize("data64", [value for _, value in MALFORMED], ids=[name for name, _ in MALFORMED])
def test_malformed_data64_is_refused(data64: str) -> None:
    with pytest.raises(MalformedCallback):
        decode_data64(data64)


FAILED_LOGINS: list[tuple[str, dict[str, Any]]] = [
    ("failed", with_auth_model(status="failed", error="User cancelled the login")),
    ("failed-null-error", with_auth_model(status="failed", error=None)),
    ("failed-no-user", {**without("integrationUserUUID"), "authModel": {"status": "failed", "error": "x"}}),
    ("cancelled", with_auth_model(status="cancelled")),
    ("pending", with_auth_model(status="pending")),
    ("empty-status", with_auth_model(status="")),
    ("upper-case", with_auth_model(status="SUCCESS")),
    ("trailing-space", with_auth_model(status="success ")),
    ("error-text", with_auth_model(status="error", error="Zugriff verweigert \u2013 Zoë")),
]


@pytest.mark.parametrize("document", [value for _, value in FAILED_LOGINS], ids=[name for name, _ in FAILED_LOGINS])
def test_any_status_but_success_is_a_failed_login(document: dict[str, Any]) -> None:
    with pytest.raises(LoginFailed):
        decode_data64(encode(document, ascii_only=False))


def test_decoding_errors_are_callback_errors_with_status_400() -> None:
    for error in (MalformedCallback(), LoginFailed()):
        assert isinstance(error, CallbackError)
        assert error.status == 400


# -- nothing shows a token --------------------------------------------------------------------------------------


def test_a_login_result_hides_its_one_time_token() -> None:
    result = decode_data64(STANDARD)

    for text in (repr(result), str(result), f"{result}", f"{[result]}"):
        assert ONE_TIME_TOKEN not in text
        assert USER_UUID in text


def test_an_integration_user_hides_its_tokens_and_profile() -> None:
    user = IntegrationUser(
        integration_user_uuid=USER_UUID,
        name="Ada Lovelace",
        email="ada@example.com",
        image_url="https://img.example/a.jpg",
        country="gb",
        auth_data={"accessToken": "BQsecret-access", "refreshToken": "AQsecret-refresh"},
        expires_at=1_696_320_099_094,
    )

    for text in (repr(user), str(user), f"{[user]}", f"{ {'u': user} }"):
        assert "BQsecret-access" not in text
        assert "AQsecret-refresh" not in text
        assert USER_UUID in text


# -- parsing the exchange answer --------------------------------------------------------------------------------


def answer(**fields: Any) -> bytes:
    user: dict[str, Any] = {
        "integrationUserId": "1163433669",
        "userUUID": "e892f4a5-0000-4000-8000-000000000000",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "imageUrl": "https://img.example/a.jpg",
        "country": "pl",
        "authData": {"accessToken": "BQaccess"},
        "authDataExpiresAt": 1_696_320_099_094,
    }
    for key, value in fields.items():
        if value is ...:
            user.pop(key, None)
        else:
            user[key] = value
    return json.dumps({"integrationUser": user}).encode()


def test_an_exchange_answer_becomes_an_integration_user() -> None:
    user = parse_integration_user(answer(), USER_UUID)

    assert user == IntegrationUser(
        integration_user_uuid=USER_UUID,
        name="Ada Lovelace",
        email="ada@example.com",
        image_url="https://img.example/a.jpg",
        country="pl",
        auth_data={"accessToken": "BQaccess"},
        expires_at=1_696_320_099_094,
    )


def test_auth_data_is_kept_whole() -> None:
    auth_data = {
        "accessToken": "BQaccess",
        "refreshToken": "AQrefresh",
        "scope": ["user-read-email", "streaming"],
        "extra": {"nested": {"deep": True}, "n": 1},
    }

    assert parse_integration_user(answer(authData=auth_data), USER_UUID).auth_data == auth_data


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (1_696_320_099_094, 1_696_320_099_094),
        (0, 0),
        (None, None),
        (..., None),
        (1_696_320_099_094.7, 1_696_320_099_094),
    ],
    ids=["int", "zero", "null", "missing", "float"],
)
def test_the_expiry_is_epoch_milliseconds_or_none(expires_at: Any, expected: int | None) -> None:
    assert parse_integration_user(answer(authDataExpiresAt=expires_at), USER_UUID).expires_at == expected


@pytest.mark.parametrize(
    ("field", "value", "attribute", "expected"),
    [
        ("name", "  Ada  ", "name", "Ada"),
        ("name", "Z" * 500, "name", "Z" * MAX_PROFILE_TEXT),
        ("name", "   ", "name", None),
        ("name", 42, "name", None),
        ("name", ..., "name", None),
        ("email", ["a@b"], "email", None),
        ("country", {"code": "pl"}, "country", None),
        ("email", "x" * 300 + "@example.com", "email", "x" * MAX_PROFILE_TEXT),
        (
            "imageUrl",
            "https://img.example/" + "a" * (MAX_IMAGE_URL - 20),
            "image_url",
            "https://img.example/" + "a" * (MAX_IMAGE_URL - 20),
        ),
        ("imageUrl", "https://img.example/" + "a" * MAX_IMAGE_URL, "image_url", None),
        ("imageUrl", 7, "image_url", None),
        ("imageUrl", None, "image_url", None),
    ],
)
def test_profile_fields_are_tidied(field: str, value: Any, attribute: str, expected: Any) -> None:
    assert getattr(parse_integration_user(answer(**{field: value}), USER_UUID), attribute) == expected


@pytest.mark.parametrize(
    "body",
    [
        answer(authDataExpiresAt=True),
        answer(authDataExpiresAt=False),
        answer(authDataExpiresAt="1696320099094"),
        answer(authDataExpiresAt=[1]),
        answer(authData={}),
        answer(authData="token"),
        answer(authData=["token"]),
        answer(authData=None),
        answer(authData=...),
        b"",
        b"   ",
        b"<html>",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'{"integrationUser": null}',
        b'{"integrationUser": "x"}',
        b'{"user": {"authData": {"accessToken": "x"}}}',
        b'{"integrationUser": {"authData": {"accessToken": "x"}, "authDataExpiresAt": NaN}}',
        b"[" * 5000 + b"]" * 5000,
    ],
    ids=[
        "expiry-true", "expiry-false", "expiry-string", "expiry-list", "auth-empty", "auth-string", "auth-list",
        "auth-null", "auth-missing", "empty", "blank", "html", "not-utf8", "array", "null", "user-null",
        "user-string", "wrong-key", "nan", "deep-nesting",
    ],
)  # fmt: skip
def test_unusable_exchange_answers_are_upstream_errors(body: bytes) -> None:
    with pytest.raises(UpstreamError):
        parse_integration_user(body, USER_UUID)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400"])
def test_an_infinite_expiry_is_an_upstream_error(number: bytes) -> None:
    body = b'{"integrationUser": {"authData": {"accessToken": "x"}, "authDataExpiresAt": ' + number + b"}}"

    with pytest.raises(UpstreamError):
        parse_integration_user(body, USER_UUID)


# -- the exchange client, against the simulator over real HTTP --------------------------------------------------


@pytest.fixture
def client(musicapi: ThreadedServer) -> MusicApiClient:
    return MusicApiClient(musicapi.url + "/api")


def quick_client(api_url: str, *, total_timeout: float, connect_timeout: float = 0.2) -> MusicApiClient:
    client = MusicApiClient(api_url)
    client.total_timeout = total_timeout
    client.connect_timeout = connect_timeout
    return client


def logged_in(simulator: Simulator, service: str = "spotify") -> LoginResult:
    return decode_data64(encode(simulator.issue_login(service)))


def test_a_one_time_token_is_exchanged_for_the_account(
    client: MusicApiClient, simulator: Simulator, musicapi_clock: FakeClock
) -> None:
    login = logged_in(simulator, "spotify")

    user = client.exchange(login)

    assert user.integration_user_uuid == login.integration_user_uuid
    assert str(user.auth_data["accessToken"]).startswith("BQ")
    assert str(user.auth_data["refreshToken"]).startswith("AQ")
    assert user.name
    assert user.email
    assert user.image_url
    assert user.image_url.startswith("https://")
    assert user.expires_at == int(musicapi_clock() * 1000) + 3_600_000
    [call] = simulator.calls()
    assert call.authorization_scheme == "Token"
    assert call.integration_user_uuid == login.integration_user_uuid
    assert call.status == 200


def test_a_token_spent_once_is_refused_the_second_time(client: MusicApiClient, simulator: Simulator) -> None:
    login = logged_in(simulator)
    client.exchange(login)

    with pytest.raises(UpstreamRefused):
        client.exchange(login)
    assert [call.status for call in simulator.calls()] == [200, 401]


def test_a_token_older_than_a_minute_is_refused(
    client: MusicApiClient, simulator: Simulator, musicapi_clock: FakeClock
) -> None:
    login = logged_in(simulator)
    musicapi_clock.advance(61)

    with pytest.raises(UpstreamRefused):
        client.exchange(login)
    assert len(simulator.calls()) == 1


def test_a_token_for_another_user_is_refused(client: MusicApiClient, simulator: Simulator) -> None:
    mine, theirs = logged_in(simulator), logged_in(simulator)

    with pytest.raises(UpstreamRefused):
        client.exchange(LoginResult("spotify", theirs.integration_user_uuid, mine.one_time_token))


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("http_500", UpstreamError),
        ("http_401", UpstreamRefused),
        ("http_404", UpstreamRefused),
        ("non_json", UpstreamError),
        ("huge_body", UpstreamError),
        ("wrong_shape", UpstreamError),
        ("redirect", UpstreamError),
        ("empty_body", UpstreamError),
    ],
)
def test_each_musicapi_fault_is_its_own_error_and_never_retried(
    client: MusicApiClient, simulator: Simulator, fault: str, error: type[Exception]
) -> None:
    login = logged_in(simulator)
    simulator.fault = fault

    with pytest.raises(UpstreamError) as caught:
        client.exchange(login)

    assert type(caught.value) is error
    assert len(simulator.calls()) == 1


def test_a_redirect_is_not_followed(client: MusicApiClient, simulator: Simulator) -> None:
    simulator.fault = "redirect"

    with pytest.raises(UpstreamError):
        client.exchange(logged_in(simulator))
    assert [call.status for call in simulator.calls()] == [302]


def test_a_hanging_musicapi_times_out_within_the_total_timeout(musicapi: ThreadedServer, simulator: Simulator) -> None:
    client = quick_client(musicapi.url + "/api", total_timeout=0.5, connect_timeout=0.1)
    login = logged_in(simulator)
    simulator.fault = "hang"
    simulator.hang_seconds = 6.0

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        client.exchange(login)

    # Well under the 6 s the simulator hangs for, with room for a loaded machine.
    assert time.monotonic() - started < 3.0
    assert len(simulator.calls()) == 1


@pytest.mark.parametrize(
    ("total_timeout", "connect_timeout"),
    [
        pytest.param(
            0.5,
            0.1,
            id="socket-read-timeout-first",
        ),
        pytest.param(1.2, 0.2, id="total-deadline-first"),
    ],
)
def test_a_body_that_trickles_times_out_within_the_total_timeout(
    musicapi: ThreadedServer, simulator: Simulator, total_timeout: float, connect_timeout: float
) -> None:
    client = quick_client(musicapi.url + "/api", total_timeout=total_timeout, connect_timeout=connect_timeout)
    login = logged_in(simulator)
    simulator.fault = "slow_body"
    simulator.slow_body_seconds = 6.0

    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        client.exchange(login)

    # Well under the 6 s the body trickles for, with room for a loaded machine.
    assert time.monotonic() - started < total_timeout + 2.5
    assert type(caught.value) is UpstreamTimeout
    assert len(simulator.calls()) == 1


def test_nobody_listening_is_unreachable() -> None:
    client = quick_client(f"http://127.0.0.1:{free_port()}/api", total_timeout=2.0)

    started = time.monotonic()
    with pytest.raises(UpstreamUnreachable):
        client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("uuid", ["../x", USER_UUID + "/../admin", "", "not-a-uuid"])
def test_a_bad_user_uuid_never_reaches_musicapi(client: MusicApiClient, simulator: Simulator, uuid: str) -> None:
    with pytest.raises(MalformedCallback):
        client.exchange(LoginResult("spotify", uuid, ONE_TIME_TOKEN))
    with pytest.raises(MalformedCallback):
        client.fetch_fresh(uuid, "simulator-client", "simulator-secret")
    assert simulator.calls() == []


def test_fresh_tokens_are_fetched_with_client_credentials(client: MusicApiClient, simulator: Simulator) -> None:
    login = logged_in(simulator, "tidal")
    first = client.exchange(login)

    fresh = client.fetch_fresh(login.integration_user_uuid, "simulator-client", "simulator-secret")

    assert fresh.integration_user_uuid == login.integration_user_uuid
    assert fresh.auth_data["accessToken"] != first.auth_data["accessToken"]
    assert [call.authorization_scheme for call in simulator.calls()] == ["Token", "Basic"]


@pytest.mark.parametrize(
    ("client_id", "client_secret"),
    [("simulator-client", "wrong-secret"), ("someone-else", "simulator-secret"), ("", ""), ("simulator-client", "")],
)
def test_wrong_client_credentials_are_refused(
    client: MusicApiClient, simulator: Simulator, client_id: str, client_secret: str
) -> None:
    login = logged_in(simulator)

    with pytest.raises(UpstreamRefused):
        client.fetch_fresh(login.integration_user_uuid, client_id, client_secret)
    assert len(simulator.calls()) == 1


def test_fresh_tokens_for_an_unknown_user_are_refused(client: MusicApiClient) -> None:
    with pytest.raises(UpstreamRefused):
        client.fetch_fresh("00000000-0000-4000-8000-000000000000", "simulator-client", "simulator-secret")


# -- what the client puts on the wire, and odd answers ----------------------------------------------------------


class Recorder:
    """A one-route upstream that records requests and answers with whatever the test set."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = "200 OK"
        self.headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
        self.body = answer()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.requests.append(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ["PATH_INFO"],
                "query": environ.get("QUERY_STRING", ""),
                "headers": {key[5:]: value for key, value in environ.items() if key.startswith("HTTP_")},
                "content_type": environ.get("CONTENT_TYPE"),
                "client_port": environ.get("REMOTE_PORT"),
            }
        )
        start_response(self.status, self.headers)
        return [self.body]


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[tuple[Recorder, ThreadedServer]]:
    recorder = Recorder()
    server = ThreadedServer(recorder)
    yield recorder, server
    server.close()


@pytest.fixture
def recorder(recorder_server: tuple[Recorder, ThreadedServer]) -> tuple[Recorder, MusicApiClient]:
    recorder, server = recorder_server
    fresh = Recorder()
    recorder.__dict__.update(fresh.__dict__)
    return recorder, MusicApiClient(server.url + "/api/")


def test_the_exchange_request_is_exactly_as_documented(recorder: tuple[Recorder, MusicApiClient]) -> None:
    upstream, client = recorder

    client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))

    [request] = upstream.requests
    assert request["method"] == "GET"
    assert request["path"] == f"/api/public/integrations/user/{USER_UUID}"
    assert request["query"] == ""
    assert request["headers"]["AUTHORIZATION"] == f"Token {ONE_TIME_TOKEN}"
    assert request["content_type"] == "application/json; charset=utf-8"
    assert "COOKIE" not in request["headers"]


def test_client_credentials_travel_as_basic_auth(recorder: tuple[Recorder, MusicApiClient]) -> None:
    upstream, client = recorder

    client.fetch_fresh(USER_UUID, "my-client", "my:secret")

    [request] = upstream.requests
    expected = base64.b64encode(b"my-client:my:secret").decode()
    assert request["headers"]["AUTHORIZATION"] == f"Basic {expected}"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("400 Bad Request", UpstreamRefused),
        ("403 Forbidden", UpstreamRefused),
        ("410 Gone", UpstreamRefused),
        ("201 Created", UpstreamError),
        ("204 No Content", UpstreamError),
        ("429 Too Many Requests", UpstreamError),
        ("503 Service Unavailable", UpstreamError),
    ],
)
def test_statuses_map_to_errors(recorder: tuple[Recorder, MusicApiClient], status: str, error: type[Exception]) -> None:
    upstream, client = recorder
    upstream.status = status

    with pytest.raises(UpstreamError) as caught:
        client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))
    assert type(caught.value) is error
    assert len(upstream.requests) == 1


def test_a_declared_huge_body_is_refused_before_reading(recorder: tuple[Recorder, MusicApiClient]) -> None:
    upstream, client = recorder
    upstream.headers = [("Content-Type", "application/json"), ("Content-Length", str(10**9))]
    upstream.body = b""

    with pytest.raises(UpstreamError):
        client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))


def test_an_odd_content_length_never_escapes_as_another_error(recorder: tuple[Recorder, MusicApiClient]) -> None:
    upstream, client = recorder
    upstream.headers = [("Content-Type", "application/json"), ("Content-Length", "\u00b2")]

    # Refusing the answer is fine; a ValueError escaping the client is not.
    with contextlib.suppress(UpstreamError):
        client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))


class KeepAliveHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 upstream that keeps connections open (werkzeug's test server closes each one)."""

    protocol_version = "HTTP/1.1"
    client_ports: ClassVar[list[int]] = []
    body = b""

    def do_GET(self) -> None:
        self.client_ports.append(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads client_ports."""


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[MusicApiClient]:
    """Serve ``server`` in the background, and a client for it; stop it afterwards."""
    KeepAliveHandler.client_ports, KeepAliveHandler.body = [], answer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield MusicApiClient(f"http://127.0.0.1:{server.server_port}/api")
    finally:
        server.shutdown()
        server.server_close()


def test_exchanges_reuse_one_keep_alive_connection() -> None:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveHandler)) as client:
        for _ in range(3):
            client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))

    assert len(KeepAliveHandler.client_ports) == 3
    assert len(set(KeepAliveHandler.client_ports)) == 1, f"new connections: {KeepAliveHandler.client_ports}"


class OneAnswerHandler(KeepAliveHandler):
    """Answers like KeepAliveHandler, then drops the connection without having said "Connection: close"."""

    def do_GET(self) -> None:
        super().do_GET()
        self.close_connection = True


class IdleClosingServer(ThreadingHTTPServer):
    """Closes every connection after one answer, as a server dropping idle keep-alive connections does."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), OneAnswerHandler)
        self.closed = threading.Event()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.set()


def test_a_pooled_connection_the_server_has_closed_is_not_used_for_the_next_login() -> None:
    server = IdleClosingServer()
    with serving(server) as client:
        client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))
        assert server.closed.wait(5), "the server never closed the first connection"
        user = client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))

    assert user.integration_user_uuid == USER_UUID
    assert len(set(KeepAliveHandler.client_ports)) == 2


def test_a_connection_cut_off_mid_answer_is_never_reused(recorder: tuple[Recorder, MusicApiClient]) -> None:
    upstream, client = recorder
    client.max_response_bytes = 64
    upstream.body = answer() + b" " * 100_000

    with pytest.raises(UpstreamError):
        client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))
    client.max_response_bytes = MAX_RESPONSE_BYTES
    upstream.body = answer()
    user = client.exchange(LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN))

    assert user.integration_user_uuid == USER_UUID
    assert upstream.requests[0]["client_port"] != upstream.requests[1]["client_port"]


@pytest.mark.parametrize(
    ("api_url", "connection_class"),
    [("https://api.musicapi.com", _PooledHTTPSConnection), ("http://127.0.0.1:9/api", _PooledHTTPConnection)],
)
def test_a_pooled_connection_is_checked_before_reuse_by_one_system_call(
    api_url: str, connection_class: type[_PooledHTTPConnection | _PooledHTTPSConnection]
) -> None:
    client = MusicApiClient(api_url)
    ours, server_side = socket.socketpair()
    connection = connection_class("api.musicapi.com")
    connection.sock = ours
    try:
        assert client.pool.ConnectionCls is connection_class
        assert connection.is_connected
        server_side.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        assert not connection.is_connected, "a connection with bytes nobody asked for was kept"
        ours.recv(1024)
        assert connection.is_connected
        server_side.close()
        assert not connection.is_connected, "a connection the server closed was kept"
    finally:
        ours.close()
        server_side.close()

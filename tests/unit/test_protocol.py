"""MusicAPI's protocol as plain Python: login URLs, every data64 seen in the wild, and exchange answers."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from callback_app.errors import CallbackError, LoginFailed, MalformedCallback, UpstreamError
from callback_app.musicapi.protocol import (
    KNOWN_SERVICES,
    MAX_DATA64_LENGTH,
    MAX_IMAGE_URL,
    MAX_PROFILE_TEXT,
    SERVICE_NAMES,
    IntegrationUser,
    LoginResult,
    basic_authorization,
    decode_data64,
    exchange_path,
    login_url,
    parse_integration_user,
    service_name,
    token_authorization,
)
from tests.unit.helpers import ONE_TIME_TOKEN, USER_UUID

ROOT = Path(__file__).resolve().parents[2]
AUTH_URL = "https://app.musicapi.com"


def sample_document(**changes: Any) -> dict[str, Any]:
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


STANDARD = encode(sample_document())


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
    ("service", "expected"),
    [("spotify", "Spotify"), ("appleMusic", "Apple Music"), ("tidal", "TIDAL"), ("newThing", "newThing")],
)
def test_service_names(service: str, expected: str) -> None:
    assert service_name(service) == expected


def test_every_known_service_has_a_name_people_know() -> None:
    assert tuple(SERVICE_NAMES) == KNOWN_SERVICES
    assert all(name and name != service for service, name in SERVICE_NAMES.items() if service != "deezer")


# -- the exchange request ---------------------------------------------------------------------------------------


def test_the_exchange_path_names_the_user() -> None:
    assert exchange_path(USER_UUID) == f"/public/integrations/user/{USER_UUID}"


@pytest.mark.parametrize(
    "uuid",
    [
        "",
        "not-a-uuid",
        "../x",
        USER_UUID + "/../admin",
        USER_UUID + "?x=1",
        USER_UUID + "\n",
        " " + USER_UUID,
        USER_UUID.replace("-", ""),
        "g75315f0-d1e1-4063-b801-181ad1a954e1",
        "%2e%2e%2f",
    ],
)
def test_the_exchange_path_refuses_anything_but_a_uuid(uuid: str) -> None:
    with pytest.raises(MalformedCallback):
        exchange_path(uuid)


def test_a_one_time_token_travels_as_token_authorization() -> None:
    assert token_authorization(ONE_TIME_TOKEN) == f"Token {ONE_TIME_TOKEN}"


def test_client_credentials_travel_as_basic_authorization() -> None:
    header = basic_authorization("my-client", "my:secret")

    assert header == "Basic " + base64.b64encode(b"my-client:my:secret").decode()


# -- data64: every variant seen in the wild decodes -------------------------------------------------------------


def plus_as_space(text: str) -> str:
    return text.replace("+", " ")


def double_plus_document() -> dict[str, Any]:
    """A document (non-ASCII, as an error text or unknown field may be) whose base64 holds '++'."""
    for prefix in ("", "x", "xx"):
        document = sample_document()
        document["integration"]["label"] = prefix + "?\uff1f"
        if "++" in encode(document, ascii_only=False):
            return document
    raise AssertionError("no alignment gives '++'")


VARIANTS: list[tuple[str, str]] = [
    ("standard", STANDARD),
    ("standard-unpadded", STANDARD.rstrip("=")),
    ("urlsafe", encode(sample_document(), urlsafe=True)),
    ("urlsafe-unpadded", encode(sample_document(), urlsafe=True, padding=False)),
    ("plus-as-space", plus_as_space(STANDARD)),
    ("plus-as-space-unpadded", plus_as_space(STANDARD.rstrip("="))),
    ("percent-encoded", quote(STANDARD, safe="")),
    ("percent-encoded-urlsafe", quote(encode(sample_document(), urlsafe=True), safe="")),
    ("percent-encoded-plus-only", STANDARD.replace("+", "%2B")),
    ("surrounding-spaces", f"  {STANDARD}  "),
    ("surrounding-newlines", f"\r\n{STANDARD}\n"),
    ("surrounding-tabs", f"\t{STANDARD}\t"),
    ("percent-encoded-newline", quote(STANDARD + "\n", safe="")),
    ("non-ascii-json", encode(sample_document(authModel={"status": "success", "error": None, "note": "zoë"}))),
    (
        "non-ascii-utf8",
        encode(sample_document(authModel={"status": "success", "error": None, "n": "zoë"}), ascii_only=False),
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
    document = sample_document()
    document["integration"]["isSuperPrivate"] = True
    document["authModel"]["errorType"] = None
    document["somethingNew"] = {"nested": [1, 2]}

    assert decode_data64(encode(document)).service == "spotify"


def test_the_user_uuid_is_normalised_to_lower_case() -> None:
    assert decode_data64(encode(sample_document(integrationUserUUID=USER_UUID.upper()))).integration_user_uuid == (
        USER_UUID
    )


@pytest.mark.parametrize(
    "token", [ONE_TIME_TOKEN, "abcdefgh", "a" * 512, "A.b_c~d+e/f=g-h", "eyJhbGciOiJIUzI1NiJ9.e30.sig"]
)
def test_opaque_header_safe_tokens_are_accepted(token: str) -> None:
    assert decode_data64(encode(sample_document(oneTimeToken=token))).one_time_token == token


@pytest.mark.parametrize("service", ["spotify", "appleMusic", "youtubeMusic", "somethingNew"])
def test_the_service_is_reported_as_sent(service: str) -> None:
    document = sample_document()
    document["integration"]["type"] = service

    assert decode_data64(encode(document)).service == service


# -- data64: malformed ------------------------------------------------------------------------------------------


def with_auth_model(**changes: Any) -> dict[str, Any]:
    document = sample_document()
    document["authModel"] = {**document["authModel"], **changes}
    return document


def with_integration(**changes: Any) -> dict[str, Any]:
    document = sample_document()
    document["integration"] = {**document["integration"], **changes}
    return document


def without(key: str) -> dict[str, Any]:
    document = sample_document()
    del document[key]
    return document


MALFORMED: list[tuple[str, str]] = [
    ("empty", ""),
    ("only-spaces", "   "),
    ("too-long", "A" * (MAX_DATA64_LENGTH + 1)),
    ("too-long-valid", encode(sample_document(pad="x" * MAX_DATA64_LENGTH))),
    ("just-over-the-cap", encode(sample_document(pad="x" * (MAX_DATA64_LENGTH * 3 // 4)))[: MAX_DATA64_LENGTH + 1]),
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
    ("truncated-json", encode_bytes(json.dumps(sample_document()).encode()[:-10])),
    ("json-array", encode([sample_document()])),
    ("json-string", encode("success")),
    ("json-number", encode(42)),
    ("json-null", encode(None)),
    ("nan", encode_bytes(json.dumps(sample_document()).encode()[:-1] + b', "x": NaN}')),
    ("infinity", encode_bytes(json.dumps(sample_document()).encode()[:-1] + b', "x": -Infinity}')),
    ("deep-nesting", encode_bytes(b"[" * 3000 + b"]" * 3000)),
    ("deep-nesting-object", encode_bytes(b'{"a":' * 1200 + b"1" + b"}" * 1200)),
    ("missing-integration", encode(without("integration"))),
    ("missing-auth-model", encode(without("authModel"))),
    ("integration-not-object", encode(sample_document(integration="spotify"))),
    ("auth-model-list", encode(sample_document(authModel=["success"]))),
    ("missing-type", encode(sample_document(integration={"returnUrl": "https://x"}))),
    ("type-number", encode(with_integration(type=7))),
    ("type-null", encode(with_integration(type=None))),
    ("status-missing", encode(sample_document(authModel={"error": None}))),
    ("status-bool", encode(with_auth_model(status=True))),
    ("status-list", encode(with_auth_model(status=["success"]))),
    ("error-number", encode(with_auth_model(error=5))),
    ("error-object", encode(with_auth_model(error={"message": "x"}))),
    ("missing-uuid", encode(without("integrationUserUUID"))),
    ("missing-token", encode(without("oneTimeToken"))),
    ("uuid-number", encode(sample_document(integrationUserUUID=123))),
    ("uuid-traversal", encode(sample_document(integrationUserUUID="../x"))),
    ("uuid-traversal-suffix", encode(sample_document(integrationUserUUID=USER_UUID + "/../../admin"))),
    ("uuid-query", encode(sample_document(integrationUserUUID=USER_UUID + "?x=1"))),
    ("uuid-newline", encode(sample_document(integrationUserUUID=USER_UUID + "\n"))),
    ("uuid-not-hex", encode(sample_document(integrationUserUUID="g75315f0-d1e1-4063-b801-181ad1a954e1"))),
    ("uuid-no-dashes", encode(sample_document(integrationUserUUID=USER_UUID.replace("-", "")))),
    ("uuid-empty", encode(sample_document(integrationUserUUID=""))),
    ("token-number", encode(sample_document(oneTimeToken=12345678))),
    ("token-crlf", encode(sample_document(oneTimeToken=ONE_TIME_TOKEN + "\r\nX-Injected: 1"))),
    ("token-lf", encode(sample_document(oneTimeToken=ONE_TIME_TOKEN + "\n"))),
    ("token-space", encode(sample_document(oneTimeToken="abc defgh"))),
    ("token-short", encode(sample_document(oneTimeToken="abc"))),
    ("token-long", encode(sample_document(oneTimeToken="a" * 513))),
    ("token-unicode", encode(sample_document(oneTimeToken="tokenzoë123"))),
    ("token-empty", encode(sample_document(oneTimeToken=""))),
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


def test_a_data64_as_long_as_the_cap_allows_decodes() -> None:
    lengths = {len(encode(sample_document(pad="x" * size))): size for size in range(2000, 3200)}
    data64 = encode(sample_document(pad="x" * lengths[MAX_DATA64_LENGTH]))

    assert len(data64) == MAX_DATA64_LENGTH
    assert decode_data64(data64).one_time_token == ONE_TIME_TOKEN


# -- plain Python ------------------------------------------------------------------------------------------------


def test_the_protocol_imports_no_web_framework_event_loop_or_http_client() -> None:
    probe = (
        "import json, sys, callback_app.musicapi.protocol; "
        "print(json.dumps(sorted(name.split('.')[0] for name in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    imported = set(json.loads(result.stdout))

    assert "callback_app" in imported
    assert imported.isdisjoint({"flask", "werkzeug", "gevent", "requests", "urllib3", "http", "redis"})

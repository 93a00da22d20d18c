"""Sealed cookies: only this app can read or forge them, under their own name and purpose, for a limited time."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from typing import Any

import pytest
from werkzeug.http import parse_cookie
from werkzeug.wrappers import Response

from callback_app.cookies import MAX_SEALED_LENGTH, CookiePolicy, Sealer
from callback_app.errors import BadCookie, CookieError, ExpiredCookie
from tests.support.clock import FakeClock

KEY = "current-secret-key-0123456789-abcdefghijkl"
OLD_KEY = "previous-secret-key-0123456789-abcdefghijk"
UNKNOWN_KEY = "someone-elses-key-0123456789-abcdefghijklm"
HOUR = 3600
ACCESS_TOKEN = "BQ" + "x7Fq2LmN9pR4sT6vW8yZ" * 10
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def sealer(clock: FakeClock) -> Sealer:
    return Sealer([KEY], clock=clock)


def is_compressed(sealed: str, payload: dict[str, Any]) -> bool:
    """Whether the body is shorter than nonce + frame byte + plain JSON + tag would be (the documented format)."""
    plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    plain_body = base64.urlsafe_b64encode(bytes(12 + 1 + len(plaintext) + 16)).rstrip(b"=")
    body = sealed.split(".", maxsplit=1)[0]
    assert len(body) <= len(plain_body), "a sealed body is never longer than its plain frame"
    return len(body) < len(plain_body)


def flip(character: str) -> str:
    """Another character that changes the value for sure: the top bit of a base64 digit, or a separator."""
    if character in BASE64URL:
        return BASE64URL[BASE64URL.index(character) ^ 32]
    return "-"


# -- sealing and opening ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"a": 1},
        {"token": ACCESS_TOKEN, "expires": 1_696_320_099_094, "none": None, "flag": True},
        {"name": "Zoë O'Brien 🎵", "quotes": "\"'<>&;,= \\", "nested": {"list": [1, 2.5, "three"]}},
        {"big": "".join(secrets.choice(string.ascii_letters) for _ in range(2000))},
        {"repetitive": "abc" * 1000},
    ],
    ids=["empty", "int", "token", "unicode-and-specials", "big-random", "big-repetitive"],
)
def test_a_sealed_payload_opens_to_itself(sealer: Sealer, clock: FakeClock, payload: dict[str, Any]) -> None:
    sealed = sealer.seal("acct-spotify", "account", payload)
    opened = sealer.open("acct-spotify", "account", sealed, max_age=HOUR)

    assert opened.payload == payload
    assert opened.sealed_at == int(clock())
    assert opened.stale_key is False


def test_a_sealed_value_is_cookie_safe_ascii(sealer: Sealer) -> None:
    sealed = sealer.seal("acct-spotify", "account", {"name": "Zoë 🎵", "t": ACCESS_TOKEN})

    assert sealed.isascii()
    assert set(sealed) <= set(BASE64URL + ".")


def test_sealing_twice_gives_different_values(sealer: Sealer) -> None:
    payload = {"token": ACCESS_TOKEN}

    assert sealer.seal("n", "p", payload) != sealer.seal("n", "p", payload)


def test_a_sealer_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        Sealer([])


def test_every_tampered_character_is_refused(sealer: Sealer) -> None:
    sealed = sealer.seal("flow", "flow", {"st": "state", "sv": "spotify", "nx": "/"})

    for index, character in enumerate(sealed):
        tampered = sealed[:index] + flip(character) + sealed[index + 1 :]
        with pytest.raises(BadCookie):
            sealer.open("flow", "flow", tampered, max_age=HOUR)


@pytest.mark.parametrize(
    "damage",
    [
        lambda sealed: sealed[:-1],
        lambda sealed: sealed[1:],
        lambda sealed: sealed + "A",
        lambda sealed: sealed.replace(".", "", 1),
        lambda sealed: sealed.rsplit(".", 1)[0],
        lambda sealed: sealed.split(".", 1)[1],
        lambda sealed: "." + sealed,
        lambda sealed: sealed + "." + sealed,
        lambda sealed: sealed.upper(),
    ],
    ids=[
        "truncated",
        "first-dropped",
        "appended",
        "separator-dropped",
        "no-signature",
        "no-body",
        "dot",
        "doubled",
        "upper",
    ],
)
def test_damaged_values_are_refused(sealer: Sealer, damage: Any) -> None:
    sealed = sealer.seal("flow", "flow", {"st": "state"})

    with pytest.raises(BadCookie):
        sealer.open("flow", "flow", damage(sealed), max_age=HOUR)


@pytest.mark.parametrize(
    "value",
    ["", "x", "...", "a.b.c", "not-a-cookie", "é" * 10, "A" * (MAX_SEALED_LENGTH + 1), "\x00\x01", "a b.c d.e f"],
    ids=["empty", "one-char", "dots", "three-parts", "word", "non-ascii", "oversize", "control", "spaces"],
)
def test_garbage_is_refused(sealer: Sealer, value: str) -> None:
    with pytest.raises(BadCookie):
        sealer.open("flow", "flow", value, max_age=HOUR)


def test_a_value_too_long_for_a_cookie_is_refused_even_when_authentic(sealer: Sealer) -> None:
    sealed = sealer.seal("n", "p", {"big": "".join(secrets.choice(string.ascii_letters) for _ in range(6000))})

    assert len(sealed) > MAX_SEALED_LENGTH
    with pytest.raises(BadCookie):
        sealer.open("n", "p", sealed, max_age=HOUR)


@pytest.mark.parametrize("payload", [[1, 2, 3], "a string", 42, None])
def test_an_opened_payload_must_be_a_dict(sealer: Sealer, payload: Any) -> None:
    sealed = sealer.seal("n", "p", payload)

    with pytest.raises(BadCookie):
        sealer.open("n", "p", sealed, max_age=HOUR)


def test_a_payload_that_inflates_past_the_limit_is_refused(sealer: Sealer) -> None:
    sealed = sealer.seal("n", "p", {"bomb": "a" * 200_000})

    assert len(sealed) < MAX_SEALED_LENGTH
    with pytest.raises(BadCookie):
        sealer.open("n", "p", sealed, max_age=HOUR)


# -- name and purpose are part of the seal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opened_as_name", "opened_as_purpose"),
    [
        ("acct-tidal", "account"),
        ("acct-spotify", "flow"),
        ("flow", "flow"),
        ("acct-spotifyx", "account"),
        ("acct-spotif", "account"),
        ("", "account"),
        ("acct-spotify", ""),
        ("account", "acct-spotify"),
    ],
)
def test_a_value_opens_only_under_its_own_name_and_purpose(
    sealer: Sealer, opened_as_name: str, opened_as_purpose: str
) -> None:
    sealed = sealer.seal("acct-spotify", "account", {"t": ACCESS_TOKEN})

    with pytest.raises(BadCookie):
        sealer.open(opened_as_name, opened_as_purpose, sealed, max_age=HOUR)


def test_name_and_purpose_cannot_be_shifted_across_the_separator(sealer: Sealer) -> None:
    sealed = sealer.seal("b:c", "a", {"t": ACCESS_TOKEN})

    with pytest.raises(BadCookie):
        sealer.open("c", "a:b", sealed, max_age=HOUR)


# -- time -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "opens"),
    [(0, True), (1, True), (HOUR - 1, True), (HOUR, True), (HOUR + 1, False), (30 * 24 * HOUR, False)],
)
def test_a_value_lives_for_max_age(sealer: Sealer, clock: FakeClock, elapsed: int, opens: bool) -> None:
    sealed = sealer.seal("n", "p", {"a": 1})
    clock.advance(elapsed)

    if opens:
        assert sealer.open("n", "p", sealed, max_age=HOUR).payload == {"a": 1}
    else:
        with pytest.raises(ExpiredCookie):
            sealer.open("n", "p", sealed, max_age=HOUR)


def test_an_expired_value_is_a_cookie_error(sealer: Sealer, clock: FakeClock) -> None:
    sealed = sealer.seal("n", "p", {"a": 1})
    clock.advance(HOUR + 1)

    with pytest.raises(CookieError):
        sealer.open("n", "p", sealed, max_age=HOUR)


def test_a_tampered_expired_value_is_bad_not_expired(sealer: Sealer, clock: FakeClock) -> None:
    sealed = sealer.seal("n", "p", {"a": 1})
    clock.advance(HOUR + 1)

    with pytest.raises(BadCookie):
        sealer.open("n", "p", sealed[:-2] + flip(sealed[-2]) + sealed[-1], max_age=HOUR)


def test_a_value_sealed_far_in_the_future_is_refused(clock: FakeClock) -> None:
    future = Sealer([KEY], clock=FakeClock(clock() + HOUR))
    sealed = future.seal("n", "p", {"a": 1})

    with pytest.raises(CookieError):
        Sealer([KEY], clock=clock).open("n", "p", sealed, max_age=HOUR)


def test_a_value_sealed_by_a_dyno_whose_clock_is_slightly_ahead_opens() -> None:
    # 0.2 s apart, but on either side of a whole second: the timestamps differ by one.
    reader_clock = FakeClock(1_700_000_000.9)
    ahead = Sealer([KEY], clock=FakeClock(reader_clock() + 0.2))
    sealed = ahead.seal("n", "p", {"a": 1})

    assert Sealer([KEY], clock=reader_clock).open("n", "p", sealed, max_age=HOUR).payload == {"a": 1}


# -- key rotation -----------------------------------------------------------------------------------------------


def test_a_value_sealed_under_a_fallback_key_opens_and_says_so(clock: FakeClock) -> None:
    sealed = Sealer([OLD_KEY], clock=clock).seal("n", "p", {"a": 1})

    opened = Sealer([KEY, OLD_KEY], clock=clock).open("n", "p", sealed, max_age=HOUR)

    assert opened.payload == {"a": 1}
    assert opened.stale_key is True


def test_new_values_are_sealed_under_the_current_key(clock: FakeClock) -> None:
    sealed = Sealer([KEY, OLD_KEY], clock=clock).seal("n", "p", {"a": 1})

    assert Sealer([KEY], clock=clock).open("n", "p", sealed, max_age=HOUR).stale_key is False
    with pytest.raises(BadCookie):
        Sealer([OLD_KEY], clock=clock).open("n", "p", sealed, max_age=HOUR)


@pytest.mark.parametrize("keys", [[KEY], [KEY, OLD_KEY], [OLD_KEY]])
def test_a_value_sealed_under_an_unknown_key_is_refused(clock: FakeClock, keys: list[str]) -> None:
    forged = Sealer([UNKNOWN_KEY], clock=clock).seal("n", "p", {"admin": True})

    with pytest.raises(BadCookie):
        Sealer(keys, clock=clock).open("n", "p", forged, max_age=HOUR)


def test_an_expired_value_under_a_fallback_key_is_expired(clock: FakeClock) -> None:
    sealed = Sealer([OLD_KEY], clock=clock).seal("n", "p", {"a": 1})
    clock.advance(HOUR + 1)

    with pytest.raises(ExpiredCookie):
        Sealer([KEY, OLD_KEY], clock=clock).open("n", "p", sealed, max_age=HOUR)


# -- compression and confidentiality ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "compressed"),
    [
        ({"a": 1}, False),
        ({"t": "x" * 200}, False),
        ({"t": "ab" * 500}, True),
        ({"t": ACCESS_TOKEN * 5}, True),
    ],
    ids=["tiny", "below-threshold", "repetitive", "repeated-token"],
)
def test_compression_is_used_only_when_it_pays(sealer: Sealer, payload: dict[str, Any], compressed: bool) -> None:
    sealed = sealer.seal("n", "p", payload)

    assert is_compressed(sealed, payload) is compressed
    assert sealer.open("n", "p", sealed, max_age=HOUR).payload == payload


def test_compression_is_skipped_when_it_would_grow_the_value(clock: FakeClock) -> None:
    sealer = Sealer([KEY], clock=clock)
    sealer.compress_above = 0
    sealed = sealer.seal("n", "p", {"a": 1})

    assert not is_compressed(sealed, {"a": 1})


def test_compression_keeps_big_repetitive_payloads_small(sealer: Sealer) -> None:
    sealed = sealer.seal("n", "p", {"t": "spotify " * 1000})

    assert len(sealed) < 500


def decoded_parts(sealed: str) -> list[bytes]:
    parts = []
    for part in sealed.split("."):
        try:
            parts.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (binascii.Error, ValueError):
            continue
    return parts


@pytest.mark.parametrize("payload_size", ["small", "compressed"])
def test_the_token_cannot_be_read_from_the_sealed_value(sealer: Sealer, payload_size: str) -> None:
    token = "BQsecretAccessToken" + "Q" * 20
    payload = {"accessToken": token} if payload_size == "small" else {"accessToken": token, "pad": "z" * 500}

    sealed = sealer.seal("acct-spotify", "account", payload)

    assert token not in sealed
    for needle in (token.encode(), token[:12].encode(), b"accessToken"):
        assert all(needle not in part for part in decoded_parts(sealed))
        assert needle not in base64.urlsafe_b64decode(sealed.split(".")[0] + "==")


# -- signing short texts ----------------------------------------------------------------------------------------


def test_a_signed_text_verifies_with_its_time(sealer: Sealer, clock: FakeClock) -> None:
    signed = sealer.sign("state", "random-text")
    clock.advance(100)

    assert sealer.verify("state", signed) == ("random-text", int(clock()) - 100)


def test_a_signed_text_is_bound_to_its_purpose(sealer: Sealer) -> None:
    signed = sealer.sign("state", "random-text")

    with pytest.raises(BadCookie):
        sealer.verify("csrf", signed)


def test_a_text_signed_under_a_fallback_key_verifies(clock: FakeClock) -> None:
    signed = Sealer([OLD_KEY], clock=clock).sign("state", "t")

    assert Sealer([KEY, OLD_KEY], clock=clock).verify("state", signed)[0] == "t"
    with pytest.raises(BadCookie):
        Sealer([KEY], clock=clock).verify("state", signed)


@pytest.mark.parametrize(
    "signed", ["", "random-text", "random-text.AAAA.BBBB", "x" * 257, "é.a.b", "random-text.." + "A" * 43]
)
def test_a_bad_signature_is_refused(sealer: Sealer, signed: str) -> None:
    with pytest.raises(BadCookie):
        sealer.verify("state", signed)


def test_every_tampered_character_of_a_signed_text_is_refused(sealer: Sealer) -> None:
    signed = sealer.sign("state", "random-text")

    for index, character in enumerate(signed):
        tampered = signed[:index] + flip(character) + signed[index + 1 :]
        with pytest.raises(BadCookie):
            sealer.verify("state", tampered)


def test_a_sealed_cookie_is_not_a_signed_text(sealer: Sealer) -> None:
    sealed = sealer.seal("", "state", {"a": 1})

    with pytest.raises(BadCookie):
        sealer.verify("state", sealed)


# -- cookie names and attributes --------------------------------------------------------------------------------


def set_cookie_headers(response: Response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def attributes(header: str) -> tuple[str, str, dict[str, str]]:
    first, *rest = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    found = {}
    for item in rest:
        key, _, attribute_value = item.partition("=")
        found[key.lower()] = attribute_value
    return name, value, found


@pytest.mark.parametrize(("secure", "expected"), [(True, "__Host-flow"), (False, "flow")])
def test_cookie_names_get_the_host_prefix_over_https(secure: bool, expected: str) -> None:
    assert CookiePolicy(secure=secure).name("flow") == expected


@pytest.mark.parametrize("secure", [True, False])
def test_a_set_cookie_is_httponly_lax_on_the_whole_site_without_domain(secure: bool) -> None:
    response = Response()
    CookiePolicy(secure=secure).set(response, "acct-spotify", "sealed.value.sig", max_age=600)

    [header] = set_cookie_headers(response)
    name, value, found = attributes(header)
    assert name == ("__Host-acct-spotify" if secure else "acct-spotify")
    assert value == "sealed.value.sig"
    assert "httponly" in found
    assert found["samesite"] == "Lax"
    assert found["path"] == "/"
    assert found["max-age"] == "600"
    assert "domain" not in found
    assert ("secure" in found) is secure


def test_a_negative_lifetime_is_written_as_zero() -> None:
    response = Response()
    CookiePolicy(secure=True).set(response, "flow", "v", max_age=-5)

    [header] = set_cookie_headers(response)
    assert attributes(header)[2]["max-age"] == "0"


@pytest.mark.parametrize("secure", [True, False])
def test_a_deleted_cookie_uses_the_same_name_and_attributes(secure: bool) -> None:
    policy = CookiePolicy(secure=secure)
    response = Response()
    policy.set(response, "flow", "v", max_age=600)
    policy.delete(response, "flow")

    set_header, delete_header = set_cookie_headers(response)
    set_name, _, set_attributes = attributes(set_header)
    delete_name, delete_value, delete_attributes = attributes(delete_header)
    assert delete_name == set_name
    assert delete_value == ""
    assert delete_attributes["max-age"] == "0"
    for attribute in ("path", "samesite", "httponly", "secure", "domain"):
        assert (attribute in delete_attributes) == (attribute in set_attributes), attribute
        assert delete_attributes.get(attribute) == set_attributes.get(attribute), attribute


def test_a_sealed_value_survives_the_cookie_header_round_trip(sealer: Sealer) -> None:
    payload = {"name": 'Zoë; O\'Brien="x"', "t": ACCESS_TOKEN}
    response = Response()
    policy = CookiePolicy(secure=True)
    policy.set(response, "acct-spotify", sealer.seal("acct-spotify", "account", payload), max_age=600)

    name, value, _ = attributes(set_cookie_headers(response)[0])
    cookies = parse_cookie(f"{name}={value}")

    opened = sealer.open("acct-spotify", "account", cookies[policy.name("acct-spotify")], max_age=HOUR)
    assert opened.payload == payload


@pytest.mark.parametrize("value", ['with"quote', "with;semicolon", "with space", "line\r\nSet-Cookie: evil=1", "zoë"])
def test_a_value_that_would_need_quoting_is_never_written(value: str) -> None:
    response = Response()

    with pytest.raises(ValueError, match="quoting"):
        CookiePolicy(secure=True).set(response, "flow", value, max_age=600)
    assert set_cookie_headers(response) == []


@pytest.mark.parametrize("base", ["acct-a b", "acct-x;y=1", 'acct-"q"', "acct-\r\nX-Evil: 1", ""])
def test_a_name_no_browser_could_have_sent_is_not_deleted(base: str) -> None:
    response = Response()

    CookiePolicy(secure=False).delete(response, base)

    assert set_cookie_headers(response) == []

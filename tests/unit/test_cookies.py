"""Sealed cookies: only this app can read or forge them, under their own name and purpose, for a limited time."""

from __future__ import annotations

import base64
import binascii
import json
import string
from typing import Any

import pytest
from werkzeug.http import parse_cookie
from werkzeug.wrappers import Response

from callback_app import cookies
from callback_app.cookies import MAX_PLAINTEXT_BYTES, MAX_SEALED_LENGTH, CookieJar, Sealer
from callback_app.errors import BadCookie, CookieError, ExpiredCookie
from tests.support.clock import FakeClock
from tests.support.pages import cookie_attributes, cookie_name
from tests.unit.helpers import KEY, OLD_KEY, OTHER_KEY, START, random_text

HOUR = 3600
ACCESS_TOKEN = "BQ" + "x7Fq2LmN9pR4sT6vW8yZ" * 10
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture
def sealer(clock: FakeClock) -> Sealer:
    return Sealer([KEY], clock=clock)


def is_compressed(sealed: str, payload: dict[str, Any]) -> bool:
    """Whether the body is shorter than key id + nonce + frame byte + plain JSON + tag would be."""
    plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    plain_body = base64.urlsafe_b64encode(bytes(4 + 12 + 1 + len(plaintext) + 16)).rstrip(b"=")
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
        {"big": random_text(2000)},
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


def test_a_sealer_needs_a_key(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="key"):
        Sealer([], clock=clock)


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
        lambda sealed: sealed[: len(sealed) // 2],
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
        "half",
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
    sealed = sealer.seal("n", "p", {"big": random_text(6000)})

    assert len(sealed) > MAX_SEALED_LENGTH
    with pytest.raises(BadCookie):
        sealer.open("n", "p", sealed, max_age=HOUR)


@pytest.mark.parametrize("payload", [[1, 2, 3], "a string", 42, None])
def test_an_opened_payload_must_be_a_dict(sealer: Sealer, payload: Any) -> None:
    sealed = sealer.seal("n", "p", payload)

    with pytest.raises(BadCookie):
        sealer.open("n", "p", sealed, max_age=HOUR)


def test_a_payload_that_inflates_past_the_limit_is_refused(sealer: Sealer) -> None:
    sealed = sealer.seal("n", "p", {"bomb": "a" * (MAX_PLAINTEXT_BYTES * 3)})

    assert len(sealed) < MAX_SEALED_LENGTH
    with pytest.raises(BadCookie):
        sealer.open("n", "p", sealed, max_age=HOUR)


def test_a_payload_just_under_the_inflation_limit_opens(sealer: Sealer) -> None:
    payload = {"t": "a" * (MAX_PLAINTEXT_BYTES - 20)}
    sealed = sealer.seal("n", "p", payload)

    assert sealer.open("n", "p", sealed, max_age=HOUR).payload == payload


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


def test_a_value_sealed_by_an_instance_whose_clock_is_slightly_ahead_opens() -> None:
    # 0.2 s apart, but on either side of a whole second: the timestamps differ by one.
    reader_clock = FakeClock(START + 0.9)
    ahead = Sealer([KEY], clock=FakeClock(reader_clock() + 0.2))
    sealed = ahead.seal("n", "p", {"a": 1})

    assert Sealer([KEY], clock=reader_clock).open("n", "p", sealed, max_age=HOUR).payload == {"a": 1}


# -- key rotation: keys oldest to newest, the newest seals ------------------------------------------------------


def test_a_value_sealed_under_an_older_key_opens_and_says_so(clock: FakeClock) -> None:
    sealed = Sealer([OLD_KEY], clock=clock).seal("n", "p", {"a": 1})

    opened = Sealer([OLD_KEY, KEY], clock=clock).open("n", "p", sealed, max_age=HOUR)

    assert opened.payload == {"a": 1}
    assert opened.stale_key is True


def test_new_values_are_sealed_under_the_newest_key(clock: FakeClock) -> None:
    sealed = Sealer([OLD_KEY, KEY], clock=clock).seal("n", "p", {"a": 1})

    assert Sealer([KEY], clock=clock).open("n", "p", sealed, max_age=HOUR).stale_key is False
    with pytest.raises(BadCookie):
        Sealer([OLD_KEY], clock=clock).open("n", "p", sealed, max_age=HOUR)


def test_three_generations_of_keys_all_open(clock: FakeClock) -> None:
    keys = [OTHER_KEY, OLD_KEY, KEY]
    ring = Sealer(keys, clock=clock)

    for index, key in enumerate(keys):
        sealed = Sealer([key], clock=clock).seal("n", "p", {"generation": index})
        opened = ring.open("n", "p", sealed, max_age=HOUR)
        assert (opened.payload, opened.stale_key) == ({"generation": index}, key != KEY)


@pytest.mark.parametrize("keys", [[KEY], [OLD_KEY, KEY], [OLD_KEY]])
def test_a_value_sealed_under_an_unknown_key_is_refused(clock: FakeClock, keys: list[str]) -> None:
    forged = Sealer([OTHER_KEY], clock=clock).seal("n", "p", {"admin": True})

    with pytest.raises(BadCookie):
        Sealer(keys, clock=clock).open("n", "p", forged, max_age=HOUR)


def test_an_expired_value_under_an_older_key_is_expired(clock: FakeClock) -> None:
    sealed = Sealer([OLD_KEY], clock=clock).seal("n", "p", {"a": 1})
    clock.advance(HOUR + 1)

    with pytest.raises(ExpiredCookie):
        Sealer([OLD_KEY, KEY], clock=clock).open("n", "p", sealed, max_age=HOUR)


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


def test_compression_is_skipped_when_it_would_grow_the_value(sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cookies, "COMPRESS_ABOVE", 0)
    payload = {"a": 1}

    sealed = sealer.seal("n", "p", payload)

    assert not is_compressed(sealed, payload)
    assert sealer.open("n", "p", sealed, max_age=HOUR).payload == payload


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


# -- signing short texts ----------------------------------------------------------------------------------------


def test_a_signed_text_verifies_with_its_time(sealer: Sealer, clock: FakeClock) -> None:
    signed = sealer.sign("state", "random-text")
    clock.advance(100)

    assert sealer.verify("state", signed) == ("random-text", int(clock()) - 100)


def test_a_signed_text_is_bound_to_its_purpose(sealer: Sealer) -> None:
    signed = sealer.sign("state", "random-text")

    with pytest.raises(BadCookie):
        sealer.verify("csrf", signed)


def test_a_text_signed_under_an_older_key_verifies_while_that_key_is_listed(clock: FakeClock) -> None:
    signed = Sealer([OLD_KEY], clock=clock).sign("state", "t")

    assert Sealer([OLD_KEY, KEY], clock=clock).verify("state", signed)[0] == "t"
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


def test_a_signed_text_is_not_a_sealed_cookie(sealer: Sealer) -> None:
    signed = sealer.sign("state", "random-text")

    with pytest.raises(BadCookie):
        sealer.open("", "state", signed, max_age=HOUR)


# -- cookie names and attributes, on a real werkzeug response ---------------------------------------------------


@pytest.mark.parametrize(("secure", "expected"), [(True, "__Host-flow"), (False, "flow")])
def test_cookie_names_get_the_host_prefix_over_https_only(secure: bool, expected: str) -> None:
    assert CookieJar(secure=secure).name("flow") == expected


@pytest.mark.parametrize(
    ("secure", "name", "base"),
    [
        (True, "__Host-acct-spotify", "acct-spotify"),
        (True, "acct-spotify", None),
        (False, "acct-spotify", "acct-spotify"),
        (True, "__Host-", ""),
    ],
)
def test_a_cookie_name_tells_its_base(secure: bool, name: str, base: str | None) -> None:
    assert CookieJar(secure=secure).base_of(name) == base


@pytest.mark.parametrize("secure", [True, False])
def test_a_set_cookie_is_httponly_lax_on_the_whole_site_without_domain(secure: bool) -> None:
    response = Response()
    CookieJar(secure=secure).set(response, "acct-spotify", "sealed.value.sig", max_age=600)

    [header] = response.headers.getlist("Set-Cookie")
    attributes = cookie_attributes(header)
    assert cookie_name(header) == ("__Host-acct-spotify" if secure else "acct-spotify")
    assert header.split(";", 1)[0].split("=", 1)[1] == "sealed.value.sig"
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert attributes["max-age"] == "600"
    assert "domain" not in attributes
    assert ("secure" in attributes) is secure


def test_a_negative_lifetime_is_written_as_zero() -> None:
    response = Response()
    CookieJar(secure=True).set(response, "flow", "v", max_age=-5)

    [header] = response.headers.getlist("Set-Cookie")
    assert cookie_attributes(header)["max-age"] == "0"


@pytest.mark.parametrize("secure", [True, False])
def test_a_deleted_cookie_uses_the_same_name_and_attributes_and_max_age_0(secure: bool) -> None:
    jar = CookieJar(secure=secure)
    response = Response()
    jar.set(response, "flow", "v", max_age=600)
    jar.delete(response, "flow")

    set_header, delete_header = response.headers.getlist("Set-Cookie")
    set_attributes, delete_attributes = cookie_attributes(set_header), cookie_attributes(delete_header)
    assert cookie_name(delete_header) == cookie_name(set_header)
    assert delete_header.split(";", 1)[0] == f"{jar.name('flow')}="
    assert delete_attributes["max-age"] == "0"
    for attribute in ("path", "samesite", "httponly", "secure", "domain"):
        assert delete_attributes.get(attribute) == set_attributes.get(attribute), attribute


def test_a_sealed_value_survives_the_cookie_header_round_trip(sealer: Sealer) -> None:
    payload = {"name": 'Zoë; O\'Brien="x"', "t": ACCESS_TOKEN}
    response = Response()
    jar = CookieJar(secure=True)
    jar.set(response, "acct-spotify", sealer.seal("acct-spotify", "account", payload), max_age=600)

    [header] = response.headers.getlist("Set-Cookie")
    received = parse_cookie(header.split(";", 1)[0])

    assert sealer.open("acct-spotify", "account", received[jar.name("acct-spotify")], max_age=HOUR).payload == payload


@pytest.mark.parametrize("value", ["line\r\nSet-Cookie: evil=1", "a\nb", "a\rb"])
def test_no_value_can_split_the_header(value: str) -> None:
    response = Response()

    CookieJar(secure=True).set(response, "flow", value, max_age=600)

    for header in response.headers.getlist("Set-Cookie"):
        assert "\r" not in header
        assert "\n" not in header

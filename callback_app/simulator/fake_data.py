"""Fake but realistically sized MusicAPI user profiles and per-service auth data.

Sizes matter: the app's cookie budget is tested against them, so each token mimics its real service's length.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import string
import unicodedata
import uuid
from dataclasses import dataclass

BASE64URL_ALPHABET = string.ascii_letters + string.digits + "-_"
BASE64_ALPHABET = string.ascii_letters + string.digits + "+/"
ALPHANUMERIC_ALPHABET = string.ascii_letters + string.digits

# An RS256 signature is 256 bytes, i.e. 342 unpadded base64url characters.
JWT_SIGNATURE_LENGTH = 342

FIRST_NAMES = ("Ada", "Grace", "Alan", "Zoë", "José", "Siobhán", "Kwame", "Mei", "Ingrid", "Rahul", "Amara", "Jan")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "O'Brien", "García", "Nowak", "Mensah", "Tanaka", "Berg", "Iyer")
COUNTRIES = ("pl", "us", "gb", "de", "fr", "br", "jp", "se", "ng", "in")
IMAGE_HOST = "https://cdn.simulator.musicapi.example"


@dataclass(frozen=True)
class TokenShape:
    """How one auth data field looks: its prefix, total length and alphabet, or a JWT of that length."""

    prefix: str
    length: int
    alphabet: str = BASE64URL_ALPHABET
    jwt: bool = False


AUTH_DATA_SHAPES: dict[str, dict[str, TokenShape]] = {
    "spotify": {"accessToken": TokenShape("BQ", 283), "refreshToken": TokenShape("AQ", 131)},
    "appleMusic": {"musicUserToken": TokenShape("Ag", 1104, BASE64_ALPHABET)},
    "tidal": {"accessToken": TokenShape("", 1000, jwt=True), "refreshToken": TokenShape("", 600, jwt=True)},
    "youtube": {"accessToken": TokenShape("ya29.", 210), "refreshToken": TokenShape("1//0g", 103)},
    "youtubeMusic": {"accessToken": TokenShape("ya29.", 210), "refreshToken": TokenShape("1//0g", 103)},
    "deezer": {"accessToken": TokenShape("fr", 50, ALPHANUMERIC_ALPHABET)},
    "amazonMusic": {"accessToken": TokenShape("Atza|", 400), "refreshToken": TokenShape("Atzr|", 400)},
    "soundcloud": {"accessToken": TokenShape("2-", 34, ALPHANUMERIC_ALPHABET)},
    "pandora": {"accessToken": TokenShape("", 100)},
    "napster": {"accessToken": TokenShape("", 30, ALPHANUMERIC_ALPHABET)},
    "qobuz": {"accessToken": TokenShape("", 80)},
    "boomplay": {"accessToken": TokenShape("", 100)},
    "anghami": {"accessToken": TokenShape("", 100)},
    "yandex": {"accessToken": TokenShape("y0_", 58)},
}
GENERIC_AUTH_DATA_SHAPE = {"accessToken": TokenShape("", 200)}

AUTH_DATA_SIZES: dict[str, dict[str, int]] = {
    service: {field: shape.length for field, shape in fields.items()} for service, fields in AUTH_DATA_SHAPES.items()
}


def fake_auth_data(service: str, now: float) -> dict[str, str]:
    """Return fresh random auth data for a service type; unknown types get a generic access token."""
    shapes = AUTH_DATA_SHAPES.get(service, GENERIC_AUTH_DATA_SHAPE)
    return {field: _fake_token(shape, now) for field, shape in shapes.items()}


def fake_profile(user_key: str | None) -> dict[str, str]:
    """Return a user profile, the same one for the same user_key, a random one without it."""
    seed = hashlib.sha256(user_key.encode()).digest() if user_key else secrets.token_bytes(32)
    # Not security sensitive: a seeded generator is what makes profiles repeatable per user_key.
    # Repeatable fake profiles, not secrets.
    generator = random.Random(seed)  # noqa: S311  # nosec B311
    first_name, last_name = generator.choice(FIRST_NAMES), generator.choice(LAST_NAMES)
    return {
        "integrationUserId": str(generator.randrange(10**9, 10**10)),
        "userUUID": str(uuid.UUID(int=generator.getrandbits(128), version=4)),
        "name": f"{first_name} {last_name}",
        "email": f"{_email_part(first_name)}.{_email_part(last_name)}@example.com",
        "imageUrl": f"{IMAGE_HOST}/avatars/{generator.getrandbits(64):016x}.jpg",
        "country": generator.choice(COUNTRIES),
    }


def _fake_token(shape: TokenShape, now: float) -> str:
    if shape.jwt:
        return _fake_jwt(shape.length, now)
    return shape.prefix + _random_text(shape.length - len(shape.prefix), shape.alphabet)


def _fake_jwt(length: int, now: float) -> str:
    """Build a decodable header.payload.signature JWT of exactly `length` characters."""
    header = _base64url_json({"alg": "RS256", "typ": "JWT", "kid": secrets.token_hex(8)})
    claims: dict[str, object] = {
        "type": "o2_access",
        "uid": secrets.randbelow(10**9),
        "scope": "r_usr w_usr w_sub",
        "gver": 4,
        "sver": 1,
        "cid": secrets.randbelow(10**5),
        "cuk": secrets.token_hex(32),
        "exp": int(now) + 86400,
        "sid": "",
        "iss": "https://auth.simulator.musicapi.example/v1",
    }
    payload_budget = length - len(header) - JWT_SIGNATURE_LENGTH - 2
    filler_length = max(0, payload_budget * 3 // 4 - len(_compact_json(claims)))
    claims["sid"] = _random_text(filler_length, string.ascii_lowercase + string.digits)
    payload = _base64url_json(claims)
    signature = _random_text(length - len(header) - len(payload) - 2, BASE64URL_ALPHABET)
    return f"{header}.{payload}.{signature}"


def _random_text(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _compact_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _base64url_json(value: object) -> str:
    return base64.urlsafe_b64encode(_compact_json(value)).rstrip(b"=").decode("ascii")


def _email_part(name: str) -> str:
    """Fold a display name into an ASCII e-mail local part: "O'Brien" -> "obrien", "Zoë" -> "zoe"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return "".join(character for character in ascii_name.lower() if character.isalnum())

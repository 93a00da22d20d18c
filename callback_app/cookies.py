"""Sealing and opening cookies: authenticated encryption, signed timestamps, key rotation.

A sealed value is ``base64(nonce | AES-GCM ciphertext)`` signed with an itsdangerous
timestamp signature. The cookie's name and purpose are bound into both the signature (salt)
and the encryption (associated data), so a value can never be replayed under another name.
This module knows nothing about MusicAPI: it seals and opens dicts.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, TimestampSigner
from werkzeug.wrappers import Response

from .errors import BadCookie, ExpiredCookie

Clock = Callable[[], float]

MAX_SEALED_LENGTH = 4096
MAX_PLAINTEXT_BYTES = 64 * 1024
_NONCE_BYTES = 12
# Dynos' clocks differ a little: a value sealed a moment "in the future" is still fresh.
MAX_CLOCK_SKEW = 5
_PLAIN = b"j"
_COMPRESSED = b"z"


class _ClockedSigner(TimestampSigner):
    """An itsdangerous timestamp signer that reads an injected clock (tests move time)."""

    def __init__(self, secret_key: str, salt: str, clock: Clock) -> None:
        super().__init__(secret_key, salt=salt, digest_method=hashlib.sha256)
        self.clock = clock
        # itsdangerous derives the HMAC key from (secret, salt) on every call; it never changes.
        self._derived_key = super().derive_key()

    def get_timestamp(self) -> int:
        return int(self.clock())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None:
            return self._derived_key
        return super().derive_key(secret_key)


@dataclass(frozen=True)
class Opened:
    """An opened cookie: its payload, when it was sealed, and whether an old key sealed it."""

    payload: dict[str, Any]
    sealed_at: int
    stale_key: bool


class _Key:
    """One secret key, with its derived encryption key and per-(name, purpose) signers."""

    def __init__(self, secret: str, clock: Clock) -> None:
        self.secret = secret
        self.clock = clock
        encryption_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"callback_app cookie encryption v1"
        ).derive(secret.encode("utf-8"))
        self.aead = AESGCM(encryption_key)
        self.signers: dict[str, _ClockedSigner] = {}

    def signer(self, context: str) -> _ClockedSigner:
        signer = self.signers.get(context)
        if signer is None:
            signer = self.signers[context] = _ClockedSigner(self.secret, f"callback_app:{context}", self.clock)
        return signer


class Sealer:
    """Seals dicts into cookie-safe strings under the newest key; opens them under any key."""

    compress_above: int = 256

    def __init__(self, secret_keys: Sequence[str], *, clock: Clock = time.time) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        self.clock = clock
        self.keys = [_Key(secret, clock) for secret in secret_keys]

    def seal(self, name: str, purpose: str, payload: Mapping[str, Any]) -> str:
        """Encrypt and sign ``payload`` for the cookie ``name`` used for ``purpose``."""
        context, associated_data = _seal_context(name, purpose)
        plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        framed = _PLAIN + plaintext
        if len(plaintext) > self.compress_above:
            compressed = zlib.compress(plaintext, 6)
            if len(compressed) < len(plaintext):
                framed = _COMPRESSED + compressed
        key = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = key.aead.encrypt(nonce, framed, associated_data)
        body = base64.urlsafe_b64encode(nonce + ciphertext).rstrip(b"=")
        return key.signer(context).sign(body).decode("ascii")

    def open(self, name: str, purpose: str, value: str, *, max_age: int) -> Opened:
        """Verify, decrypt and decode a sealed value; raise BadCookie or ExpiredCookie."""
        if not value or len(value) > MAX_SEALED_LENGTH or not value.isascii():
            raise BadCookie()
        context, associated_data = _seal_context(name, purpose)
        for index, key in enumerate(self.keys):
            try:
                body, sealed_at = key.signer(context).unsign(value, return_timestamp=True)
            except BadSignature:
                continue
            age = int(self.clock()) - int(sealed_at.timestamp())
            if age > max_age or age < -MAX_CLOCK_SKEW:
                raise ExpiredCookie()
            payload = _decrypt(key, body, associated_data)
            return Opened(payload=payload, sealed_at=int(sealed_at.timestamp()), stale_key=index > 0)
        raise BadCookie()

    def sign(self, purpose: str, text: str) -> str:
        """Sign a short text with a timestamp (for values carried in URLs, not cookies)."""
        return self.keys[0].signer(_sign_context(purpose)).sign(text).decode("ascii")

    def verify(self, purpose: str, signed: str) -> tuple[str, int]:
        """The text and signing time of a value made by :meth:`sign`; raise BadCookie."""
        if not signed or len(signed) > 256 or not signed.isascii():
            raise BadCookie()
        for key in self.keys:
            try:
                text, signed_at = key.signer(_sign_context(purpose)).unsign(signed, return_timestamp=True)
            except BadSignature:
                continue
            return text.decode("ascii"), int(signed_at.timestamp())
        raise BadCookie()


@functools.lru_cache(maxsize=256)
def _seal_context(name: str, purpose: str) -> tuple[str, bytes]:
    """The signer's context and the encryption's associated data for one (cookie name, purpose)."""
    # JSON keeps (purpose, name) pairs apart even when either holds ':'; "seal" keeps them apart from sign().
    context = json.dumps(["seal", purpose, name], separators=(",", ":"))
    return context, context.encode("utf-8")


@functools.lru_cache(maxsize=64)
def _sign_context(purpose: str) -> str:
    return json.dumps(["sign", purpose], separators=(",", ":"))


def _decrypt(key: _Key, body: bytes, associated_data: bytes) -> dict[str, Any]:
    try:
        sealed = base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
        framed = key.aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data)
    except (ValueError, InvalidTag) as error:
        raise BadCookie() from error
    kind, data = framed[:1], framed[1:]
    try:
        if kind == _COMPRESSED:
            inflater = zlib.decompressobj()
            data = inflater.decompress(data, MAX_PLAINTEXT_BYTES)
            if inflater.unconsumed_tail:
                raise BadCookie()
        elif kind != _PLAIN:
            raise BadCookie()
        payload = json.loads(data.decode("utf-8"))
    except (zlib.error, ValueError) as error:
        raise BadCookie() from error
    if not isinstance(payload, dict):
        raise BadCookie()
    return payload


# RFC 6265 cookie-name token characters, and the characters of a sealed value (base64url and '.').
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}")
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9._-]*")
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


class CookiePolicy:
    """Cookie names and attributes: one place decides Secure, HttpOnly, SameSite and prefix.

    Set-Cookie headers are written here, not by werkzeug's ``set_cookie``: every cookie of this
    app has the same attributes and a value that needs no quoting, so the header is one format
    string instead of a general-purpose serializer on every response.
    """

    def __init__(self, *, secure: bool) -> None:
        self.secure = secure
        # __Host- makes the browser insist on Secure, Path=/ and no Domain: no subdomain can plant one.
        self.prefix = "__Host-" if secure else ""
        self.attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def set(self, response: Response, base: str, value: str, *, max_age: int) -> None:
        name = self.name(base)
        if not _COOKIE_NAME.fullmatch(name) or not _COOKIE_VALUE.fullmatch(value):
            raise ValueError("a cookie name or value that would need quoting")
        response.headers.add("Set-Cookie", f"{name}={value}; Max-Age={max(0, max_age)}{self.attributes}")

    def delete(self, response: Response, base: str) -> None:
        """Tell the browser to drop the cookie (a name no browser could have sent is ignored)."""
        name = self.name(base)
        if _COOKIE_NAME.fullmatch(name):
            response.headers.add("Set-Cookie", f"{name}=; Expires={_EPOCH}; Max-Age=0{self.attributes}")

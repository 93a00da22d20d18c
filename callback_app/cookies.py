"""Sealing and opening values: authenticated encryption inside an itsdangerous timestamp signature.

A sealed value is ``base64url(key id | nonce | AES-GCM ciphertext)``, signed by an itsdangerous
``TimestampSigner`` holding every key, oldest to newest (the newest signs). The name and purpose
it was sealed for are bound into both the signature (salt) and the encryption (associated
data), so a value never opens under another name. ``CookieJar`` is the one place that decides
cookie names and attributes. This module knows nothing about MusicAPI: it seals and opens dicts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, TimestampSigner
from werkzeug.wrappers import Response

from callback_app.errors import BadCookie, CookieError, ExpiredCookie
from callback_app.types import Clock

MAX_SEALED_LENGTH = 4096
MAX_SIGNED_LENGTH = 256
MAX_PLAINTEXT_BYTES = 64 * 1024
COMPRESS_ABOVE = 256
# Instances' clocks differ a little: a value sealed by one a moment "ahead" still opens on another.
CLOCK_SKEW = 5
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12
_PLAIN = b"j"
_COMPRESSED = b"z"


class _ClockedSigner(TimestampSigner):
    """itsdangerous' timestamp signer reading an injected clock, so tests move time."""

    def __init__(self, secret_keys: Sequence[str], salt: str, clock: Clock) -> None:
        super().__init__(list(secret_keys), salt=salt, digest_method=hashlib.sha256)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


@dataclass(frozen=True)
class Opened:
    """An opened value: its payload, when it was sealed, and whether an older key sealed it."""

    payload: dict[str, Any]
    sealed_at: int
    stale_key: bool


def encryption_key(secret: str, info: bytes) -> bytes:
    """A 256-bit key derived from ``secret`` for one use, named by ``info``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode("utf-8"))


def seal_bytes(aead: AESGCM, plaintext: bytes, associated_data: bytes) -> bytes:
    """``nonce | ciphertext`` of ``plaintext``, compressed first when that makes it smaller."""
    framed = _PLAIN + plaintext
    if len(plaintext) > COMPRESS_ABOVE:
        compressed = zlib.compress(plaintext, 6)
        if len(compressed) < len(plaintext):
            framed = _COMPRESSED + compressed
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + aead.encrypt(nonce, framed, associated_data)


def open_bytes(aead: AESGCM, sealed: bytes, associated_data: bytes) -> bytes:
    """The plaintext of :func:`seal_bytes`; raise BadCookie for anything else."""
    try:
        framed = aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data)
    except (ValueError, InvalidTag) as error:
        raise BadCookie() from error
    kind, data = framed[:1], framed[1:]
    if kind == _PLAIN:
        return data
    if kind != _COMPRESSED:
        raise BadCookie()
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(data, MAX_PLAINTEXT_BYTES)
    except zlib.error as error:
        raise BadCookie() from error
    if inflater.unconsumed_tail:
        raise BadCookie()
    return data


def dumps(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(data: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise BadCookie() from error
    if not isinstance(payload, dict):
        raise BadCookie()
    return payload


class Sealer:
    """Seals dicts into cookie-safe strings under the newest key; opens them under any key."""

    def __init__(self, keys_oldest_first: Sequence[str], *, clock: Clock) -> None:
        if not keys_oldest_first:
            raise ValueError("at least one secret key is needed")
        self.keys = tuple(keys_oldest_first)
        self.clock = clock
        self._aeads = {
            _key_id(secret): AESGCM(encryption_key(secret, b"callback_app cookie encryption v1"))
            for secret in self.keys
        }
        self._current_key_id = _key_id(self.keys[-1])
        self._signers: dict[str, _ClockedSigner] = {}

    def _signer(self, context: str) -> _ClockedSigner:
        signer = self._signers.get(context)
        if signer is None:
            signer = self._signers[context] = _ClockedSigner(self.keys, f"callback_app:{context}", self.clock)
        return signer

    def seal(self, name: str, purpose: str, payload: Mapping[str, Any]) -> str:
        """Encrypt and sign ``payload`` for the value ``name`` used for ``purpose``."""
        context = _context("seal", purpose, name)
        sealed = seal_bytes(self._aeads[self._current_key_id], dumps(payload), context.encode())
        body = base64.urlsafe_b64encode(self._current_key_id + sealed).rstrip(b"=")
        return self._signer(context).sign(body).decode("ascii")

    def open(self, name: str, purpose: str, value: str, *, max_age: int) -> Opened:
        """Verify, decrypt and decode a sealed value; raise BadCookie or ExpiredCookie."""
        if not value or len(value) > MAX_SEALED_LENGTH or not value.isascii():
            raise BadCookie()
        context = _context("seal", purpose, name)
        body, sealed_at = self._unsign(context, value, max_age)
        try:
            raw = base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
        except ValueError as error:
            raise BadCookie() from error
        key_id, sealed = raw[:_KEY_ID_BYTES], raw[_KEY_ID_BYTES:]
        aead = self._aeads.get(key_id)
        if aead is None:
            raise BadCookie()
        payload = loads(open_bytes(aead, sealed, context.encode()))
        return Opened(payload=payload, sealed_at=sealed_at, stale_key=key_id != self._current_key_id)

    def sign(self, purpose: str, text: str) -> str:
        """Sign a short text with a timestamp (for values carried in URLs, not cookies)."""
        return self._signer(_context("sign", purpose)).sign(text).decode("ascii")

    def verify(self, purpose: str, signed: str) -> tuple[str, int]:
        """The text and signing time of a value made by :meth:`sign`; raise BadCookie."""
        if not signed or len(signed) > MAX_SIGNED_LENGTH or not signed.isascii():
            raise BadCookie()
        text, signed_at = self._unsign(_context("sign", purpose), signed, None)
        return text.decode("ascii"), signed_at

    def _unsign(self, context: str, value: str, max_age: int | None) -> tuple[bytes, int]:
        try:
            body, signed_at = self._signer(context).unsign(value, return_timestamp=True)
        except BadSignature as error:
            raise BadCookie() from error
        sealed_at = int(signed_at.timestamp())
        # itsdangerous refuses any age below zero; another instance's clock may be a second ahead.
        if max_age is not None and not -CLOCK_SKEW <= int(self.clock()) - sealed_at <= max_age:
            raise ExpiredCookie()
        return body, sealed_at


def open_cookie(
    sealer: Sealer, jar: CookieJar, cookies: Mapping[str, str], base: str, purpose: str, *, max_age: int
) -> dict[str, Any] | None:
    """The payload of the browser's cookie ``base``, or None when it is absent, forged or expired."""
    sealed = cookies.get(jar.name(base))
    if sealed is None:
        return None
    try:
        return sealer.open(base, purpose, sealed, max_age=max_age).payload
    except CookieError:
        return None


def _key_id(secret: str) -> bytes:
    """A short public name for a key, so opening picks the right one without trying each."""
    return hmac.new(secret.encode("utf-8"), b"callback_app key id", hashlib.sha256).digest()[:_KEY_ID_BYTES]


def _context(*parts: str) -> str:
    # JSON keeps ("a:b", "c") apart from ("a", "b:c"); the first part keeps seal() apart from sign().
    return json.dumps(parts, separators=(",", ":"))


class CookieJar:
    """Cookie names and attributes: Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain, in one place.

    Over https every name gets the ``__Host-`` prefix: browsers then insist on Secure, Path=/
    and no Domain, so no subdomain can plant or overwrite one.
    """

    def __init__(self, *, secure: bool) -> None:
        self.secure = secure
        self.prefix = "__Host-" if secure else ""

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def base_of(self, name: str) -> str | None:
        """The base name of a cookie this jar could have set, or None."""
        return name[len(self.prefix) :] if name.startswith(self.prefix) else None

    def set(self, response: Response, base: str, value: str, *, max_age: int) -> None:
        response.set_cookie(
            self.name(base),
            value,
            max_age=max(0, int(max_age)),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def delete(self, response: Response, base: str) -> None:
        response.delete_cookie(self.name(base), path="/", secure=self.secure, httponly=True, samesite="Lax")

"""One-time tokens and ``data64`` as the benchmark's MusicAPI issues them.

The load client plays MusicAPI's login page: it mints each user's one-time token itself,
right before the callback, so a burst of 2,000 logins costs no request and no waiting. A
token is ``<issued_ms>.<hmac>`` over the user's UUID under a secret shared with the fake
MusicAPI, which checks its signature and age and keeps only the set of spent tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from tests.support.musicapi import encode_data64, login_document

SERVICE = "spotify"


def mint_token(secret: bytes, user_uuid: str, issued_at: float | None = None) -> str:
    issued_ms = int((time.time() if issued_at is None else issued_at) * 1000)
    return f"{issued_ms}.{_signature(secret, user_uuid, issued_ms)}"


def token_issued_at(secret: bytes, user_uuid: str, token: str) -> float | None:
    """When ``token`` was issued for ``user_uuid``, or None if it is not one of ours."""
    issued, _, signature = token.partition(".")
    if not issued.isdigit() or not hmac.compare_digest(signature, _signature(secret, user_uuid, int(issued))):
        return None
    return int(issued) / 1000


def _signature(secret: bytes, user_uuid: str, issued_ms: int) -> str:
    return hmac.new(secret, f"{user_uuid}|{issued_ms}".encode(), hashlib.sha256).hexdigest()[:32]


def new_login(secret: bytes, service: str = SERVICE) -> tuple[str, str]:
    """A fresh successful login: the user's UUID and the ``data64`` MusicAPI sends back."""
    user_uuid = str(uuid.uuid4())
    document = login_document(service, user_uuid=user_uuid, token=mint_token(secret, user_uuid))
    return user_uuid, encode_data64(document)

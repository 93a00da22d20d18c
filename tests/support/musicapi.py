"""MusicAPI's messages as tests write them: data64 documents, exchange answers, and a scriptable fake."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

SPOTIFY_LIKE_TOKEN = "BQ" + "x" * 200


def login_document(
    service: str = "spotify", *, user_uuid: str | None = None, token: str | None = None, status: str = "success"
) -> dict[str, Any]:
    """A login as MusicAPI reports it in data64 (successful unless ``status`` says otherwise)."""
    return {
        "integration": {"type": service, "returnUrl": f"https://api.musicapi.com/callback/{service}"},
        "authModel": {"uuid": str(uuid.uuid4()), "status": status, "error": None if status == "success" else "x"},
        "integrationUserUUID": user_uuid or str(uuid.uuid4()),
        "oneTimeToken": token or str(uuid.uuid4()),
    }


def encode_data64(document: Any, *, urlsafe: bool = False, padding: bool = True) -> str:
    """base64 of a JSON document, in either alphabet, with or without padding."""
    raw = json.dumps(document).encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode("ascii")
    return text if padding else text.rstrip("=")


def profile(**overrides: Any) -> dict[str, Any]:
    """An exchange answer's integrationUser with harmless values, overridden by the test."""
    user: dict[str, Any] = {
        "integrationUserId": "1163433669",
        "userUUID": str(uuid.uuid4()),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "imageUrl": "https://images.example/ada.jpg",
        "country": "pl",
        "authData": {"accessToken": SPOTIFY_LIKE_TOKEN},
        "authDataExpiresAt": None,
    }
    user.update(overrides)
    return user


@dataclass
class HostileUpstream:
    """A MusicAPI whose exchange answers whatever the test says: hostile JSON, odd status codes.

    Serve ``wsgi`` with tests.support.servers.ThreadedServer; ``calls`` counts exchange requests.
    """

    status: int = 200
    body: Any = field(default_factory=dict)
    calls: int = 0
    # When set, the body stops half-way until ``release`` is set (or this many seconds pass).
    stall_seconds: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.release.set()  # let a stalled answer from the previous test finish
            self.status, self.body, self.calls, self.stall_seconds = 200, {}, 0, 0.0
            self.release = threading.Event()

    def answer(self, user: dict[str, Any], status: int = 200) -> None:
        """Answer the next exchanges with ``{"integrationUser": user}``."""
        self.status = status
        self.body = {"integrationUser": user}

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/api/public/integrations/user/"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b"{}"]
        with self.lock:
            self.calls += 1
        payload = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        start_response(f"{self.status} Hostile", [("Content-Type", "application/json")])
        if self.stall_seconds:
            return self._stalling(payload, self.release, self.stall_seconds)
        return [payload]

    @staticmethod
    def _stalling(payload: bytes, release: threading.Event, seconds: float) -> Iterable[bytes]:
        half = len(payload) // 2
        yield payload[:half]
        release.wait(seconds)
        yield payload[half:]

"""Broken answers the exchange endpoint can give, to test how the app survives a misbehaving MusicAPI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Response

HUGE_BODY_BYTES = 5 * 1024 * 1024
HUGE_BODY_CHUNK_BYTES = 64 * 1024
# Often enough to keep a per-read socket timeout from ever firing: only a total deadline stops a slow body.
SLOW_BODY_TICK_SECONDS = 0.5


def fault_response(fault: str, *, redirect_location: str, slow_body_seconds: float) -> Response:
    """Return the response for one of FAULTS; "hang" is the caller's to delay before sending."""
    match fault:
        case "http_500":
            return json_response(500, {"error": "internal_server_error"})
        case "http_401":
            return json_response(401, {"error": "invalid_token"})
        case "http_404":
            return json_response(404, {"error": "not_found"})
        case "hang":
            return json_response(504, {"error": "gateway_timeout"})
        case "non_json":
            return Response("<!doctype html><title>502 Bad Gateway</title><h1>Bad Gateway</h1>", 200)
        case "huge_body":
            return Response(_huge_json_body(), 200, mimetype="application/json")
        case "wrong_shape":
            wrong_types = {"userUUID": 42, "authData": "not-an-object", "authDataExpiresAt": "tomorrow"}
            return json_response(200, {"integrationUser": wrong_types})
        case "redirect":
            return Response(status=302, headers={"Location": redirect_location})
        case "empty_body":
            return Response(b"", 200, mimetype="application/json")
        case "slow_body":
            return Response(_slow_json_body(slow_body_seconds), 200, mimetype="application/json")
        case _:
            raise ValueError(f"unknown fault {fault!r}")


def json_response(status: int, body: object) -> Response:
    """A JSON response with this status, the way MusicAPI answers."""
    return Response(json.dumps(body), status, mimetype="application/json")


def _huge_json_body() -> Iterator[bytes]:
    """Stream a valid JSON document of HUGE_BODY_BYTES without holding it in memory."""
    opening, closing = b'{"padding":"', b'"}'
    yield opening
    remaining = HUGE_BODY_BYTES - len(opening) - len(closing)
    while remaining > 0:
        chunk_size = min(HUGE_BODY_CHUNK_BYTES, remaining)
        yield b"x" * chunk_size
        remaining -= chunk_size
    yield closing


def _slow_json_body(duration: float) -> Iterator[bytes]:
    """Trickle JSON whitespace for `duration` seconds, then a small JSON error document."""
    deadline = time.monotonic() + duration
    while (left := deadline - time.monotonic()) > 0:
        yield b" "
        time.sleep(min(SLOW_BODY_TICK_SECONDS, left))
    yield b'{"error":"slow_body"}'

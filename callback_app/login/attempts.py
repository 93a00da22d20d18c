"""Popup logins: how a page on another origin learns how the login in its popup ended.

The popup may pass through pages that cut it off from its opener, so nothing is sent through
``window.opener``: the login's progress sits in a short-lived sealed cookie, which the opener
reads through ``/api/attempts/<id>`` (credentialed CORS) until it says connected or failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer, open_cookie
from callback_app.login.flows import ATTEMPT_SHAPE, FLOW_LIFETIME

ATTEMPT_COOKIE = "attempt"
ATTEMPT_PURPOSE = "attempt"
PENDING = "pending"
CONNECTED = "connected"
FAILED = "failed"


class Attempts:
    def __init__(self, *, sealer: Sealer, jar: CookieJar) -> None:
        self.sealer = sealer
        self.jar = jar

    @staticmethod
    def valid_id(attempt: str | None) -> bool:
        return attempt is not None and bool(ATTEMPT_SHAPE.fullmatch(attempt))

    def record(self, response: Response, attempt: str, status: str, *, service: str = "", reason: str = "") -> None:
        payload = {"id": attempt, "s": status, "sv": service, "r": reason}
        sealed = self.sealer.seal(ATTEMPT_COOKIE, ATTEMPT_PURPOSE, payload)
        self.jar.set(response, ATTEMPT_COOKIE, sealed, max_age=FLOW_LIFETIME)

    def read(self, cookies: Mapping[str, str], attempt: str) -> dict[str, Any] | None:
        """The attempt's status as ``/api/attempts`` reports it, or None when this browser has no such attempt."""
        payload = open_cookie(self.sealer, self.jar, cookies, ATTEMPT_COOKIE, ATTEMPT_PURPOSE, max_age=FLOW_LIFETIME)
        if payload is None or payload.get("id") != attempt:
            return None
        status: dict[str, Any] = {"status": payload.get("s")}
        if payload.get("sv"):
            status["service"] = payload["sv"]
        if payload.get("r"):
            status["reason"] = payload["r"]
        return status

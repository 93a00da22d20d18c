"""What just happened, said once: a one-shot sealed cookie the next page shows as its banner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer, open_cookie

NOTICE_COOKIE = "notice"
NOTICE_PURPOSE = "notice"
NOTICE_LIFETIME = 120
CONNECTED = "connected"
REPLACED = "replaced"
DISCONNECTED = "disconnected"
LOGGED_OUT = "logged_out"
KINDS = frozenset({CONNECTED, REPLACED, DISCONNECTED, LOGGED_OUT})


@dataclass(frozen=True)
class Notice:
    kind: str
    service: str = ""


class Notices:
    def __init__(self, *, sealer: Sealer, jar: CookieJar) -> None:
        self.sealer = sealer
        self.jar = jar

    def leave(self, response: Response, kind: str, service: str = "") -> None:
        sealed = self.sealer.seal(NOTICE_COOKIE, NOTICE_PURPOSE, {"k": kind, "s": service})
        self.jar.set(response, NOTICE_COOKIE, sealed, max_age=NOTICE_LIFETIME)

    def peek(self, cookies: Mapping[str, str]) -> Notice | None:
        """The notice waiting for this browser, if any (the caller clears it with :meth:`clear`)."""
        payload = open_cookie(self.sealer, self.jar, cookies, NOTICE_COOKIE, NOTICE_PURPOSE, max_age=NOTICE_LIFETIME)
        if payload is None:
            return None
        kind, service = payload.get("k"), payload.get("s", "")
        if kind not in KINDS or not isinstance(service, str):
            return None
        return Notice(kind=str(kind), service=service)

    def clear(self, cookies: Mapping[str, str], response: Response) -> None:
        if self.jar.name(NOTICE_COOKIE) in cookies:
            self.jar.delete(response, NOTICE_COOKIE)

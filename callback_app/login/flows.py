"""Login flows: binding MusicAPI's return to the browser (and service) that started the login.

Starting a login puts a random state in two places: a sealed, short-lived flow cookie and the
``returnUrl``. The callback is accepted only when both agree. The state in the URL is signed
with its time, so a callback without a flow cookie can still tell "expired" from "used" from
"another browser" and say so plainly, without ever being accepted. With Redis, the flow also
lives on the server (a ledger), where the callback spends it atomically: restoring an old
flow cookie cannot replay a login.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer, open_cookie
from callback_app.errors import (
    BadCookie,
    CookieError,
    ExpiredCookie,
    FlowExpired,
    FlowMissing,
    FlowReplayed,
    MalformedCallback,
    StateMismatch,
)
from callback_app.types import Clock

FLOW_COOKIE = "flow"
SPENT_COOKIE = "flow-spent"
FLOW_PURPOSE = "flow"
SPENT_PURPOSE = "spent"
STATE_PURPOSE = "state"
FLOW_LIFETIME = 600
ANY_SERVICE = ""
ATTEMPT_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")

# What a ledger's claim answers: this caller may spend the token, another one is spending it,
# the outcome of a finished login (a dict), or None when the server knows no such flow.
Claim = str | dict[str, Any] | None
CLAIMED = "claimed"
IN_FLIGHT = "inflight"


class FlowLedger(Protocol):
    """Where flows live on the server, if anywhere."""

    def open(self, key: str) -> None: ...

    def claim(self, key: str) -> Claim: ...

    def settle(self, key: str, outcome: Mapping[str, Any]) -> None: ...

    def wait(self, key: str, seconds: float, clock: Clock) -> dict[str, Any] | None: ...


class NoLedger:
    """Cookie mode keeps nothing on the server: every bound callback may try its exchange."""

    def open(self, key: str) -> None:
        return None

    def claim(self, key: str) -> Claim:
        return CLAIMED

    def settle(self, key: str, outcome: Mapping[str, Any]) -> None:
        return None

    def wait(self, key: str, seconds: float, clock: Clock) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True)
class Flow:
    """A login in progress: its state, the service asked for (or any), where to go after, its popup."""

    state: str
    service: str
    next_url: str
    attempt: str = ""

    @property
    def key(self) -> str:
        """A name for the flow that does not reveal its state (for the ledger and the in-flight table)."""
        return hashlib.sha256(self.state.encode()).hexdigest()


class LoginFlows:
    """Starts flows (cookie + state, and the ledger's record) and checks callbacks against them."""

    def __init__(self, *, sealer: Sealer, jar: CookieJar, ledger: FlowLedger, clock: Clock) -> None:
        self.sealer = sealer
        self.jar = jar
        self.ledger = ledger
        self.clock = clock

    def start(self, response: Response, service: str | None, next_url: str, attempt: str = "") -> Flow:
        """Create a flow and set its cookie on ``response``; the caller puts the state in the URL."""
        state = self.sealer.sign(STATE_PURPOSE, secrets.token_urlsafe(24))
        flow = Flow(state=state, service=service or ANY_SERVICE, next_url=next_url, attempt=attempt)
        self.ledger.open(flow.key)
        payload = {"st": flow.state, "sv": flow.service, "nx": flow.next_url, "at": flow.attempt}
        self.jar.set(response, FLOW_COOKIE, self.sealer.seal(FLOW_COOKIE, FLOW_PURPOSE, payload), max_age=FLOW_LIFETIME)
        return flow

    def bind(self, cookies: Mapping[str, str], state: str | None) -> Flow:
        """The flow this browser started for ``state``; raise why the callback is not bound.

        Nothing is changed here: an unbound callback must leave the browser as it was.
        """
        if not state:
            raise MalformedCallback()
        try:
            _, issued_at = self.sealer.verify(STATE_PURPOSE, state)
        except BadCookie as error:
            raise MalformedCallback() from error
        sealed_flow = cookies.get(self.jar.name(FLOW_COOKIE))
        if sealed_flow is None:
            if self.spent_service(cookies, state) is not None:
                raise FlowReplayed()
            if self.clock() - issued_at > FLOW_LIFETIME:
                raise FlowExpired()
            raise FlowMissing()
        try:
            payload = self.sealer.open(FLOW_COOKIE, FLOW_PURPOSE, sealed_flow, max_age=FLOW_LIFETIME).payload
            flow = Flow(
                state=str(payload["st"]),
                service=str(payload["sv"]),
                next_url=str(payload["nx"]),
                attempt=str(payload.get("at", "")),
            )
        except ExpiredCookie as error:
            raise FlowExpired() from error
        except (CookieError, KeyError) as error:
            raise FlowMissing() from error
        if not hmac.compare_digest(flow.state.encode(), state.encode()):
            if self.spent_service(cookies, state) is not None:
                raise FlowReplayed()
            raise StateMismatch()
        return flow

    def spent_service(self, cookies: Mapping[str, str], state: str) -> str | None:
        """The service of the finished login ``state`` belonged to ("" for the chooser), or None."""
        spent = open_cookie(self.sealer, self.jar, cookies, SPENT_COOKIE, SPENT_PURPOSE, max_age=FLOW_LIFETIME)
        if spent is None or not hmac.compare_digest(str(spent.get("st", "")).encode(), state.encode()):
            return None
        return str(spent.get("sv", ""))

    def discard(self, cookies: Mapping[str, str], response: Response) -> None:
        """Delete an unusable flow cookie (expired or not authentic), if the browser sent one."""
        if self.jar.name(FLOW_COOKIE) in cookies:
            self.jar.delete(response, FLOW_COOKIE)

    def finish(self, response: Response, flow: Flow, service: str) -> None:
        """Consume the flow: clear its cookie and remember its state, so a replay is named as one."""
        self.jar.delete(response, FLOW_COOKIE)
        sealed = self.sealer.seal(SPENT_COOKIE, SPENT_PURPOSE, {"st": flow.state, "sv": service})
        self.jar.set(response, SPENT_COOKIE, sealed, max_age=FLOW_LIFETIME)

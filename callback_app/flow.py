"""Login flows: binding MusicAPI's return to the browser (and service) that started the login.

Starting a login puts a random state in two places: a sealed, short-lived flow cookie and the
``returnUrl``. The callback is accepted only when both agree. The state in the URL is signed
with its time, so a callback without a flow cookie can still tell "expired" from "used" from
"another browser" and say so plainly, without ever being accepted.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.wrappers import Response

from .cookies import Clock, CookiePolicy, Sealer
from .errors import (
    BadCookie,
    CookieError,
    ExpiredCookie,
    FlowExpired,
    FlowMissing,
    FlowReplayed,
    MalformedCallback,
    StateMismatch,
)

FLOW_COOKIE = "flow"
SPENT_COOKIE = "flow-spent"
FLOW_LIFETIME = 600
STATE_PURPOSE = "state"
ANY_SERVICE = ""


@dataclass(frozen=True)
class Flow:
    """A login in progress: its state, the service asked for (or any), and where to go after."""

    state: str
    service: str
    next_path: str


class LoginFlows:
    """Starts flows (cookie + state) and checks callbacks against them."""

    def __init__(self, *, sealer: Sealer, policy: CookiePolicy, clock: Clock) -> None:
        self.sealer = sealer
        self.policy = policy
        self.clock = clock

    def start(self, response: Response, service: str | None, next_path: str) -> Flow:
        """Create a flow and set its cookie on ``response``; the caller puts the state in the URL."""
        state = self.sealer.sign(STATE_PURPOSE, secrets.token_urlsafe(24))
        flow = Flow(state=state, service=service or ANY_SERVICE, next_path=next_path)
        sealed = self.sealer.seal(FLOW_COOKIE, "flow", {"st": flow.state, "sv": flow.service, "nx": flow.next_path})
        self.policy.set(response, FLOW_COOKIE, sealed, max_age=FLOW_LIFETIME)
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
        sealed_flow = cookies.get(self.policy.name(FLOW_COOKIE))
        if sealed_flow is None:
            raise self._unbound_reason(cookies, state, issued_at)
        try:
            payload = self.sealer.open(FLOW_COOKIE, "flow", sealed_flow, max_age=FLOW_LIFETIME).payload
            flow = Flow(state=str(payload["st"]), service=str(payload["sv"]), next_path=str(payload["nx"]))
        except ExpiredCookie as error:
            raise FlowExpired() from error
        except (CookieError, KeyError) as error:
            raise FlowMissing() from error
        if not hmac.compare_digest(flow.state.encode(), state.encode()):
            if self._was_spent(cookies, state):
                raise FlowReplayed()
            raise StateMismatch()
        return flow

    def _unbound_reason(self, cookies: Mapping[str, str], state: str, issued_at: int) -> Exception:
        if self._was_spent(cookies, state):
            return FlowReplayed()
        if self.clock() - issued_at > FLOW_LIFETIME:
            return FlowExpired()
        return FlowMissing()

    def _was_spent(self, cookies: Mapping[str, str], state: str) -> bool:
        sealed = cookies.get(self.policy.name(SPENT_COOKIE))
        if sealed is None:
            return False
        try:
            spent = self.sealer.open(SPENT_COOKIE, "spent", sealed, max_age=FLOW_LIFETIME).payload
        except CookieError:
            return False
        return hmac.compare_digest(str(spent.get("st", "")).encode(), state.encode())

    def discard(self, cookies: Mapping[str, str], response: Response) -> None:
        """Delete an unusable flow cookie (expired or not authentic), if the browser sent one."""
        if self.policy.name(FLOW_COOKIE) in cookies:
            self.policy.delete(response, FLOW_COOKIE)

    def finish(self, response: Response, flow: Flow) -> None:
        """Consume the flow: clear its cookie and remember its state, so a replay is named as one."""
        self.policy.delete(response, FLOW_COOKIE)
        sealed = self.sealer.seal(SPENT_COOKIE, "spent", {"st": flow.state})
        self.policy.set(response, SPENT_COOKIE, sealed, max_age=FLOW_LIFETIME)

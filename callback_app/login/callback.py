"""Starting a login, and finishing it at the callback: the checks in their order, then the exchange.

:meth:`Logins.finish` reads top to bottom: the signed state, this browser's flow, ``data64``,
its status, the service, room for the account, and only then the exchange, once. A repeat of
a callback (a double click, a reload, a browser retry) that arrives while its first copy is in
flight waits for that copy's outcome and answers the same, without sending the token again:
within a worker through an in-flight table, across instances through the Redis ledger.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Response

from callback_app.errors import (
    AlreadyConnected,
    CallbackError,
    FlowExpired,
    FlowReplayed,
    LoginInterrupted,
    RequestError,
    ServiceMismatch,
    Unavailable,
    UpstreamError,
)
from callback_app.login.flows import ANY_SERVICE, IN_FLIGHT, Flow, LoginFlows, NoLedger
from callback_app.logs import log_event
from callback_app.musicapi.client import MusicApiClient
from callback_app.musicapi.protocol import LoginResult, decode_data64, login_url
from callback_app.session.accounts import Account
from callback_app.session.base import BrowserSession
from callback_app.settings import EXCHANGE_DEADLINE, Settings
from callback_app.singleflight import SingleFlight
from callback_app.types import Clock

CONNECTED = "connected"
# A repeat waits for its first copy at most this long: the exchange's deadline and a margin.
REPEAT_WAIT = EXCHANGE_DEADLINE + 5
# A finished login stays known this long in its worker, for a repeat whose browser lost the answer
# (a retry or a reload comes within seconds; the outcome holds tokens, so not longer).
FINISHED_KEPT = 15


@dataclass(frozen=True)
class CallbackOutcome:
    """How a callback ended: the account it connected, or the error that stopped it."""

    flow: Flow | None
    service: str | None = None
    account: Account | None = None
    replaced: bool = False
    error: RequestError | None = None

    @property
    def code(self) -> str:
        return self.error.code if self.error is not None else CONNECTED

    def record(self) -> dict[str, Any]:
        """What other instances learn of it: no token, no profile."""
        return {"code": self.code, "service": self.service, "replaced": self.replaced}


class Logins:
    def __init__(self, *, settings: Settings, flows: LoginFlows, client: MusicApiClient, clock: Clock) -> None:
        self.settings = settings
        self.flows = flows
        self.client = client
        self.clock = clock
        # Without a server-side ledger, a finished outcome is kept for a repeat whose browser lost the
        # answer. With one, a repeat of a finished login is answered from the ledger, named as a repeat:
        # a result kept here would hand its account to anyone replaying the callback.
        kept = FINISHED_KEPT if isinstance(flows.ledger, NoLedger) else 0.0
        self.in_flight: SingleFlight[CallbackOutcome] = SingleFlight(keep_for=kept, clock=clock)

    def start(
        self, response: Response, session: BrowserSession, service: str | None, next_url: str, attempt: str
    ) -> str:
        """Set the flow cookie on ``response`` and return MusicAPI's login URL; raise NoRoom or Unavailable."""
        session.prepare_login(service)
        flow = self.flows.start(response, service, next_url, attempt)
        return_url = f"{self.settings.public_url}/callback?state={quote(flow.state, safe='')}"
        return login_url(self.settings.musicapi_auth_url, self.settings.musicapi_slug, return_url, service)

    def finish(
        self, session: BrowserSession, cookies: Mapping[str, str], state: str | None, data64: str
    ) -> CallbackOutcome:
        """The callback's checks in their order, then the exchange; the first check that fails is the outcome."""
        try:
            # The signed state, then this browser's flow cookie for it.
            flow = self.flows.bind(cookies, state)
        except FlowReplayed:
            return CallbackOutcome(None, error=self.replay_error(session, cookies, state or "", data64))
        except CallbackError as error:
            return CallbackOutcome(None, error=error)
        try:
            # data64, then its status (LoginFailed), then the service: allowed, and the one asked for.
            login = decode_data64(data64)
            if login.service not in self.settings.services or flow.service not in (ANY_SERVICE, login.service):
                raise ServiceMismatch()
            # The account must fit before its token is spent: a spent token cannot be spent again.
            session.prepare_login(login.service)
        except RequestError as error:
            return CallbackOutcome(flow, error=error)
        ran_here = []

        def exchange() -> CallbackOutcome:
            ran_here.append(True)
            return self.exchange_once(session, flow, login)

        try:
            # Only then the exchange, once however often this callback arrives at the same time.
            outcome = self.in_flight.run(flow.key, exchange, wait=REPEAT_WAIT)
        except TimeoutError:
            return CallbackOutcome(flow, login.service, error=LoginInterrupted())
        if not ran_here and outcome.account is not None:
            # A repeat in this worker: its browser gets the same account as the first copy's.
            with contextlib.suppress(RequestError):
                session.put(outcome.account)
        return outcome

    def exchange_once(self, session: BrowserSession, flow: Flow, login: LoginResult) -> CallbackOutcome:
        """Spend the flow on the server (with Redis), then the one-time token; record the outcome."""
        try:
            claim = self.flows.ledger.claim(flow.key)
        except Unavailable as error:
            return CallbackOutcome(flow, login.service, error=error)
        if claim is None:
            return CallbackOutcome(flow, login.service, error=FlowExpired())
        if isinstance(claim, dict):
            return CallbackOutcome(flow, login.service, error=self.repeat_error(session, claim))
        if claim == IN_FLIGHT:
            return self.outcome_elsewhere(flow, login)
        outcome = self.connect(session, flow, login)
        with contextlib.suppress(Unavailable):
            self.flows.ledger.settle(flow.key, outcome.record())
        return outcome

    def connect(self, session: BrowserSession, flow: Flow, login: LoginResult) -> CallbackOutcome:
        try:
            user = self.client.exchange(login)
        except RequestError as error:
            return CallbackOutcome(flow, login.service, error=error)
        except Exception as error:
            log_event("error", "exchange_failed", error=type(error).__name__)
            return CallbackOutcome(flow, login.service, error=UpstreamError())
        account = Account(service=login.service, user=user, connected_at=int(self.clock()))
        try:
            replaced = session.account(login.service) is not None
            session.put(account)
        except RequestError as error:
            return CallbackOutcome(flow, login.service, error=error)
        return CallbackOutcome(flow, login.service, account=account, replaced=replaced)

    def outcome_elsewhere(self, flow: Flow, login: LoginResult) -> CallbackOutcome:
        """Another instance is spending this flow's token: answer as it does."""
        try:
            record = self.flows.ledger.wait(flow.key, REPEAT_WAIT, self.clock)
        except Unavailable as error:
            return CallbackOutcome(flow, login.service, error=error)
        if record is None:
            return CallbackOutcome(flow, login.service, error=LoginInterrupted())
        if record.get("code") == CONNECTED:
            return CallbackOutcome(flow, login.service, replaced=bool(record.get("replaced")))
        return CallbackOutcome(flow, login.service, error=RequestError.from_code(str(record.get("code"))))

    def repeat_error(self, session: BrowserSession, record: Mapping[str, Any]) -> RequestError:
        """A callback for a login that already ended (the server's record of it)."""
        service = record.get("service") if record.get("code") == CONNECTED else None
        return named_repeat(session, service if isinstance(service, str) else None)

    def replay_error(
        self, session: BrowserSession, cookies: Mapping[str, str], state: str, data64: str
    ) -> RequestError:
        """A callback this browser already finished (its spent-flow cookie says so)."""
        return named_repeat(session, self.flows.spent_service(cookies, state) or service_named_in(data64))


def named_repeat(session: BrowserSession, service: str | None) -> RequestError:
    """A repeat of a finished login, named plainly: "already connected" when this browser has its account."""
    try:
        if service and session.account(service) is not None:
            return AlreadyConnected()
    except Unavailable:
        pass
    return FlowReplayed()


def service_named_in(data64: str) -> str | None:
    """The service a login came back with, if ``data64`` says so (for naming a refusal, never for accepting)."""
    try:
        return decode_data64(data64).service
    except RequestError:
        return None

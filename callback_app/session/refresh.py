"""Fresh tokens for accounts about to expire, fetched with the client credentials, once.

Concurrent requests for one account make one call to MusicAPI: within a worker they share its
result (kept for a minute, for requests still carrying the old cookie), and with Redis a short
lock keeps the other instances from calling too; they show the account as it is, with
``refreshError``. An account is asked for at most once a minute however short its tokens
live. When MusicAPI itself is failing, the other accounts of the request are not asked for:
each try could add a whole deadline to the page.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Protocol

from callback_app.errors import NoRoom, RefreshInProgress, RequestError, UpstreamError, UpstreamRefused
from callback_app.musicapi.client import MusicApiClient
from callback_app.musicapi.protocol import IntegrationUser
from callback_app.session.accounts import REFRESH_FLOOR, Account
from callback_app.session.base import BrowserSession
from callback_app.settings import REFRESH_DEADLINE
from callback_app.singleflight import SingleFlight
from callback_app.types import Clock


class RefreshLocks(Protocol):
    def acquire(self, integration_user_uuid: str, seconds: float) -> bool:
        """Whether this caller may refresh the account now; the lock then holds for ``seconds``."""
        ...


class Refresher:
    """Renews due accounts of a session with MusicAPI's client-credentials exchange."""

    def __init__(
        self,
        *,
        client: MusicApiClient,
        client_id: str,
        client_secret: str,
        clock: Clock,
        locks: RefreshLocks | None = None,
    ) -> None:
        self.client = client
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.locks = locks
        self.flights: SingleFlight[IntegrationUser | RequestError] = SingleFlight(keep_for=REFRESH_FLOOR, clock=clock)

    def refresh_due(self, session: BrowserSession) -> list[Account]:
        """The session's accounts, those due renewed first; a failed renewal keeps the account with its error."""
        now = self.clock()
        shown = []
        outage: RequestError | None = None
        for account in session.accounts():
            if not account.due_for_refresh(now):
                shown.append(account)
                continue
            result = outage or self.flights.run(account.user.integration_user_uuid, partial(self._fetch, account))
            shown.append(self._keep(session, account, result, int(now)))
            if isinstance(result, UpstreamError) and not isinstance(result, UpstreamRefused):
                outage = result
        return shown

    def _fetch(self, account: Account) -> IntegrationUser | RequestError:
        integration_user_uuid = account.user.integration_user_uuid
        # The lock is never released, only left to expire: released before the fresh tokens are stored,
        # it would let another instance that read the old ones refresh once more.
        if self.locks is not None and not self.locks.acquire(integration_user_uuid, REFRESH_DEADLINE + 1):
            return RefreshInProgress()
        try:
            return self.client.fetch_fresh(integration_user_uuid, self.client_id, self.client_secret)
        except RequestError as error:
            return error

    def _keep(
        self, session: BrowserSession, account: Account, result: IntegrationUser | RequestError, now: int
    ) -> Account:
        if isinstance(result, RefreshInProgress):
            # Another instance is asking right now: show the account as it is, ask again next time.
            return replace(account, refresh_error=result.code)
        if isinstance(result, RequestError):
            updated = replace(account, refresh_tried_at=now, refresh_error=result.code)
        else:
            updated = replace(account, user=result, refreshed_at=now, refresh_tried_at=now, refresh_error=None)
        try:
            session.put(updated)
        except NoRoom as error:
            # Fresh tokens larger than the cookie can hold: keep the old ones, say why.
            return replace(account, refresh_tried_at=now, refresh_error=error.code)
        return updated

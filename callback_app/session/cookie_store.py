"""The cookie store: every account in its own sealed cookie, nothing kept on the server.

One cookie per service keeps each cookie small and lets an account be replaced or removed
without touching the others. Cookies are re-sealed only when needed (a newer key, or the
idle window moving on), and the whole Cookie header is kept under common servers' 8 KB limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer
from callback_app.errors import CookieError, CookiesFull, SessionFull
from callback_app.session.accounts import Account, from_record, to_record
from callback_app.session.base import (
    ABSOLUTE_LIFETIME,
    ACCOUNT_PREFIX,
    ACCOUNT_PURPOSE,
    IDLE_TIMEOUT,
    TICKET_COOKIE,
    BrowserSession,
    account_cookie,
)
from callback_app.types import Clock

# Re-seal an account cookie at most hourly to slide its idle window, not on every request.
RESEAL_AFTER = 3600
# Browsers cap one cookie at 4096 bytes; servers and routers (gunicorn, nginx, Heroku's) cap a
# header line near 8 KB. The login's own short-lived cookies come and go inside a reserve.
MAX_COOKIE_BYTES = 4000
HEADER_LIMIT = 8190
LOGIN_RESERVE = 600
# Sealed sizes of typical accounts (measured with the simulator's realistic tokens), so a login
# that could not be kept is refused before MusicAPI is even visited.
TYPICAL_COOKIE_BYTES = {"appleMusic": 1550, "tidal": 1750, "amazonMusic": 1250}
DEFAULT_TYPICAL_COOKIE_BYTES = 850


@dataclass(frozen=True)
class CookieSessions:
    """Opens the accounts a browser carries in its cookies."""

    sealer: Sealer
    jar: CookieJar
    services: tuple[str, ...]
    clock: Clock
    # Cookies of this app that live only during a login; LOGIN_RESERVE keeps room for them.
    transient_cookies: frozenset[str] = frozenset()
    # Other cookies of this app that stay in the browser (a refusal names them as the app's own).
    lasting_cookies: frozenset[str] = frozenset()
    # A ticket left by a deployment that ran with Redis points to accounts this store cannot
    # read: the browser is logged out cleanly. The Redis store reads accounts through this one
    # (to migrate them) and keeps its ticket.
    clears_tickets: bool = True

    def open(self, cookies: Mapping[str, str], cookie_header: str) -> CookieBrowserSession:
        return CookieBrowserSession(self, cookies, cookie_header)

    def ready(self) -> bool:
        return True


class CookieBrowserSession(BrowserSession):
    def __init__(self, store: CookieSessions, cookies: Mapping[str, str], cookie_header: str) -> None:
        self.store = store
        self.jar = store.jar
        self.cookies = cookies
        self.cookie_header = cookie_header
        self._accounts: dict[str, Account] | None = None
        # Accounts to write back, with their sealed value when already computed.
        self._to_write: dict[str, tuple[Account, str | None]] = {}
        self._to_delete: set[str] = set()
        if store.clears_tickets and self.jar.name(TICKET_COOKIE) in cookies:
            self._to_delete.add(TICKET_COOKIE)

    def accounts(self) -> list[Account]:
        return list(self._loaded().values())

    def _loaded(self) -> dict[str, Account]:
        if self._accounts is None:
            self._accounts = {}
            for service in self.store.services:
                value = self.cookies.get(self.jar.name(account_cookie(service)))
                account = self._read(service, value) if value is not None else None
                if account is not None:
                    self._accounts[service] = account
        return self._accounts

    def _read(self, service: str, value: str) -> Account | None:
        base = account_cookie(service)
        now = self.store.clock()
        try:
            opened = self.store.sealer.open(base, ACCOUNT_PURPOSE, value, max_age=IDLE_TIMEOUT)
            account = from_record(opened.payload, service)
        except CookieError:
            self._to_delete.add(base)
            return None
        if lifetime_left(account, now) <= 0:
            self._to_delete.add(base)
            return None
        if opened.stale_key or now - opened.sealed_at >= RESEAL_AFTER:
            self._to_write[service] = (account, None)
        return account

    def prepare_login(self, service: str | None) -> None:
        typical = TYPICAL_COOKIE_BYTES.get(service or "", DEFAULT_TYPICAL_COOKIE_BYTES)
        self._check_room(service, len(self.jar.name(account_cookie(service or ""))) + 1 + typical)

    def put(self, account: Account) -> None:
        sealed = self._seal(account)
        base = account_cookie(account.service)
        size = len(self.jar.name(base)) + 1 + len(sealed)
        if size > MAX_COOKIE_BYTES:
            raise SessionFull()
        self._check_room(account.service, size)
        self._loaded()[account.service] = account
        self._to_write[account.service] = (account, sealed)
        self._to_delete.discard(base)

    def _check_room(self, service: str | None, adding: int) -> None:
        """Raise SessionFull or CookiesFull unless a cookie of ``adding`` bytes still fits."""
        replacing = self.jar.name(account_cookie(service)) if service else None
        own, others = self._header_bytes(replacing)
        if own + others + adding + LOGIN_RESERVE <= HEADER_LIMIT:
            return
        raise CookiesFull() if others >= own else SessionFull()

    def _header_bytes(self, replacing: str | None) -> tuple[int, int]:
        """Bytes the Cookie header spends on this app's lasting cookies and on everyone else's.

        The login's own cookies and the account being replaced are left out; ``; `` separators count.
        """
        transient = {self.jar.name(base) for base in self.store.transient_cookies}
        own = others = 0
        for raw in self.cookie_header.split(";"):
            pair = raw.strip()
            name = pair.split("=", 1)[0]
            if not pair or name == replacing or name in transient:
                continue
            if self._is_own(name):
                own += len(pair) + 2
            else:
                others += len(pair) + 2
        return own, others

    def _is_own(self, name: str) -> bool:
        base = self.jar.base_of(name) or ""
        return base.startswith(ACCOUNT_PREFIX) or base in self.store.lasting_cookies

    def remove(self, service: str) -> None:
        self._loaded().pop(service, None)
        self._to_write.pop(service, None)
        self._to_delete.add(account_cookie(service))

    def remove_all(self) -> None:
        """Forget every account, those of services no longer offered included."""
        for service in self.store.services:
            self.remove(service)
        for name in self.cookies:
            base = self.jar.base_of(name)
            if base is not None and base.startswith(ACCOUNT_PREFIX):
                self._to_delete.add(base)

    def _seal(self, account: Account) -> str:
        return self.store.sealer.seal(account_cookie(account.service), ACCOUNT_PURPOSE, to_record(account))

    def write(self, response: Response) -> None:
        now = self.store.clock()
        for base in sorted(self._to_delete):
            self.jar.delete(response, base)
        for account, sealed in self._to_write.values():
            value = sealed or self._seal(account)
            self.jar.set(response, account_cookie(account.service), value, max_age=lifetime_left(account, now))


def lifetime_left(account: Account, now: float) -> int:
    """Seconds an account may still be kept: its idle window or the absolute lifetime, whichever ends first."""
    return int(min(IDLE_TIMEOUT, account.connected_at + ABSOLUTE_LIFETIME - now))

"""The browser's connected accounts, one sealed cookie per service.

One cookie per service keeps each cookie small and lets an account be replaced or removed
without touching the others. Cookies are re-sealed only when needed (a new key, or the idle
window moving on), and the whole Cookie header is kept under the server's header limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from werkzeug.wrappers import Response

from .cookies import Clock, CookiePolicy, Sealer
from .errors import CookieError, SessionFull
from .musicapi import IntegrationUser

ACCOUNT_PREFIX = "acct-"
ACCOUNT_PURPOSE = "account"
IDLE_TIMEOUT = 7 * 24 * 3600
ABSOLUTE_LIFETIME = 30 * 24 * 3600
# Re-seal an account cookie at most hourly to slide its idle window, not on every request.
RESEAL_AFTER = 3600
# Browsers cap one cookie at 4096 bytes; servers (gunicorn, nginx, Heroku's router) cap a
# header line near 8 KB. Keep room for the flow cookie that joins during the next login.
MAX_COOKIE_BYTES = 4000
MAX_COOKIE_HEADER_BYTES = 8190
FLOW_COOKIE_RESERVE = 600
# Sealed sizes of typical accounts (measured with the simulator's realistic tokens), so a login
# that could not be stored is refused before MusicAPI is even visited.
TYPICAL_COOKIE_BYTES = {"appleMusic": 1550, "tidal": 1750, "amazonMusic": 1250}
DEFAULT_TYPICAL_COOKIE_BYTES = 850
# Treated as expired a minute early, so nobody is handed a token about to die.
EXPIRY_MARGIN = 60


@dataclass(frozen=True)
class Account:
    """One connected streaming account, as kept in its cookie."""

    service: str
    user: IntegrationUser
    connected_at: int
    refreshed_at: int | None = None

    def expired(self, now: float) -> bool:
        """Whether the token is dead or within a minute of dying."""
        expires_at = self.user.expires_at
        return expires_at is not None and expires_at / 1000 <= now + EXPIRY_MARGIN

    def to_api(self) -> dict[str, Any]:
        """The account as ``/api/session`` shows it."""
        return {
            "service": self.service,
            "integrationUserUUID": self.user.integration_user_uuid,
            "name": self.user.name,
            "email": self.user.email,
            "imageUrl": self.user.image_url,
            "country": self.user.country,
            "authData": dict(self.user.auth_data),
            "expiresAt": self.user.expires_at,
        }


def _payload(account: Account) -> dict[str, Any]:
    user = account.user
    return {
        "s": account.service,
        "u": user.integration_user_uuid,
        "n": user.name,
        "e": user.email,
        "i": user.image_url,
        "c": user.country,
        "a": dict(user.auth_data),
        "x": user.expires_at,
        "t": account.connected_at,
        "r": account.refreshed_at,
    }


def _account(payload: Mapping[str, Any], service: str) -> Account:
    try:
        user = IntegrationUser(
            integration_user_uuid=str(payload["u"]),
            name=payload["n"],
            email=payload["e"],
            image_url=payload["i"],
            country=payload["c"],
            auth_data=dict(payload["a"]),
            expires_at=payload["x"],
        )
        account = Account(service=service, user=user, connected_at=int(payload["t"]), refreshed_at=payload["r"])
        sealed_for = payload["s"]
    except (KeyError, TypeError, ValueError) as error:
        raise CookieError() from error
    if sealed_for != service:
        raise CookieError()
    return account


class BrowserSession:
    """The accounts of one request's browser: read lazily, written back as Set-Cookie headers."""

    def __init__(
        self,
        *,
        sealer: Sealer,
        policy: CookiePolicy,
        cookies: Mapping[str, str],
        cookie_header: str,
        services: Iterable[str],
        can_refresh: bool,
        clock: Clock,
        transient_cookies: Iterable[str] = (),
    ) -> None:
        self.sealer = sealer
        self.policy = policy
        self.cookies = cookies
        self.cookie_header = cookie_header
        self.services = tuple(services)
        self.can_refresh = can_refresh
        self.clock = clock
        # The login flow's own cookies come and go; FLOW_COOKIE_RESERVE keeps room for them.
        self.transient_cookies = frozenset(transient_cookies)
        self._accounts: dict[str, Account] | None = None
        # Accounts to write back, with their sealed value when already computed.
        self._to_write: dict[str, tuple[Account, str | None]] = {}
        self._to_delete: set[str] = set()

    def cookie_base(self, service: str) -> str:
        return f"{ACCOUNT_PREFIX}{service}"

    def accounts(self) -> list[Account]:
        """Connected accounts in the order of the service list."""
        return list(self._loaded().values())

    def _loaded(self) -> dict[str, Account]:
        """The accounts by service, their cookies opened on first use."""
        if self._accounts is None:
            # Only the cookies the browser sent are opened: most visitors carry none.
            prefix = self.policy.name(ACCOUNT_PREFIX)
            sent = {name[len(prefix) :]: value for name, value in self.cookies.items() if name.startswith(prefix)}
            self._accounts = {}
            for service in self.services:
                if service in sent:
                    account = self._read(service, sent[service])
                    if account is not None:
                        self._accounts[service] = account
        return self._accounts

    def _read(self, service: str, value: str) -> Account | None:
        base = self.cookie_base(service)
        now = self.clock()
        try:
            opened = self.sealer.open(base, ACCOUNT_PURPOSE, value, max_age=IDLE_TIMEOUT)
            account = _account(opened.payload, service)
        except CookieError:
            self._to_delete.add(base)
            return None
        if self._lifetime_left(account, now) <= 0:
            self._to_delete.add(base)
            return None
        if opened.stale_key or now - opened.sealed_at >= RESEAL_AFTER:
            self._to_write[service] = (account, None)
        return account

    def _lifetime_left(self, account: Account, now: float) -> int:
        """Seconds the cookie may live: idle window, absolute lifetime and token, whichever is first."""
        left = min(IDLE_TIMEOUT, account.connected_at + ABSOLUTE_LIFETIME - now)
        expires_at = account.user.expires_at
        if not self.can_refresh and expires_at is not None:
            # Without client credentials a dead token cannot be renewed: the cookie dies with it.
            left = min(left, expires_at / 1000 - now)
        return int(left)

    def get(self, service: str) -> Account | None:
        return self._loaded().get(service)

    def put(self, account: Account) -> None:
        """Store ``account`` (replacing that service's), or raise SessionFull if it cannot fit."""
        sealed = self._seal(account)
        base = self.cookie_base(account.service)
        name = self.policy.name(base)
        if len(name) + 1 + len(sealed) > MAX_COOKIE_BYTES:
            raise SessionFull()
        if self.projected_header_bytes(replacing=name, adding=len(name) + 1 + len(sealed)) > (
            MAX_COOKIE_HEADER_BYTES - FLOW_COOKIE_RESERVE
        ):
            raise SessionFull()
        self._loaded()[account.service] = account
        self._to_write[account.service] = (account, sealed)
        self._to_delete.discard(base)

    def projected_header_bytes(self, *, replacing: str | None = None, adding: int = 0) -> int:
        """Length of the Cookie header once one cookie is replaced and another added.

        Counts every cookie the browser sends, the site's own included, since they share the
        server's header limit; the login's own cookies are left to FLOW_COOKIE_RESERVE.
        """
        left_out = {replacing, *self.transient_cookies}
        pairs = [pair.strip() for pair in self.cookie_header.split(";") if pair.strip()]
        kept = [pair for pair in pairs if pair.split("=", 1)[0] not in left_out]
        sizes = [len(pair) for pair in kept] + ([adding] if adding else [])
        return sum(sizes) + 2 * max(0, len(sizes) - 1)

    def room_for_another(self, service: str) -> bool:
        """Whether a typical account of ``service`` could still be stored (checked before a login)."""
        name = self.policy.name(self.cookie_base(service))
        typical = len(name) + 1 + TYPICAL_COOKIE_BYTES.get(service, DEFAULT_TYPICAL_COOKIE_BYTES)
        return (
            self.projected_header_bytes(replacing=name, adding=typical) <= MAX_COOKIE_HEADER_BYTES - FLOW_COOKIE_RESERVE
        )

    def remove(self, service: str) -> None:
        self._loaded().pop(service, None)
        self._to_write.pop(service, None)
        self._to_delete.add(self.cookie_base(service))

    def remove_all(self) -> None:
        """Forget every account, including those of services no longer offered."""
        for service in self.services:
            self.remove(service)
        prefix = self.policy.name(ACCOUNT_PREFIX)
        for name in self.cookies:
            if name.startswith(prefix):
                self._to_delete.add(name[len(self.policy.prefix) :])

    def replace_user(self, service: str, user: IntegrationUser) -> Account:
        """Swap in fresh tokens for an account (after a refresh) and keep it."""
        account = self._loaded()[service]
        refreshed = replace(account, user=user, refreshed_at=int(self.clock()))
        self.put(refreshed)
        return refreshed

    def _seal(self, account: Account) -> str:
        return self.sealer.seal(self.cookie_base(account.service), ACCOUNT_PURPOSE, _payload(account))

    def write(self, response: Response) -> None:
        """Add the Set-Cookie headers for everything changed during this request."""
        now = self.clock()
        for base in sorted(self._to_delete):
            self.policy.delete(response, base)
        for account, sealed in self._to_write.values():
            value = sealed or self._seal(account)
            max_age = self._lifetime_left(account, now)
            self.policy.set(response, self.cookie_base(account.service), value, max_age=max_age)

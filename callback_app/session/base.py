"""What every session store offers the views: the browser's accounts, read and changed the same way.

Two stores implement it: ``cookies`` (the default: every account in its own sealed cookie) and
``redis`` (with REDIS_URL: the browser holds a sealed ticket, Redis holds the accounts).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Protocol

from werkzeug.wrappers import Response

from callback_app.session.accounts import Account

IDLE_TIMEOUT = 7 * 24 * 3600
ABSOLUTE_LIFETIME = 30 * 24 * 3600
ACCOUNT_PREFIX = "acct-"
ACCOUNT_PURPOSE = "account"
TICKET_COOKIE = "sid"
TICKET_PURPOSE = "ticket"


def account_cookie(service: str) -> str:
    return f"{ACCOUNT_PREFIX}{service}"


class BrowserSession(ABC):
    """The accounts of one request's browser; changes reach the browser (or Redis) through ``write``."""

    @abstractmethod
    def accounts(self) -> list[Account]:
        """Connected accounts, in the order of the service list."""

    def account(self, service: str) -> Account | None:
        return next((account for account in self.accounts() if account.service == service), None)

    @abstractmethod
    def prepare_login(self, service: str | None) -> None:
        """Raise NoRoom or Unavailable if an account of ``service`` (None: any) could not be kept."""

    @abstractmethod
    def put(self, account: Account) -> None:
        """Keep ``account``, replacing that service's; whole or not at all."""

    @abstractmethod
    def remove(self, service: str) -> None: ...

    @abstractmethod
    def remove_all(self) -> None:
        """Forget every account; the next login starts a new session."""

    @abstractmethod
    def write(self, response: Response) -> None:
        """Add the Set-Cookie headers for what changed during this request."""


class SessionStore(Protocol):
    """Opens the session of one request's browser."""

    def open(self, cookies: Mapping[str, str], cookie_header: str) -> BrowserSession: ...

    def ready(self) -> bool:
        """Whether the store can be used right now (``/readyz``)."""
        ...

"""The Redis store: the browser holds a sealed ticket, Redis holds its accounts, encrypted.

A ticket is a random session id and a per-session secret, sealed in the ``sid`` cookie under
SECRET_KEY. Redis keeps each account under a hash of the id, encrypted with the session's own
secret: a copy of Redis alone reads no token, and a copy of the cookie alone holds none. Idle
and absolute limits are Redis expiries, and are checked against the app's clock too; logout
deletes the record, so a copied cookie gives nothing afterwards.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer, dumps, encryption_key, loads, open_bytes, seal_bytes
from callback_app.errors import CookieError
from callback_app.session.accounts import Account, from_record, to_record
from callback_app.session.base import (
    ABSOLUTE_LIFETIME,
    IDLE_TIMEOUT,
    TICKET_COOKIE,
    TICKET_PURPOSE,
    BrowserSession,
)
from callback_app.session.cookie_store import CookieSessions
from callback_app.session.redis_backend import KEY_PREFIX, RedisBackend, digest
from callback_app.types import Clock

SEEN_FIELD = b"_seen"


class RedisSessions:
    """Opens the session a browser's ticket points to; migrates cookie-mode accounts on the way."""

    def __init__(self, *, backend: RedisBackend, sealer: Sealer, jar: CookieJar, cookie_store: CookieSessions) -> None:
        self.backend = backend
        self.sealer = sealer
        self.jar = jar
        self.cookie_store = cookie_store
        self.clock: Clock = cookie_store.clock
        self.services = cookie_store.services

    def open(self, cookies: Mapping[str, str], cookie_header: str) -> RedisBrowserSession:
        return RedisBrowserSession(self, cookies, self.cookie_store.open(cookies, cookie_header))

    def ready(self) -> bool:
        return self.backend.ready()


class Ticket:
    """A session's id and secret, as sealed in the browser's ``sid`` cookie."""

    def __init__(self, session_id: str, secret: bytes, created_at: int) -> None:
        self.session_id = session_id
        self.created_at = created_at
        self.key = KEY_PREFIX + "s:" + digest(session_id)
        self.aead = AESGCM(encryption_key(base64.b64encode(secret).decode(), b"callback_app session v1"))
        self._secret = secret

    @classmethod
    def new(cls, now: float) -> Ticket:
        return cls(secrets.token_urlsafe(24), secrets.token_bytes(32), int(now))

    def to_payload(self) -> dict[str, Any]:
        return {"i": self.session_id, "k": base64.b64encode(self._secret).decode(), "c": self.created_at}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Ticket:
        try:
            return cls(str(payload["i"]), base64.b64decode(payload["k"], validate=True), int(payload["c"]))
        except (KeyError, TypeError, ValueError) as error:
            raise CookieError() from error

    def seconds_left(self, now: float) -> int:
        return int(min(IDLE_TIMEOUT, self.created_at + ABSOLUTE_LIFETIME - now))

    def associated_data(self, field: str) -> bytes:
        return f"{self.key}|{field}".encode()


class RedisBrowserSession(BrowserSession):
    def __init__(self, store: RedisSessions, cookies: Mapping[str, str], legacy: BrowserSession) -> None:
        self.store = store
        self.backend = store.backend
        self.cookies = cookies
        # Accounts connected while the deployment kept them in cookies: moved into Redis on first use.
        self.legacy = legacy
        self._ticket_changed = False
        self._ticket = self._open_ticket()
        self._accounts: dict[str, Account] | None = None

    def _open_ticket(self) -> Ticket | None:
        value = self.cookies.get(self.store.jar.name(TICKET_COOKIE))
        if value is None:
            return None
        try:
            payload = self.store.sealer.open(TICKET_COOKIE, TICKET_PURPOSE, value, max_age=ABSOLUTE_LIFETIME).payload
            ticket = Ticket.from_payload(payload)
        except CookieError:
            self._ticket_changed = True
            return None
        if ticket.seconds_left(self.store.clock()) <= 0:
            self._ticket_changed = True
            return None
        return ticket

    def _ticket_for_writing(self) -> Ticket:
        if self._ticket is None:
            self._ticket = Ticket.new(self.store.clock())
            self._ticket_changed = True
        return self._ticket

    def accounts(self) -> list[Account]:
        return [self._loaded()[service] for service in self.store.services if service in self._loaded()]

    def _loaded(self) -> dict[str, Account]:
        if self._accounts is None:
            self._accounts = self._read(self._ticket) if self._ticket is not None else {}
            legacy = self.legacy.accounts()
            if legacy:
                for account in legacy:
                    self._accounts.setdefault(account.service, account)
                    self.put(self._accounts[account.service])
                self.legacy.remove_all()
        return self._accounts

    def _read(self, ticket: Ticket) -> dict[str, Account]:
        now = int(self.store.clock())
        data = self.backend.call(
            lambda: self.backend.load_session(
                keys=[ticket.key], args=[now, IDLE_TIMEOUT, max(1, ticket.seconds_left(now))]
            )
        )
        fields = dict(zip(data[::2], data[1::2], strict=True))
        accounts = {}
        for field, blob in fields.items():
            service = field.decode("utf-8", "replace")
            if field == SEEN_FIELD or service not in self.store.services:
                continue
            try:
                record = loads(open_bytes(ticket.aead, blob, ticket.associated_data(service)))
                accounts[service] = from_record(record, service)
            except CookieError:
                continue
        return accounts

    def prepare_login(self, service: str | None) -> None:
        # Every account fits in Redis. The ticket exists from the login's start, so that a repeat of
        # the callback carries the same one; the flow ledger's first call finds Redis down, if it is.
        self._ticket_for_writing()

    def put(self, account: Account) -> None:
        ticket = self._ticket_for_writing()
        now = int(self.store.clock())
        blob = seal_bytes(ticket.aead, dumps(to_record(account)), ticket.associated_data(account.service))

        def store() -> None:
            with self.backend.client.pipeline(transaction=True) as pipeline:
                pipeline.hset(ticket.key, mapping={account.service: blob, SEEN_FIELD: now})
                pipeline.expire(ticket.key, max(1, ticket.seconds_left(now)))
                pipeline.execute()

        self.backend.call(store)
        if self._accounts is not None:
            self._accounts[account.service] = account

    def remove(self, service: str) -> None:
        if self._ticket is not None:
            key = self._ticket.key
            self.backend.call(lambda: self.backend.client.hdel(key, service))
        self._loaded().pop(service, None)

    def remove_all(self) -> None:
        if self._ticket is not None:
            key = self._ticket.key
            self.backend.call(lambda: self.backend.client.delete(key))
            self._ticket = None
            self._ticket_changed = True
        self._accounts = {}
        self.legacy.remove_all()

    def write(self, response: Response) -> None:
        self.legacy.write(response)
        if not self._ticket_changed:
            return
        if self._ticket is None:
            self.store.jar.delete(response, TICKET_COOKIE)
            return
        sealed = self.store.sealer.seal(TICKET_COOKIE, TICKET_PURPOSE, self._ticket.to_payload())
        lifetime = self._ticket.created_at + ABSOLUTE_LIFETIME - self.store.clock()
        self.store.jar.set(response, TICKET_COOKIE, sealed, max_age=int(lifetime))

"""The simulator's state and MusicAPI rules: users, one-time tokens, client credentials and fault switches.

Plain Python with no HTTP, so tests can drive logins directly and the blueprint stays a thin translation layer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callback_app.simulator.fake_data import fake_auth_data, fake_profile

FAULTS = (
    "http_500",
    "http_401",
    "http_404",
    "non_json",
    "huge_body",
    "wrong_shape",
    "hang",
    "redirect",
    "empty_body",
    "slow_body",
)
AUTH_DATA_LIFETIME_MS = 3_600_000
HANG_SECONDS = 120.0
SLOW_BODY_SECONDS = 60.0
CANCELLED_ERROR = "User cancelled the login"
AUTHORIZATION_SCHEMES = ("Token", "Basic")


@dataclass(frozen=True)
class ExchangeCall:
    """What the exchange endpoint saw; the credential itself is never kept."""

    integration_user_uuid: str
    authorization_scheme: str
    at: float
    status: int


@dataclass(frozen=True)
class ExchangeResult:
    """The status and JSON body MusicAPI would answer an exchange with."""

    status: int
    body: dict[str, Any]


@dataclass
class SimulatedUser:
    """One integration user: the service they logged in to, their profile and current auth data."""

    service: str
    profile: dict[str, str]
    auth_data: dict[str, str]


@dataclass(frozen=True)
class IssuedToken:
    """A one-time token: whose it is and when it was issued (on the injected clock)."""

    user_uuid: str
    issued_at: float


INVALID_TOKEN = ExchangeResult(401, {"error": "invalid_token"})
INVALID_CLIENT = ExchangeResult(401, {"error": "invalid_client"})
UNKNOWN_USER = ExchangeResult(404, {"error": "not_found"})


def authorization_scheme(header: str) -> str:
    """Return "Token", "Basic" or "" for an Authorization header value (schemes are case-insensitive)."""
    scheme = header.partition(" ")[0].lower()
    return next((name for name in AUTHORIZATION_SCHEMES if name.lower() == scheme), "")


class Simulator:
    """Holds simulator state: issued one-time tokens, users, fault switches. Thread-safe (threading.Lock)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        token_ttl: float = 60.0,
        client_id: str = "simulator-client",
        client_secret: str = "simulator-secret",  # noqa: S107 - a public, well-known simulator credential
        slug: str = "simulator",
    ) -> None:
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.slug = slug
        self.initial_token_ttl = token_ttl
        self.token_ttl = token_ttl
        self.latency = 0.0
        self.hang_seconds = HANG_SECONDS
        self.slow_body_seconds = SLOW_BODY_SECONDS
        self._fault: str | None = None
        self.exchange_calls: list[ExchangeCall] = []
        self._users: dict[str, SimulatedUser] = {}
        self._users_by_key: dict[tuple[str, str], str] = {}
        self._tokens: dict[str, IssuedToken] = {}
        # Looked up at construction so gevent's monkey patching, done before, yields a cooperative lock.
        self._lock = threading.Lock()

    @property
    def fault(self) -> str | None:
        """The fault the exchange endpoint plays, or None for normal behaviour."""
        return self._fault

    @fault.setter
    def fault(self, value: str | None) -> None:
        if value is not None and value not in FAULTS:
            raise ValueError(f"unknown fault {value!r}; expected one of {', '.join(FAULTS)}")
        self._fault = value

    def issue_login(self, service: str, *, user_key: str | None = None, one_time_token: bool = True) -> dict[str, Any]:
        """Log a user in to `service` and return the data64 JSON dict MusicAPI sends back to returnUrl.

        The same user_key on the same service is the same user, as a returning MusicAPI user would be.
        """
        with self._lock:
            user_uuid = self._find_or_create_user(service, user_key)
            result = self._login_result(service, "success", None)
            result["integrationUserUUID"] = user_uuid
            if one_time_token:
                token = str(uuid.uuid4())
                self._tokens[token] = IssuedToken(user_uuid, self.clock())
                result["oneTimeToken"] = token
        return result

    def failed_login(self, service: str, error: str = CANCELLED_ERROR) -> dict[str, Any]:
        """Return the data64 JSON dict of a failed login: no user, no token."""
        return self._login_result(service, "failed", error)

    def exchange(self, user_uuid: str, authorization: str) -> ExchangeResult:
        """Answer `GET /public/integrations/user/<uuid>` for this Authorization header value."""
        scheme, _, credential = authorization.partition(" ")
        with self._lock:
            match authorization_scheme(scheme):
                case "Token":
                    return self._exchange_one_time_token(user_uuid, credential.strip())
                case "Basic":
                    return self._exchange_client_credentials(user_uuid, credential.strip())
                case _:
                    return INVALID_TOKEN

    def record_call(self, user_uuid: str, authorization: str, status: int, at: float) -> None:
        """Remember that the exchange endpoint answered `status`, keeping only the Authorization scheme."""
        call = ExchangeCall(user_uuid, authorization_scheme(authorization), at, status)
        with self._lock:
            self.exchange_calls.append(call)

    def calls(self) -> list[ExchangeCall]:
        """Return a snapshot of the exchange calls so far."""
        with self._lock:
            return list(self.exchange_calls)

    def reset(self) -> None:
        """Forget tokens and calls, and switch faults, latency and timing back to their defaults.

        Users stay, like accounts at MusicAPI: client-credential refreshes keep working.
        """
        with self._lock:
            self._tokens.clear()
            self.exchange_calls.clear()
            self._fault = None
            self.latency = 0.0
            self.token_ttl = self.initial_token_ttl
            self.hang_seconds = HANG_SECONDS
            self.slow_body_seconds = SLOW_BODY_SECONDS

    def _find_or_create_user(self, service: str, user_key: str | None) -> str:
        if user_key is not None and (service, user_key) in self._users_by_key:
            return self._users_by_key[service, user_key]
        user_uuid = str(uuid.uuid4())
        self._users[user_uuid] = SimulatedUser(service, fake_profile(user_key), fake_auth_data(service, self.clock()))
        if user_key is not None:
            self._users_by_key[service, user_key] = user_uuid
        return user_uuid

    def _login_result(self, service: str, status: str, error: str | None) -> dict[str, Any]:
        return {
            "integration": {"type": service, "returnUrl": f"https://api.musicapi.com/callback/{service}"},
            "authModel": {"uuid": str(uuid.uuid4()), "status": status, "error": error},
        }

    def _exchange_one_time_token(self, user_uuid: str, token: str) -> ExchangeResult:
        """A token works once, within token_ttl of issue, for its own user; presenting it elsewhere spends it not."""
        issued = self._tokens.get(token)
        if issued is None:
            return INVALID_TOKEN
        if self.clock() - issued.issued_at >= self.token_ttl:
            del self._tokens[token]
            return INVALID_TOKEN
        if user_uuid not in self._users:
            return UNKNOWN_USER
        if issued.user_uuid != user_uuid:
            return INVALID_TOKEN
        del self._tokens[token]
        return self._user_result(self._users[user_uuid])

    def _exchange_client_credentials(self, user_uuid: str, credential: str) -> ExchangeResult:
        """Client credentials fetch fresh auth data for any known user."""
        if not self._is_client_credential(credential):
            return INVALID_CLIENT
        user = self._users.get(user_uuid)
        if user is None:
            return UNKNOWN_USER
        user.auth_data = fake_auth_data(user.service, self.clock())
        return self._user_result(user)

    def _is_client_credential(self, credential: str) -> bool:
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.client_id}:{self.client_secret}"
        return hmac.compare_digest(decoded.encode(), expected.encode())

    def _user_result(self, user: SimulatedUser) -> ExchangeResult:
        expires_at = int(self.clock() * 1000) + AUTH_DATA_LIFETIME_MS
        integration_user = {**user.profile, "authData": dict(user.auth_data), "authDataExpiresAt": expires_at}
        return ExchangeResult(200, {"integrationUser": integration_user})

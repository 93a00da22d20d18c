"""A connected account, and its compact form inside a sealed cookie or a Redis record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callback_app.errors import CookieError
from callback_app.musicapi.protocol import IntegrationUser

# A token is refreshed a minute before it dies, so nobody is handed one about to die...
REFRESH_MARGIN = 60
# ...but one account is asked for at most once a minute, whatever its tokens' lifetime.
REFRESH_FLOOR = 60


@dataclass(frozen=True)
class Account:
    """One connected streaming account, as kept between requests."""

    service: str
    user: IntegrationUser
    connected_at: int
    refreshed_at: int | None = None
    refresh_tried_at: int | None = None
    refresh_error: str | None = None

    def expired(self, now: float) -> bool:
        """Whether the streaming token has died (MusicAPI's authDataExpiresAt has passed)."""
        expires_at = self.user.expires_at
        return expires_at is not None and expires_at / 1000 <= now

    def due_for_refresh(self, now: float) -> bool:
        """Whether fresh tokens should be fetched now: close to expiry and not asked for a minute."""
        expires_at = self.user.expires_at
        if expires_at is None or expires_at / 1000 > now + REFRESH_MARGIN:
            return False
        return self.refresh_tried_at is None or now - self.refresh_tried_at >= REFRESH_FLOOR

    def to_api(self, now: float) -> dict[str, Any]:
        """The account as ``/api/session`` shows it."""
        item: dict[str, Any] = {
            "service": self.service,
            "integrationUserUUID": self.user.integration_user_uuid,
            "name": self.user.name,
            "email": self.user.email,
            "imageUrl": self.user.image_url,
            "country": self.user.country,
            "authData": dict(self.user.auth_data),
            "expiresAt": self.user.expires_at,
            "expired": self.expired(now),
        }
        if self.refresh_error is not None:
            item["refreshError"] = self.refresh_error
        return item


def to_record(account: Account) -> dict[str, Any]:
    """The account as a small JSON object (short keys: it travels in a cookie)."""
    user = account.user
    record: dict[str, Any] = {
        "s": account.service,
        "u": user.integration_user_uuid,
        "n": user.name,
        "e": user.email,
        "i": user.image_url,
        "c": user.country,
        "a": dict(user.auth_data),
        "x": user.expires_at,
        "t": account.connected_at,
    }
    optional = {"r": account.refreshed_at, "rt": account.refresh_tried_at, "re": account.refresh_error}
    record.update({key: value for key, value in optional.items() if value is not None})
    return record


def from_record(record: Mapping[str, Any], service: str) -> Account:
    """The account of a record sealed for ``service``; raise CookieError for anything else."""
    try:
        user = IntegrationUser(
            integration_user_uuid=str(record["u"]),
            name=_optional_text(record["n"]),
            email=_optional_text(record["e"]),
            image_url=_optional_text(record["i"]),
            country=_optional_text(record["c"]),
            auth_data=dict(record["a"]),
            expires_at=_optional_int(record["x"]),
        )
        account = Account(
            service=service,
            user=user,
            connected_at=int(record["t"]),
            refreshed_at=_optional_int(record.get("r")),
            refresh_tried_at=_optional_int(record.get("rt")),
            refresh_error=_optional_text(record.get("re")),
        )
        sealed_for = record["s"]
    except (KeyError, TypeError, ValueError) as error:
        raise CookieError() from error
    if sealed_for != service:
        raise CookieError()
    return account


def _optional_text(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("text expected")
    return value


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("integer expected")
    return value

"""A connected account: when it has expired, when it is due for fresh tokens, and how it is kept and shown."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from callback_app.errors import CookieError
from callback_app.session.accounts import REFRESH_FLOOR, REFRESH_MARGIN, Account, from_record, to_record
from tests.unit.helpers import START, USER_UUID, make_account


@pytest.mark.parametrize(
    ("expires_in", "expired"),
    [(None, False), (3600, False), (REFRESH_MARGIN, False), (1, False), (0, True), (-5, True)],
)
def test_an_account_has_expired_once_its_tokens_have(expires_in: int | None, expired: bool) -> None:
    assert make_account(expires_in=expires_in).expired(START) is expired


@pytest.mark.parametrize(
    ("expires_in", "due"),
    [
        (None, False),
        (3600, False),
        (REFRESH_MARGIN + 1, False),
        (REFRESH_MARGIN, True),
        (1, True),
        (-3600, True),
    ],
)
def test_an_account_is_due_for_fresh_tokens_a_minute_before_they_die(expires_in: int | None, due: bool) -> None:
    assert make_account(expires_in=expires_in).due_for_refresh(START) is due


@pytest.mark.parametrize(
    ("tried_ago", "due"), [(0, False), (REFRESH_FLOOR - 1, False), (REFRESH_FLOOR, True), (3600, True)]
)
def test_an_account_is_asked_for_at_most_once_a_minute(tried_ago: int, due: bool) -> None:
    account = replace(make_account(expires_in=-10), refresh_tried_at=int(START) - tried_ago)

    assert account.due_for_refresh(START) is due


def test_the_api_view_of_an_account_has_the_documented_fields() -> None:
    account = make_account("spotify", auth_data={"accessToken": "BQx", "scope": "streaming"})

    assert account.to_api(START) == {
        "service": "spotify",
        "integrationUserUUID": USER_UUID,
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.com",
        "imageUrl": "https://cdn.example/avatars/0123456789abcdef.jpg",
        "country": "gb",
        "authData": {"accessToken": "BQx", "scope": "streaming"},
        "expiresAt": int((START + 3600) * 1000),
        "expired": False,
    }


def test_the_api_view_says_when_an_account_expired_and_why_renewing_failed() -> None:
    account = replace(make_account(expires_in=-1), refresh_error="upstream_timeout")

    view = account.to_api(START)

    assert view["expired"] is True
    assert view["refreshError"] == "upstream_timeout"


def test_an_account_without_an_expiry_never_expires() -> None:
    view = make_account(expires_in=None).to_api(START + 10 * 365 * 24 * 3600)

    assert (view["expiresAt"], view["expired"]) == (None, False)


@pytest.mark.parametrize(
    "account",
    [
        make_account("spotify"),
        make_account("tidal", expires_in=None, name="Zoë 🎵"),
        replace(make_account("deezer"), refreshed_at=int(START) + 5, refresh_tried_at=int(START) + 5),
        replace(make_account("appleMusic"), refresh_tried_at=int(START), refresh_error="upstream_refused"),
        make_account("yandex", auth_data={"accessToken": "x", "nested": {"list": [1, 2]}}),
    ],
    ids=["plain", "no-expiry", "refreshed", "refresh-failed", "nested-auth-data"],
)
def test_an_account_survives_its_record(account: Account) -> None:
    assert from_record(to_record(account), account.service) == account


def test_a_record_leaves_out_what_was_never_set() -> None:
    assert set(to_record(make_account())) == {"s", "u", "n", "e", "i", "c", "a", "x", "t"}


def test_a_record_opens_only_for_the_service_it_was_made_for() -> None:
    record = to_record(make_account("spotify"))

    with pytest.raises(CookieError):
        from_record(record, "tidal")


def record_with(**changes: Any) -> dict[str, Any]:
    record = to_record(make_account("spotify"))
    for key, value in changes.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(
    "record",
    [
        record_with(s=...),
        record_with(u=...),
        record_with(a=...),
        record_with(t=...),
        record_with(x=...),
        record_with(a="token"),
        record_with(a=["token"]),
        record_with(t="yesterday"),
        record_with(t=None),
        record_with(x=True),
        record_with(x="1696320099094"),
        record_with(x=1.5),
        record_with(n=42),
        record_with(e=["a@b"]),
        record_with(r=True),
        record_with(re=500),
    ],
    ids=[
        "no-service", "no-user", "no-auth-data", "no-connected-at", "no-expiry", "auth-string", "auth-list",
        "connected-text", "connected-null", "expiry-bool", "expiry-text", "expiry-float", "name-number",
        "email-list", "refreshed-bool", "error-number",
    ],
)  # fmt: skip
def test_a_record_of_another_shape_is_a_cookie_error_not_a_crash(record: dict[str, Any]) -> None:
    with pytest.raises(CookieError):
        from_record(record, "spotify")

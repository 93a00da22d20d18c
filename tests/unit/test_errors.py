"""Errors: one hierarchy, each with its own code and status, and words of its own for every refusal a person meets."""

from __future__ import annotations

from collections import defaultdict

import pytest
from flask import Flask

from callback_app.errors import (
    AlreadyConnected,
    CallbackAppError,
    CallbackError,
    ConfigError,
    CookieError,
    InternalError,
    RequestError,
    Unavailable,
    UpstreamError,
)
from tests.conftest import MakeApp


def every_request_error() -> list[type[RequestError]]:
    found, pending = [], [RequestError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


ERRORS = every_request_error()
CALLBACK_ERRORS = [kind for kind in ERRORS if issubclass(kind, CallbackError) and kind is not CallbackError]
# Every refusal a person can meet on a page, and the callback's every failure.
WORDED = {
    "csrf_token", "foreign_origin", "wrong_host", "unknown_service", "not_found", "method_not_allowed",
    "not_connected", "unavailable", "session_full", "cookies_full", "request_too_large",
} | {kind.code for kind in CALLBACK_ERRORS}  # fmt: skip


def test_every_error_is_a_callback_app_error() -> None:
    for kind in (*ERRORS, ConfigError, CookieError):
        assert issubclass(kind, CallbackAppError)


def test_every_code_names_one_error_but_the_two_plain_ones() -> None:
    by_code: dict[str, list[type[RequestError]]] = defaultdict(list)
    for kind in ERRORS:
        by_code[kind.code].append(kind)

    shared = {code: kinds for code, kinds in by_code.items() if len(kinds) > 1}
    assert shared == {"bad_request": [RequestError, CallbackError]}


@pytest.mark.parametrize("kind", [kind for kind in ERRORS if kind.code != "bad_request"], ids=lambda kind: kind.code)
def test_an_error_recorded_by_its_code_comes_back_as_itself(kind: type[RequestError]) -> None:
    again = RequestError.from_code(kind.code)

    assert type(again) is kind
    assert again.status == kind.status


def test_an_unknown_code_comes_back_as_a_plain_refusal() -> None:
    assert type(RequestError.from_code("something_new")) is RequestError


def test_a_callback_fails_only_with_the_contracts_statuses() -> None:
    statuses = {kind.code: kind.status for kind in CALLBACK_ERRORS}

    assert set(statuses.values()) == {400, 502, 504}
    assert {code for code, status in statuses.items() if status != 400} == {
        kind.code for kind in CALLBACK_ERRORS if issubclass(kind, UpstreamError)
    }


def test_only_a_fault_of_the_app_is_a_500() -> None:
    assert [kind for kind in ERRORS if kind.status >= 500 and kind.status not in (502, 503, 504)] == [InternalError]


def test_try_again_is_offered_where_the_same_login_can_start_afresh() -> None:
    restarting = {kind for kind in ERRORS if kind.restarts_login}

    assert restarting == {*CALLBACK_ERRORS, CallbackError, Unavailable} - {AlreadyConnected}


@pytest.fixture(scope="module")
def app(make_app: MakeApp) -> Flask:
    return make_app()[0]


def words_for(app: Flask, code: str) -> tuple[str, str]:
    """The title and message a person reads for ``code``, in English."""
    with app.test_request_context("/"):
        messages = app.jinja_env.get_template("errors/messages.html").module
        return str(messages.title(code)).strip(), str(messages.message(code)).strip()  # type: ignore[attr-defined]


def test_every_refusal_a_person_meets_has_words_of_its_own(app: Flask) -> None:
    fallback = words_for(app, "no_such_code")
    words = {code: words_for(app, code) for code in sorted(WORDED)}

    assert [code for code, (title, message) in words.items() if title == fallback[0] or message == fallback[1]] == []
    titles = [title for title, _ in words.values()]
    assert len(set(titles)) == len(titles), "two refusals share a title"

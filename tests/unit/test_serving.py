"""Serving under gunicorn: its messages without query strings, and the app's own page for what gunicorn refuses."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from gunicorn.config import Config
from gunicorn.http.errors import (
    ForbiddenProxyRequest,
    InvalidHeader,
    InvalidHeaderName,
    InvalidHTTPVersion,
    InvalidRequestLine,
    InvalidRequestMethod,
    LimitRequestHeaders,
    LimitRequestLine,
)

from callback_app.context import all_cookie_bases
from callback_app.errors import (
    Forbidden,
    HeadersTooLarge,
    InternalError,
    RequestError,
    UpstreamTimeout,
    UriTooLong,
)
from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.serving import Logger, Worker, raw_response, refusal, scrub
from tests.conftest import MakeApp
from tests.support.pages import cookie_attributes, cookie_name, error_code_in

REQUEST_LINE = "GET /callback?state=s3cret-state&data64=eyJzZWNyZXQiOiB0cnVlfQ== HTTP/1.1"


# -- scrub: no query string in gunicorn's own messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "scrubbed"),
    [
        (
            f"Invalid request from ip=1.2.3.4: {REQUEST_LINE}",
            "Invalid request from ip=1.2.3.4: GET /callback?[query removed] HTTP/1.1",
        ),
        ("Bad request 'GET /x?a=1&b=2'", "Bad request 'GET /x?[query removed]'"),
        ('line "/a?b=c" and /d?e=f', 'line "/a?[query removed]" and /d?[query removed]'),
        ("Booting worker with pid: 42", "Booting worker with pid: 42"),
    ],
)
def test_scrub_removes_every_query_string(message: str, scrubbed: str) -> None:
    assert scrub(message) == scrubbed


def test_scrub_cuts_a_long_message_short() -> None:
    assert len(scrub("x" * 10_000)) == 300


@pytest.fixture
def gunicorn_log() -> Iterator[tuple[Logger, io.StringIO]]:
    """gunicorn's logger as gunicorn.conf.py names it, its error log written to a buffer."""
    log = Logger(Config())
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log.error_log.addHandler(handler)
    log.error_log.setLevel(logging.DEBUG)
    try:
        yield log, stream
    finally:
        log.error_log.removeHandler(handler)


@pytest.mark.parametrize("level", ["critical", "error", "warning", "info", "debug", "exception"])
def test_gunicorns_log_never_records_a_query_string(gunicorn_log: tuple[Logger, io.StringIO], level: str) -> None:
    log, stream = gunicorn_log

    getattr(log, level)("Invalid request from ip=%s: %s", "1.2.3.4", REQUEST_LINE)

    written = stream.getvalue()
    assert "GET /callback?[query removed] HTTP/1.1" in written
    for secret in ("s3cret-state", "eyJzZWNyZXQ", "data64"):
        assert secret not in written


def test_a_message_whose_arguments_do_not_fit_is_still_written_scrubbed(
    gunicorn_log: tuple[Logger, io.StringIO],
) -> None:
    log, stream = gunicorn_log

    log.error("refused %s and %s /x?token=abc", "one")  # noqa: PLE1206 - the mismatch is what this test is about

    assert "/x?[query removed]" in stream.getvalue()
    assert "token=abc" not in stream.getvalue()


# -- refusal: gunicorn's parse errors as the app's errors -------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "error", "status"),
    [
        (LimitRequestHeaders("Request Header Fields Too Large"), HeadersTooLarge, 431),
        (LimitRequestLine(9000, 8190), UriTooLong, 414),
        (ForbiddenProxyRequest("10.0.0.1"), Forbidden, 403),
        (InvalidRequestLine(REQUEST_LINE), RequestError, 400),
        (InvalidHeader("X-Bad"), RequestError, 400),
        (InvalidHeaderName("X Bad"), RequestError, 400),
        (InvalidHTTPVersion("HTTP/9"), RequestError, 400),
        (InvalidRequestMethod("G3T"), RequestError, 400),
        (ValueError("something else"), InternalError, 500),
    ],
)
def test_what_gunicorn_refuses_becomes_the_apps_error(
    exc: BaseException, error: type[RequestError], status: int
) -> None:
    refused = refusal(exc)

    assert type(refused) is error
    assert refused.status == status


# -- raw_response: the app's page, as raw HTTP/1.1, for a connection gunicorn is closing ------------------------


def parse_raw(raw: bytes) -> tuple[str, Any, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    headers = BytesHeaderParser().parsebytes(header_block + b"\r\n\r\n")
    return status_line.decode("latin-1"), headers, body


@pytest.fixture(scope="module")
def app(make_app: MakeApp) -> Flask:
    return make_app()[0]


@pytest.mark.parametrize(
    ("error", "status_line"),
    [
        (HeadersTooLarge(), "HTTP/1.1 431 REQUEST HEADER FIELDS TOO LARGE"),
        (UriTooLong(), "HTTP/1.1 414 REQUEST URI TOO LONG"),
        (Forbidden(), "HTTP/1.1 403 FORBIDDEN"),
        (RequestError(), "HTTP/1.1 400 BAD REQUEST"),
        (InternalError(), "HTTP/1.1 500 INTERNAL SERVER ERROR"),
    ],
)
def test_a_refusal_is_a_whole_http_answer_with_the_apps_page_and_headers(
    app: Flask, error: RequestError, status_line: str
) -> None:
    status, headers, body = parse_raw(raw_response(app, error))

    assert status == status_line
    assert headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(body)
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert error_code_in(body.decode()) == error.code
    assert "<title>" in body.decode()


def test_headers_too_large_deletes_every_cookie_of_the_app(app: Flask) -> None:
    _, headers, _ = parse_raw(raw_response(app, HeadersTooLarge()))

    deleted = headers.get_all("Set-Cookie")
    assert {cookie_name(header) for header in deleted} == set(all_cookie_bases(KNOWN_SERVICES))
    for header in deleted:
        attributes = cookie_attributes(header)
        assert attributes["max-age"] == "0"
        assert attributes["path"] == "/"


@pytest.mark.parametrize("error", [UriTooLong(), RequestError(), InternalError()])
def test_other_refusals_leave_the_cookies_alone(app: Flask, error: RequestError) -> None:
    _, headers, _ = parse_raw(raw_response(app, error))

    assert headers.get_all("Set-Cookie") is None


def test_the_language_choice_survives_cookies_grown_too_large(app: Flask) -> None:
    _, headers, _ = parse_raw(raw_response(app, HeadersTooLarge()))

    assert "lang" not in {cookie_name(header) for header in headers.get_all("Set-Cookie")}


def test_an_error_gunicorn_never_raises_still_gets_a_page(app: Flask) -> None:
    status, _, body = parse_raw(raw_response(app, UpstreamTimeout()))

    assert status.startswith("HTTP/1.1 504")
    assert error_code_in(body.decode()) == "upstream_timeout"


# -- the worker writes that answer, and logs the refusal without the request line -------------------------------


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args)

    def debug(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args)


def test_the_worker_answers_a_refused_request_with_the_apps_page(app: Flask) -> None:
    worker = SimpleNamespace(log=RecordingLog(), wsgi=app)
    ours, browser = socket.socketpair()
    try:
        Worker.handle_error(worker, None, ours, ("203.0.113.9", 50000), LimitRequestHeaders("too large"))
        ours.close()
        raw = b"".join(iter(lambda: browser.recv(65536), b""))
    finally:
        browser.close()

    status, headers, _ = parse_raw(raw)
    assert status.startswith("HTTP/1.1 431")
    assert headers["Content-Security-Policy"]
    assert worker.log.lines == ["refused a request from ip=203.0.113.9: LimitRequestHeaders (431)"]


def test_the_worker_logs_a_bad_request_line_by_its_kind_only(app: Flask) -> None:
    worker = SimpleNamespace(log=RecordingLog(), wsgi=app)
    ours, browser = socket.socketpair()
    try:
        Worker.handle_error(worker, None, ours, ("203.0.113.9", 50000), InvalidRequestLine(REQUEST_LINE))
        ours.close()
        raw = b"".join(iter(lambda: browser.recv(65536), b""))
    finally:
        browser.close()

    assert raw.startswith(b"HTTP/1.1 400")
    assert b"s3cret-state" not in raw
    assert worker.log.lines == ["refused a request from ip=203.0.113.9: InvalidRequestLine (400)"]

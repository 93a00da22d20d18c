"""The access line: one logfmt line per request, nothing from the query string, never a failed request."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.test import Client, EnvironBuilder

from callback_app.logs import LOGGER_NAME, OUTCOME_KEY, RequestLog, log_event, logfmt, queue_time_ms
from callback_app.simulator import Simulator
from tests.conftest import MakeApp
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import encode_data64
from tests.support.processes import parse_logfmt

NOW = 1_800_000_000.0


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/callback":
        environ[OUTCOME_KEY] = "connected"
    start_response("303 See Other", [("Location", "/")])
    return [b""]


def logged(path: str, stream: Any = None, **environ: str) -> tuple[str, dict[str, str]]:
    """The access line written for one GET (the app's answer is read to the end, then closed)."""
    stream = stream if stream is not None else io.StringIO()
    client = Client(RequestLog(answer, stream=stream, clock=lambda: NOW))
    response = client.get(path, environ_overrides=environ, buffered=True)
    assert response.status_code == 303
    text = stream.getvalue() if isinstance(stream, io.StringIO) and not stream.closed else ""
    return text, dict(response.headers)


def test_one_line_per_request_with_the_routers_request_id_and_queue_time() -> None:
    line, headers = logged(
        "/callback?state=s3cret&data64=ZGF0YQ",
        HTTP_X_REQUEST_ID="router-id-1",
        HTTP_X_REQUEST_START=str(int(NOW * 1000) - 25),
    )

    assert line.count("\n") == 1
    assert line.startswith("at=info request_id=router-id-1 method=GET path=/callback status=303 duration_ms=")
    assert line.endswith(" queue_ms=25 outcome=connected\n")
    assert "s3cret" not in line
    assert "ZGF0YQ" not in line
    assert headers["X-Request-ID"] == "router-id-1"


def test_a_request_without_an_id_gets_a_new_one_in_its_line_and_answer() -> None:
    first, first_headers = logged("/")
    second, second_headers = logged("/")

    assert first_headers["X-Request-ID"] != second_headers["X-Request-ID"]
    assert parse_logfmt(first)["request_id"] == first_headers["X-Request-ID"]
    assert parse_logfmt(second)["request_id"] == second_headers["X-Request-ID"]


def test_a_forged_request_id_is_replaced_and_a_hostile_path_cannot_forge_a_line() -> None:
    line, headers = logged("/", PATH_INFO='/x"\n at=info status=200', HTTP_X_REQUEST_ID="bad id\nat=info")

    assert line.count("\n") == 1
    assert "bad id" not in line
    assert headers["X-Request-ID"] in line
    assert 'path="/x\\"\\n at=info status=200"' in line


def test_an_over_long_path_is_cut_short() -> None:
    line, _ = logged("/" + "a" * 5000)

    assert len(parse_logfmt(line)["path"]) == 256


class BrokenStream:
    def write(self, text: str) -> int:
        raise OSError("stdout is gone")

    def flush(self) -> None:
        raise OSError("stdout is gone")


@pytest.mark.parametrize("stream", [BrokenStream(), io.StringIO()])
def test_a_log_that_cannot_be_written_never_fails_the_request(stream: Any) -> None:
    if isinstance(stream, io.StringIO):
        stream.close()

    _, headers = logged("/", stream)

    assert headers["Location"] == "/"


class ClosingBody:
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter([b"a", b"b"])

    def close(self) -> None:
        self.closed = True


def test_the_line_is_written_once_the_answer_has_been_sent() -> None:
    stream = io.StringIO()
    body = ClosingBody()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return body

    sent = RequestLog(app, stream=stream)(EnvironBuilder("/").get_environ(), lambda *args: None)
    assert b"".join(sent) == b"ab"
    assert stream.getvalue() == ""
    sent.close()  # type: ignore[attr-defined]

    assert body.closed
    assert parse_logfmt(stream.getvalue())["status"] == "200"


@pytest.mark.parametrize(
    ("header", "queue"),
    [
        (str(int(NOW * 1000) - 25), 25),
        (f"t={int(NOW * 1_000_000) - 40_000}", 40),
        (f"{NOW - 1.5:.3f}", 1500),
        (str(int(NOW * 1000) + 50), 0),
        ("", None),
        ("soon", None),
        ("t=", None),
        ("12", None),
        (str(int(NOW * 1000) - 2 * 3600 * 1000), None),
    ],
)
def test_the_queue_time_is_read_in_whatever_unit_the_router_uses(header: str, queue: int | None) -> None:
    assert queue_time_ms(header, NOW) == queue


@pytest.mark.parametrize(
    "value",
    ['/x" status=200 outcome=connected', "back\\slash\\", 'both\\" at=forged', "tab\tline\r\nend", "zoë", ""],
)
def test_a_logged_value_reads_back_as_itself_and_forges_no_field(value: str) -> None:
    fields = parse_logfmt(logfmt({"at": "info", "path": value, "status": "404"}))

    assert fields == {"at": "info", "path": value, "status": "404"}


def test_an_event_is_one_logfmt_line_with_its_level() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        log_event("error", "exchange_failed", error="ConnectionError", note='two words "quoted"')
    finally:
        logger.removeHandler(handler)

    [line] = stream.getvalue().splitlines()
    assert parse_logfmt(line) == {
        "at": "error",
        "event": "exchange_failed",
        "error": "ConnectionError",
        "note": 'two words "quoted"',
    }


def test_a_callback_is_logged_by_its_path_and_outcome_without_any_token(
    make_app: MakeApp, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = InProcessBrowser(make_app()[0])
    login = browser.start_login("spotify")
    issued = simulator.issue_login("spotify")
    data64 = encode_data64(issued)
    capsys.readouterr()

    browser.callback({"state": browser.state(login), "data64": data64}).close()

    output = capsys.readouterr().out
    [line] = [line for line in output.splitlines() if "path=/callback" in line]
    assert parse_logfmt(line)["outcome"] == "connected"
    assert parse_logfmt(line)["status"] == "303"
    for secret in (data64, data64[:24], issued["oneTimeToken"], browser.state(login)):
        assert secret not in output

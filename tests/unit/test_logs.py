"""The access line: one logfmt line per request, nothing from the query string, never a failed request."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from werkzeug.test import Client

from callback_app.logs import EXCHANGE_WAIT_KEY, OUTCOME_KEY, RequestLog, logfmt
from tests.deploy.processes import parse_logfmt

NOW = 1_800_000_000.0


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/callback":
        environ[OUTCOME_KEY] = "connected"
        environ[EXCHANGE_WAIT_KEY] = "0.42"
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
    assert " queue_ms=25 outcome=connected exchange_wait_ms=0.42\n" in line
    assert "s3cret" not in line
    assert "ZGF0YQ" not in line
    assert headers["X-Request-ID"] == "router-id-1"


def test_a_forged_request_id_is_replaced_and_a_hostile_path_cannot_forge_a_line() -> None:
    line, headers = logged("/", PATH_INFO='/x"\n at=info status=200', HTTP_X_REQUEST_ID="bad id\nat=info")

    assert line.count("\n") == 1
    assert "bad id" not in line
    assert headers["X-Request-ID"] in line
    assert 'path="/x\\"\\n at=info status=200"' in line


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


@pytest.mark.parametrize(
    "value",
    ['/x" status=200 outcome=connected', "back\\slash\\", 'both\\" at=forged', "tab\tline\r\nend", "zoë", ""],
)
def test_a_logged_value_reads_back_as_itself_and_forges_no_field(value: str) -> None:
    fields = parse_logfmt(logfmt({"at": "info", "path": value, "status": "404"}))

    assert fields == {"at": "info", "path": value, "status": "404"}

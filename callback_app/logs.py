"""One logfmt line per request on stdout, with the router's request id and queue time.

Only the path is logged, never the query string, headers or cookies: a callback URL carries a
one-time token and ``data64``. Startup and error lines go through ``logging``; the access line,
written on every request, goes straight to the stream (under gevent, ``logging``'s locks cost
more than building and writing the line).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from callback_app.types import Environ, StartResponse, WsgiApp

LOGGER_NAME = "callback_app"
OUTCOME_KEY = "callback_app.outcome"
STARTED_KEY = "callback_app.started"
REQUEST_ID_KEY = "callback_app.request_id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_BARE_VALUE = re.compile(r"[A-Za-z0-9._:/@%+-]+")


def logfmt(fields: dict[str, object]) -> str:
    """``key=value`` pairs, quoting and escaping values so nothing can forge a new line."""
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())


def logfmt_value(value: object) -> str:
    """One value as logfmt writes it: bare when safe, else quoted with every control character escaped."""
    text = "" if value is None else str(value)
    if _BARE_VALUE.fullmatch(text):
        return text
    # Backslashes and control characters first, then quotes: the other order would escape the
    # backslash of \" again and let a value close its own quotes and forge fields after them.
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def get_logger() -> logging.Logger:
    """The app's logger, writing bare lines to stdout (the PaaS collects stdout)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def log_event(level: str, event: str, **fields: object) -> None:
    """One logfmt line for something that happened outside the access line (startup, errors)."""
    line = logfmt({"at": level, "event": event, **fields})
    get_logger().log(logging.ERROR if level == "error" else logging.INFO, line)


def queue_time_ms(header: str | None, now: float) -> int | None:
    """Milliseconds a request waited in the router, from ``X-Request-Start`` (ms, µs or s since epoch)."""
    if not header:
        return None
    digits = header.removeprefix("t=").strip()
    try:
        started = float(digits)
    except ValueError:
        return None
    # Routers disagree on the unit: seconds (with a fraction), milliseconds or microseconds.
    for divisor in (1.0, 1e3, 1e6):
        seconds = started / divisor
        if abs(now - seconds) < 3600:
            return max(0, round((now - seconds) * 1000))
    return None


class RequestLog:
    """WSGI middleware: request id in and out, timing, and the one access line."""

    def __init__(self, app: WsgiApp, *, stream: TextIO | None = None, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.stream = stream
        self.clock = clock

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = environ[STARTED_KEY] = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        environ[REQUEST_ID_KEY] = request_id
        status_holder: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_holder.append(status)
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        return _ClosingIterator(body, lambda: self._log(environ, status_holder, started))

    def _log(self, environ: Environ, status: list[str], started: float) -> None:
        # request_id matched _REQUEST_ID and the numbers are ours: only method and path need quoting.
        line = (
            f"at=info request_id={environ[REQUEST_ID_KEY]}"
            f" method={logfmt_value(environ.get('REQUEST_METHOD', ''))}"
            f" path={logfmt_value(environ.get('PATH_INFO', '')[:256])}"
            f" status={status[-1][:3] if status else '-'}"
            f" duration_ms={(time.perf_counter() - started) * 1000:.1f}"
        )
        router_start = environ.get("HTTP_X_REQUEST_START")
        queue = queue_time_ms(router_start, self.clock()) if router_start else None
        if queue is not None:
            line += f" queue_ms={queue}"
        if OUTCOME_KEY in environ:
            line += f" outcome={environ[OUTCOME_KEY]}"
        stream = self.stream or sys.stdout
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):
            # As logging does: a log that cannot be written must not fail a request already answered.
            pass


class _ClosingIterator:
    """Passes the response body through and runs ``on_close`` once it has been sent."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self.body = body
        self.on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.on_close()

"""Serving under gunicorn: its gevent worker, with the app's own pages for requests gunicorn refuses,
and its log lines without query strings (a callback's carries a one-time token and ``data64``).

gunicorn.conf.py names both; nothing else imports this module.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn import glogging
from gunicorn.http.errors import ForbiddenProxyRequest, LimitRequestHeaders, LimitRequestLine, ParseException
from gunicorn.util import write_nonblock
from gunicorn.workers.ggevent import GeventWorker

from callback_app.errors import Forbidden, HeadersTooLarge, InternalError, RequestError, UriTooLong

_QUERY = re.compile(r"\?[^\s'\"]*")
_MAX_LOGGED = 300


def scrub(text: str) -> str:
    """A log message without any query string, cut short: request lines may hold secrets."""
    return _QUERY.sub("?[query removed]", text)[:_MAX_LOGGED]


class _WithoutQueries(logging.Filter):
    """Rewrites each record's message without query strings, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Arguments that do not fit the message: write it as it is, still scrubbed.
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        return True


class Logger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, its error log scrubbed of query strings at every level."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(existing, _WithoutQueries) for existing in self.error_log.filters):
            self.error_log.addFilter(_WithoutQueries())


def refusal(exc: BaseException) -> RequestError:
    """The app's error for what gunicorn refused before the app saw the request."""
    if isinstance(exc, LimitRequestHeaders):
        return HeadersTooLarge()
    if isinstance(exc, LimitRequestLine):
        return UriTooLong()
    if isinstance(exc, ForbiddenProxyRequest):
        return Forbidden()
    if isinstance(exc, ParseException):
        return RequestError()
    return InternalError()


class Worker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker, answering what it refuses with the app's own page and headers.

    gunicorn's page echoes the refused request line (a callback URL with its token) and carries
    none of the app's security headers. For headers too large (cookies grown past what the
    server reads), the page also deletes this app's cookies, so the person is not locked out.
    """

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        error = refusal(exc)
        ip = addr[0] if addr else "-"
        self.log.warning("refused a request from ip=%s: %s (%s)", ip, type(exc).__name__, error.status)
        try:
            write_nonblock(client, raw_response(self.wsgi, error))
        except Exception:
            self.log.debug("could not send the refusal page")


def raw_response(app: Any, error: RequestError) -> bytes:
    """The app's error page for ``error`` as raw HTTP/1.1, for a connection gunicorn is closing."""
    # Imported here: the master loads this module for the worker class, before gevent patches the
    # worker's sockets and ssl, so the web stack must not be imported with it.
    from flask import request

    from callback_app.context import all_cookie_bases, get_parts
    from callback_app.views.errors import error_response

    with app.test_request_context("/"):
        response = error_response(error)
        if isinstance(error, HeadersTooLarge):
            for base in all_cookie_bases(get_parts().settings.services):
                get_parts().jar.delete(response, base)
        response = get_parts().headers.apply(response, request)
        body = response.get_data()
    head = [f"HTTP/1.1 {response.status}", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in response.headers.items() if name.lower() != "content-length"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

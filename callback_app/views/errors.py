"""Every error becomes a page, or a JSON body for API clients, in one place; never a stack trace."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from callback_app.context import csrf_token
from callback_app.errors import InternalError, MethodNotAllowed, NotFound, RequestError
from callback_app.logs import log_event
from callback_app.views.hooks import mark_popup_page, record_outcome

bp = Blueprint("errors", __name__)
JSON_PATHS = ("/healthz", "/readyz", "/connect.js")
_HTTP_ERRORS: dict[int, type[RequestError]] = {404: NotFound, 405: MethodNotAllowed}


@dataclass(frozen=True)
class Retry:
    """The login a "Try again" button starts again: a service, or MusicAPI's chooser (""), in its popup if any."""

    service: str
    attempt: str = ""


def wants_json() -> bool:
    """API clients (and connect.js, which asks for JSON) get JSON errors; people get pages."""
    if request.path.startswith("/api/") or request.path in JSON_PATHS:
        return True
    return request.accept_mimetypes.best == "application/json"


def error_response(error: RequestError, *, retry: Retry | None = None, popup: bool = False) -> Response:
    """The one place an error becomes a response."""
    record_outcome(error.code)
    if wants_json():
        response = jsonify({"error": error.code})
    else:
        if popup:
            mark_popup_page()
        can_retry = retry is not None and error.restarts_login
        page = render_template(
            "error.html",
            error=error,
            retry=retry if can_retry else None,
            popup=popup,
            csrf_token=csrf_token() if can_retry else None,
        )
        response = make_response(page)
    response.status_code = error.status
    return response


@bp.app_errorhandler(RequestError)
def handle_request_error(error: RequestError) -> Response:
    return error_response(error)


@bp.app_errorhandler(HTTPException)
def handle_http_exception(error: HTTPException) -> Response:
    known = _HTTP_ERRORS.get(error.code or 500)
    response = error_response(known() if known is not None else RequestError())
    if known is None:
        response.status_code = error.code or 400
    # Keep the Allow header of a 405, and anything else werkzeug says about the error.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


@bp.app_errorhandler(Exception)
def handle_unexpected(error: Exception) -> Response:
    # The type only: an exception's text may hold a token from the request that failed.
    log_event("error", "unhandled", error=type(error).__name__)
    return error_response(InternalError())

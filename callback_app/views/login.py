"""Starting a login (``POST /connect[/<service>]``) and finishing it (``GET /callback``)."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response

from callback_app.context import get_parts, get_session
from callback_app.errors import FlowExpired, FlowMissing, InternalError, MethodNotAllowed, RequestError, UnknownService
from callback_app.login.attempts import CONNECTED, FAILED, PENDING
from callback_app.login.callback import CallbackOutcome, service_named_in
from callback_app.notices import CONNECTED as JUST_CONNECTED
from callback_app.notices import REPLACED
from callback_app.security import CSRF_FIELD, safe_next
from callback_app.views.errors import Retry, error_response
from callback_app.views.hooks import mark_popup_page, record_outcome

bp = Blueprint("login", __name__)
POPUP_MODE = "popup"


def check_csrf() -> None:
    get_parts().csrf.check(request.cookies, request.form.get(CSRF_FIELD), request.headers.get("Origin"))


@bp.post("/connect/<service>")
def connect(service: str) -> Response:
    if service not in get_parts().settings.services:
        raise UnknownService()
    return start_login(service)


@bp.post("/connect")
def connect_any() -> Response:
    return start_login(None)


def start_login(service: str | None) -> Response:
    """303 to MusicAPI's login page, with a flow cookie binding the return to this browser."""
    parts = get_parts()
    check_csrf()
    attempt = request.form.get("attempt", "") if request.form.get("mode") == POPUP_MODE else ""
    if attempt and not parts.attempts.valid_id(attempt):
        raise RequestError()
    next_url = (
        url_for("pages.popup_done") if attempt else safe_next(request.form.get("next"), parts.settings.allowed_origins)
    )
    response = Response(status=303)
    response.location = parts.logins.start(response, get_session(), service, next_url, attempt)
    if attempt:
        # The popup's first page from us: with COOP same-origin, even on a redirect, the browser
        # would cut the popup off from the page that opened it, which then sees it closed.
        mark_popup_page()
        parts.attempts.record(response, attempt, PENDING, service=service or "")
    return response


@bp.get("/callback")
def callback() -> Response:
    """Finish a login; the login room decides, this turns its outcome into a response."""
    if request.method == "HEAD":
        # Link checkers and prefetchers send HEAD: it must never spend a one-time token.
        response = error_response(MethodNotAllowed())
        response.headers["Allow"] = "GET"
        return response
    parts = get_parts()
    outcome = parts.logins.finish(
        get_session(), request.cookies, request.args.get("state"), request.args.get("data64", "")
    )
    response = outcome_response(outcome)
    flow = outcome.flow
    if flow is not None:
        parts.logins.flows.finish(response, flow, outcome.service or flow.service)
        if flow.attempt:
            status = CONNECTED if outcome.error is None else FAILED
            reason = outcome.error.code if outcome.error is not None else ""
            parts.attempts.record(response, flow.attempt, status, service=outcome.service or "", reason=reason)
    elif isinstance(outcome.error, (FlowMissing, FlowExpired)):
        # A flow cookie that cannot be opened is useless: remove it rather than keep sending it.
        parts.logins.flows.discard(request.cookies, response)
    return response


def retry_for(outcome: CallbackOutcome) -> Retry | None:
    """The login "Try again" starts: this flow's, or without one the service data64 names.

    Without a flow, only a browser that already holds a CSRF token is offered one: a callback this
    browser did not start must not change anything in it, not even by minting a token.
    """
    if outcome.flow is not None:
        return Retry(outcome.flow.service, outcome.flow.attempt)
    parts = get_parts()
    service = service_named_in(request.args.get("data64", ""))
    if service not in parts.settings.services or parts.csrf.current_token(request.cookies) is None:
        return None
    return Retry(service)


def outcome_response(outcome: CallbackOutcome) -> Response:
    flow = outcome.flow
    if outcome.error is not None or flow is None:
        error = outcome.error or InternalError()
        return error_response(error, retry=retry_for(outcome), popup=flow is not None and bool(flow.attempt))
    record_outcome(outcome.code)
    target = safe_next(flow.next_url, get_parts().settings.allowed_origins)
    response = Response(status=303, headers={"Location": target})
    if flow.attempt:
        mark_popup_page()
    elif target.startswith("/"):
        get_parts().notices.leave(response, REPLACED if outcome.replaced else JUST_CONNECTED, outcome.service or "")
    return response

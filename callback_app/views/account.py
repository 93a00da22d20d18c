"""Disconnecting one account, or everything: from our own forms, or from connect.js on an allowed site."""

from __future__ import annotations

from flask import Blueprint, request
from werkzeug.wrappers import Response

from callback_app.context import get_parts, get_session
from callback_app.errors import UnknownService
from callback_app.login.attempts import ATTEMPT_COOKIE
from callback_app.login.flows import FLOW_COOKIE, SPENT_COOKIE
from callback_app.notices import DISCONNECTED, LOGGED_OUT
from callback_app.security import CSRF_COOKIE, safe_next
from callback_app.views.errors import wants_json
from callback_app.views.login import check_csrf

bp = Blueprint("account", __name__)


@bp.post("/disconnect/<service>")
def disconnect(service: str) -> Response:
    if service not in get_parts().settings.services:
        raise UnknownService()
    check_csrf()
    get_session().remove(service)
    return done(DISCONNECTED, service)


@bp.post("/logout")
def logout() -> Response:
    check_csrf()
    get_session().remove_all()
    response = done(LOGGED_OUT)
    jar = get_parts().jar
    for base in (FLOW_COOKIE, SPENT_COOKIE, ATTEMPT_COOKIE, CSRF_COOKIE):
        if jar.name(base) in request.cookies:
            jar.delete(response, base)
    return response


def done(kind: str, service: str = "") -> Response:
    """204 for a script that asked for JSON; otherwise a 303 to ``next`` with a notice for the start page."""
    notices = get_parts().notices
    if wants_json():
        response = Response(status=204)
    else:
        target = safe_next(request.form.get("next"), get_parts().settings.allowed_origins)
        response = Response(status=303, headers={"Location": target})
        if target.startswith("/"):
            # The notice replaces any older one: one banner, for what just happened.
            notices.leave(response, kind, service)
            return response
    notices.clear(request.cookies, response)
    return response

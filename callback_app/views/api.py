"""What scripts read: the session's accounts, a popup login's progress, and connect.js itself."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, send_from_directory
from werkzeug.wrappers import Response

from callback_app.context import current_accounts, get_parts
from callback_app.errors import NotConnected, UnknownAttempt

bp = Blueprint("api", __name__)
# Deployers' pages load connect.js on every view; a few minutes of caching, and a new
# version reaches everyone soon after a deploy.
SCRIPT_MAX_AGE = 300


@bp.get("/api/session")
def session() -> Response:
    now = get_parts().clock()
    accounts = current_accounts()
    if not accounts:
        raise NotConnected()
    return jsonify({"accounts": [account.to_api(now) for account in accounts]})


@bp.get("/api/attempts/<attempt>")
def attempt(attempt: str) -> Response:
    """How the popup login ``attempt`` of this browser is going: pending, connected or failed."""
    status = get_parts().attempts.read(request.cookies, attempt)
    if status is None:
        raise UnknownAttempt()
    return jsonify(status)


@bp.get("/connect.js")
def connect_js() -> Response:
    return send_from_directory(
        str(current_app.static_folder), "connect.js", mimetype="text/javascript", max_age=SCRIPT_MAX_AGE
    )


@bp.get("/connect.d.ts")
def connect_types() -> Response:
    return send_from_directory(
        str(current_app.static_folder), "connect.d.ts", mimetype="text/plain", max_age=SCRIPT_MAX_AGE
    )

"""Around every request: the right host first; this browser's cookies and the security headers last."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from callback_app.context import get_parts
from callback_app.login.flows import FLOW_LIFETIME
from callback_app.logs import OUTCOME_KEY
from callback_app.musicapi.protocol import SERVICE_NAMES

bp = Blueprint("hooks", __name__)


def record_outcome(code: str) -> None:
    """What the access line says this request ended with (``outcome=...``)."""
    request.environ[OUTCOME_KEY] = code


def mark_popup_page() -> None:
    """This page is shown in a login popup: it must stay its opener's (see SecurityHeaders)."""
    g.popup_page = True


@dataclass(frozen=True)
class FooterLinks:
    privacy: str | None
    support: str | None
    developers: bool


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    """What every page's frame needs: the deployer's name and links, and where the language switch returns."""
    settings = get_parts().settings
    return {
        "brand": settings.app_name or gettext("Music Connect"),
        "links": FooterLinks(settings.privacy_url, settings.support_url, settings.developer_page),
        "public_url": settings.public_url,
        # Where the language switch returns: this page's path, never a query (a callback's holds a token).
        "here": request.path if request.method == "GET" and request.path != "/callback" else "/",
        "service_names": SERVICE_NAMES,
        "flow_minutes": FLOW_LIFETIME // 60,
    }


@bp.before_app_request
def require_public_host() -> Response | None:
    return get_parts().hosts.redirect_for(request)


@bp.after_app_request
def finish_response(response: Response) -> Response:
    parts = get_parts()
    if "browser_session" in g:
        g.browser_session.write(response)
    if "new_csrf_token" in g:
        parts.csrf.remember(response, g.new_csrf_token)
    return parts.headers.apply(response, request, popup=g.get("popup_page", False))

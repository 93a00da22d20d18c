"""The pages people see: the start page, the developers' page, the language switch, the popup's last page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, abort, current_app, make_response, render_template, request, send_from_directory
from werkzeug.wrappers import Response

from callback_app.context import csrf_token, current_accounts, get_parts
from callback_app.i18n import BY_CODE, LANGUAGE_COOKIE, LANGUAGE_LIFETIME
from callback_app.musicapi.protocol import service_name
from callback_app.security import safe_next
from callback_app.session.accounts import Account
from callback_app.views.hooks import mark_popup_page

bp = Blueprint("pages", __name__)
EXPIRED = "expired"
RENEWS = "renews"
VALID = "valid"


@dataclass(frozen=True)
class AccountView:
    """An account as the start page shows it: Jinja escapes every field; pictures only over https."""

    service: str
    service_name: str
    name: str | None
    email: str | None
    image_url: str | None
    status: str
    time_left: timedelta | None
    refresh_failed: bool


def account_view(account: Account, now: float, can_refresh: bool) -> AccountView:
    user = account.user
    expires_at = user.expires_at
    status = EXPIRED if account.expired(now) else RENEWS if can_refresh else VALID
    return AccountView(
        service=account.service,
        service_name=service_name(account.service),
        name=user.name,
        email=user.email,
        image_url=user.image_url if user.image_url and user.image_url.startswith("https://") else None,
        status=status,
        time_left=timedelta(seconds=expires_at / 1000 - now) if expires_at is not None else None,
        refresh_failed=account.refresh_error is not None,
    )


@bp.get("/")
def index() -> Response:
    parts = get_parts()
    now = parts.clock()
    accounts = current_accounts()
    connected = {account.service for account in accounts}
    notice = parts.notices.peek(request.cookies)
    page = render_template(
        "index.html",
        accounts=[account_view(account, now, parts.settings.can_refresh) for account in accounts],
        offered=[service for service in parts.settings.services if service not in connected],
        notice=notice,
        notice_account=next((account for account in accounts if notice and account.service == notice.service), None),
        csrf_token=csrf_token(),
    )
    response = make_response(page)
    parts.notices.clear(request.cookies, response)
    return response


@bp.get("/developers")
def developers() -> str:
    if not get_parts().settings.developer_page:
        abort(404)
    return render_template("developer.html")


@bp.get("/language/<code>")
def language(code: str) -> Response:
    """Remember the visitor's language and go back where they were."""
    if code not in BY_CODE:
        abort(404)
    target = safe_next(request.args.get("next"), ())
    response = Response(status=303, headers={"Location": target})
    get_parts().jar.set(response, LANGUAGE_COOKIE, code, max_age=LANGUAGE_LIFETIME)
    return response


@bp.get("/popup/done")
def popup_done() -> str:
    """The last page of a popup login: it closes itself (static/popup.js)."""
    mark_popup_page()
    return render_template("popup_done.html")


@bp.get("/favicon.ico")
def favicon() -> Response:
    return send_from_directory(str(current_app.static_folder), "favicon.ico", max_age=86400)

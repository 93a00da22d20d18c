"""What the factory builds once and the views use on every request, and the per-request accessors.

The factory stores one ``Parts`` in ``app.extensions``; views reach it, and this request's
session and CSRF token, only through the functions here (as the Flask tutorial's ``get_db``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request

from callback_app.cookies import CookieJar, Sealer
from callback_app.login.attempts import ATTEMPT_COOKIE, Attempts
from callback_app.login.callback import Logins
from callback_app.login.flows import FLOW_COOKIE, SPENT_COOKIE
from callback_app.notices import NOTICE_COOKIE, Notices
from callback_app.security import CSRF_COOKIE, CsrfGuard, HostGuard, SecurityHeaders
from callback_app.session.accounts import Account
from callback_app.session.base import TICKET_COOKIE, BrowserSession, SessionStore, account_cookie
from callback_app.session.refresh import Refresher
from callback_app.settings import Settings
from callback_app.types import Clock

EXTENSION = "callback_app"


def all_cookie_bases(services: tuple[str, ...]) -> list[str]:
    """Every cookie this app may set (but the language choice), for clearing them when nothing else helps."""
    return [FLOW_COOKIE, SPENT_COOKIE, ATTEMPT_COOKIE, NOTICE_COOKIE, CSRF_COOKIE, TICKET_COOKIE] + [
        account_cookie(service) for service in services
    ]


@dataclass(frozen=True)
class Parts:
    """The app's long-lived collaborators, built once by ``create_app`` and shared by every request."""

    settings: Settings
    clock: Clock
    sealer: Sealer
    jar: CookieJar
    csrf: CsrfGuard
    hosts: HostGuard
    headers: SecurityHeaders
    sessions: SessionStore
    logins: Logins
    attempts: Attempts
    notices: Notices
    refresher: Refresher | None


def get_parts() -> Parts:
    parts: Parts = current_app.extensions[EXTENSION]
    return parts


def get_session() -> BrowserSession:
    """This request's browser session, opened on first use and written back after the view."""
    if "browser_session" not in g:
        g.browser_session = get_parts().sessions.open(request.cookies, request.headers.get("Cookie", ""))
    session: BrowserSession = g.browser_session
    return session


def current_accounts() -> list[Account]:
    """This browser's accounts, those about to expire renewed first when client credentials allow."""
    refresher = get_parts().refresher
    session = get_session()
    return refresher.refresh_due(session) if refresher is not None else session.accounts()


def csrf_token() -> str:
    """This browser's CSRF token; a new one (and its cookie, set after the view) when it has none."""
    if "csrf_token" not in g:
        token = get_parts().csrf.current_token(request.cookies)
        if token is None:
            token = g.new_csrf_token = get_parts().csrf.new_token()
        g.csrf_token = token
    token_value: str = g.csrf_token
    return token_value

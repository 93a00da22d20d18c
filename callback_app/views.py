"""Routes: the landing page, starting and finishing a login, the session API, health.

Views choose status codes and templates; the rooms below do the work. Every error becomes a
page (or JSON under /api) in one handler; nothing here answers with a stack trace.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote_plus

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .app import EXTENSION, Parts
from .errors import (
    CallbackError,
    FlowExpired,
    FlowMissing,
    MethodNotAllowed,
    NotConnected,
    NotFound,
    RequestError,
    ServiceMismatch,
    SessionFull,
    UnknownService,
    UpstreamError,
    UpstreamRefused,
)
from .flow import FLOW_COOKIE, SPENT_COOKIE, Flow
from .logs import EXCHANGE_WAIT_KEY, OUTCOME_KEY, STARTED_KEY, get_logger, logfmt
from .musicapi import SERVICE_NAMES, decode_data64, login_url, service_name
from .security import CSRF_COOKIE, CSRF_TOKEN_SHAPE, safe_next
from .session import Account, BrowserSession

bp = Blueprint("main", __name__)
T = TypeVar("T")

JUST_CONNECTED_SECONDS = 60
SERVICE_OPTIONS = "callback_app.service_options"
PAGE_LINKS = "callback_app.page_links"
FIRST_VISIT_PAGE = "callback_app.first_visit_page"
REFRESH_FAILED_NOTE = "We couldn't renew this connection just now. We'll try again on your next visit."


def parts() -> Parts:
    parts: Parts = current_app.extensions[EXTENSION]
    return parts


def cookies() -> dict[str, str]:
    """The request's cookies as a plain dict, once per request.

    werkzeug's MultiDict answers a missing key by raising (and catching) an exception; a
    callback looks up several cookies that are usually absent.
    """
    if "cookies" not in g:
        g.cookies = request.cookies.to_dict()
    sent: dict[str, str] = g.cookies
    return sent


def browser() -> BrowserSession:
    """This request's connected accounts, opened on first use."""
    if "browser" not in g:
        p = parts()
        g.browser = BrowserSession(
            sealer=p.sealer,
            policy=p.cookie_policy,
            cookies=cookies(),
            cookie_header=request.headers.get("Cookie", ""),
            services=p.settings.services,
            can_refresh=p.settings.can_refresh,
            clock=p.clock,
            transient_cookies=(p.cookie_policy.name(FLOW_COOKIE), p.cookie_policy.name(SPENT_COOKIE)),
        )
    session: BrowserSession = g.browser
    return session


def csrf_token() -> str:
    """This browser's CSRF token; a new one (and its cookie) when it has none."""
    if "csrf_token" not in g:
        token = parts().csrf.current_token(cookies())
        if token is None:
            token = g.new_csrf_token = parts().csrf.new_token()
        g.csrf_token = token
    token_value: str = g.csrf_token
    return token_value


def check_csrf() -> None:
    parts().csrf.check(cookies(), request.form.get("csrf_token"), request.headers.get("Origin"))


def record_outcome(code: str) -> None:
    request.environ[OUTCOME_KEY] = code


def record_exchange_departure() -> None:
    """Note, for the access line, how long after the request arrived the exchange is sent."""
    started = request.environ.get(STARTED_KEY)
    if started is not None:
        request.environ[EXCHANGE_WAIT_KEY] = f"{(time.perf_counter() - started) * 1000:.2f}"


@dataclass(frozen=True)
class ServiceOption:
    """A service as the pages offer it, its URLs built once per process."""

    type: str
    name: str
    badge_url: str
    connect_url: str
    disconnect_url: str


@dataclass(frozen=True)
class AccountView:
    """An account as the landing page shows it: escaped by Jinja, images only over https."""

    service: str
    service_name: str
    badge_url: str
    connect_url: str
    disconnect_url: str
    name: str | None
    email: str | None
    country: str | None
    image_url: str | None
    expires_text: str
    expired: bool
    just_connected: bool
    refresh_error: str | None = None


@dataclass(frozen=True)
class PageLinks:
    """The fixed URLs every page links to, built once per process instead of on every render."""

    index: str
    developers: str
    connect_any: str
    logout: str
    icon: str
    css: str
    js: str
    session_example_js: str
    generic_badge: str


def built_once(key: str, build: Callable[[], T]) -> T:
    """A value that never changes while the process runs, built on first use (URLs need a request)."""
    value: T | None = current_app.extensions.get(key)
    if value is None:
        value = current_app.extensions[key] = build()
    return value


def page_links() -> PageLinks:
    return built_once(PAGE_LINKS, _build_page_links)


def _build_page_links() -> PageLinks:
    return PageLinks(
        index=url_for("main.index"),
        developers=url_for("main.developers"),
        connect_any=url_for("main.connect_any"),
        logout=url_for("main.logout"),
        icon=url_for("static", filename="favicon.svg"),
        css=url_for("static", filename="app.css"),
        js=url_for("static", filename="app.js"),
        session_example_js=url_for("static", filename="session-example.js"),
        generic_badge=url_for("static", filename=badge("generic")),
    )


@bp.app_context_processor
def inject_links() -> dict[str, PageLinks]:
    return {"links": page_links()}


def see_other(location: str) -> Response:
    """A bodiless 303: where a form post or a login goes next."""
    return Response(status=303, headers={"Location": location})


def service_options() -> dict[str, ServiceOption]:
    """Every allowed service with its URLs; built on first use, then reused by every request."""
    return built_once(SERVICE_OPTIONS, _build_service_options)


def _build_service_options() -> dict[str, ServiceOption]:
    return {
        service: ServiceOption(
            type=service,
            name=service_name(service),
            badge_url=url_for("static", filename=badge(service)),
            connect_url=url_for("main.connect", service=service),
            disconnect_url=url_for("main.disconnect", service=service),
        )
        for service in parts().settings.services
    }


def badge(service: str) -> str:
    """The self-made badge of a service (static/badges), or the generic one."""
    return f"badges/{service if service in SERVICE_NAMES else 'generic'}.svg"


def expires_text(expires_at: int | None, now: float, expired: bool) -> str:
    if expires_at is None:
        return "No expiry given"
    if expired:
        return "Token expired"
    minutes = int((expires_at / 1000 - now) // 60)
    if minutes < 120:
        return f"Token expires in {minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"Token expires in {hours} h"
    return f"Token expires in {hours // 24} days"


def account_view(account: Account, now: float, refresh_failed: bool = False) -> AccountView:
    user = account.user
    option = service_options()[account.service]
    expired = account.expired(now)
    image_url = user.image_url if user.image_url and user.image_url.startswith("https://") else None
    return AccountView(
        service=account.service,
        service_name=option.name,
        badge_url=option.badge_url,
        connect_url=option.connect_url,
        disconnect_url=option.disconnect_url,
        name=user.name,
        email=user.email,
        country=user.country,
        image_url=image_url,
        expires_text=expires_text(user.expires_at, now, expired),
        expired=expired,
        just_connected=now - account.connected_at < JUST_CONNECTED_SECONDS,
        refresh_error=REFRESH_FAILED_NOTE if refresh_failed else None,
    )


@bp.get("/")
def index() -> str:
    p = parts()
    now = p.clock()
    accounts, refresh_errors = current_accounts(p, now)
    token = csrf_token()
    if not accounts and CSRF_TOKEN_SHAPE.fullmatch(token):
        return first_visit_page(token)
    return landing_page([account_view(account, now, account.service in refresh_errors) for account in accounts], token)


def landing_page(accounts: list[AccountView], token: str) -> str:
    return render_template(
        "index.html",
        services=list(service_options().values()),
        accounts=accounts,
        can_refresh=parts().settings.can_refresh,
        csrf_token=token,
        next_path=None,
        developer_page_url=page_links().developers,
    )


def first_visit_page(token: str) -> str:
    """The landing page of a browser with nothing connected: every visitor's first page.

    It differs between visitors only by the CSRF token, so it is rendered once per process
    around a random marker and the token is put in its place. Tokens are URL-safe base64,
    which HTML escaping leaves as it is, so the result is exactly what rendering would give.
    """
    return token.join(built_once(FIRST_VISIT_PAGE, _split_first_visit_page))


def _split_first_visit_page() -> list[str]:
    marker = secrets.token_urlsafe(24)
    return landing_page([], marker).split(marker)


@bp.get("/developers")
def developers() -> str:
    return render_template("developer.html")


@bp.post("/connect/<service>")
def connect(service: str) -> Response:
    if service not in parts().settings.services:
        raise UnknownService()
    return start_login(service)


@bp.post("/connect")
def connect_any() -> Response:
    return start_login(None)


def start_login(service: str | None) -> Response:
    """Answer 303 to MusicAPI's login page, with a flow cookie binding the return to us."""
    p = parts()
    check_csrf()
    if service is not None and not browser().room_for_another(service):
        raise SessionFull()
    # The flow cookie goes on the response first; its state then goes into the login URL.
    response = Response(status=303)
    flow = p.flows.start(response, service, safe_next(request.form.get("next")))
    return_url = f"{p.settings.public_url}/callback?state={quote_plus(flow.state)}"
    response.location = login_url(p.settings.musicapi_auth_url, p.settings.musicapi_slug, return_url, service)
    return response


@bp.get("/callback")
def callback() -> Response:
    """Finish a login: bind it to this browser's flow, then decode, check and exchange at once."""
    p = parts()
    try:
        flow = p.flows.bind(cookies(), request.args.get("state"))
    except (FlowMissing, FlowExpired) as error:
        record_outcome(error.code)
        response = error_response(error)
        # A flow cookie that cannot be opened is useless: remove it rather than keep sending it.
        p.flows.discard(cookies(), response)
        return response
    except CallbackError as error:
        record_outcome(error.code)
        raise
    g.retry_service = flow.service or None
    try:
        connect_account(p, flow)
    except RequestError as error:
        record_outcome(error.code)
        response = error_response(error)
        p.flows.finish(response, flow)
        return response
    record_outcome("connected")
    response = see_other(safe_next(flow.next_path))
    p.flows.finish(response, flow)
    return response


def connect_account(p: Parts, flow: Flow) -> None:
    login = decode_data64(request.args.get("data64", ""))
    if login.service not in p.settings.services or flow.service not in ("", login.service):
        raise ServiceMismatch()
    record_exchange_departure()
    try:
        user = p.musicapi.exchange(login)
    except RequestError:
        raise
    except Exception as error:
        # A bug or an unforeseen client failure must not become a 500 with the token in flight.
        get_logger().error(logfmt({"at": "error", "event": "exchange_failed", "error": type(error).__name__}))
        raise UpstreamError() from error
    browser().put(Account(service=login.service, user=user, connected_at=int(p.clock())))


@bp.post("/disconnect/<service>")
def disconnect(service: str) -> Response:
    if service not in parts().settings.services:
        raise UnknownService()
    check_csrf()
    browser().remove(service)
    return see_other(page_links().index)


@bp.post("/logout")
def logout() -> Response:
    check_csrf()
    browser().remove_all()
    response = see_other(page_links().index)
    policy = parts().cookie_policy
    for base in (FLOW_COOKIE, SPENT_COOKIE, CSRF_COOKIE):
        if policy.name(base) in cookies():
            policy.delete(response, base)
    return response


@bp.get("/api/session")
def api_session() -> Response:
    p = parts()
    now = p.clock()
    accounts, refresh_errors = current_accounts(p, now)
    if not accounts:
        raise NotConnected()
    body = []
    for account in accounts:
        item: dict[str, Any] = account.to_api()
        item["expired"] = account.expired(now)
        if account.service in refresh_errors:
            item["refreshError"] = refresh_errors[account.service]
        body.append(item)
    return jsonify({"accounts": body})


def current_accounts(p: Parts, now: float) -> tuple[list[Account], dict[str, str]]:
    """This browser's accounts, expired tokens renewed first when client credentials allow."""
    session = browser()
    accounts = session.accounts()
    if not p.settings.can_refresh or not any(account.expired(now) for account in accounts):
        return accounts, {}
    errors = refresh_expired(p, session, accounts, now)
    record_outcome("refresh_failed" if errors else "refreshed")
    return session.accounts(), errors


def refresh_expired(p: Parts, session: BrowserSession, accounts: list[Account], now: float) -> dict[str, str]:
    """Fetch fresh tokens for expired accounts; the user id comes only from the sealed cookie.

    A failure leaves the account as it was (still usable for its profile) and is reported per
    service. When MusicAPI itself is failing (slow, unreachable, broken), the other accounts are
    not asked for: each try could add the exchange's whole timeout to this page, and a few of
    them would outlast the router's 30 s. A refusal concerns one account, so the next is tried.
    """
    client_id, client_secret = p.settings.client_id, p.settings.client_secret
    if client_id is None or client_secret is None:
        return {}
    errors: dict[str, str] = {}
    outage: UpstreamError | None = None
    for account in accounts:
        if not account.expired(now):
            continue
        if outage is not None:
            errors[account.service] = outage.code
            continue
        try:
            user = p.musicapi.fetch_fresh(account.user.integration_user_uuid, client_id, client_secret)
            session.replace_user(account.service, user)
        except RequestError as error:
            errors[account.service] = error.code
            if isinstance(error, UpstreamError) and not isinstance(error, UpstreamRefused):
                outage = error
    return errors


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready once configuration is complete (create_app refuses to start otherwise)."""
    settings = parts().settings
    return jsonify({"status": "ready", "services": len(settings.services), "simulator": settings.simulator})


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz")


def error_response(error: RequestError) -> Response:
    """The one place an error becomes a page or a JSON body."""
    response: Response
    if wants_json():
        response = jsonify({"error": error.code})
    else:
        retry_service = g.get("retry_service")
        response = Response(
            render_template(
                "error.html",
                error=error,
                retry_service=retry_service,
                csrf_token=csrf_token() if retry_service else None,
            ),
            mimetype="text/html",
        )
    response.status_code = error.status
    return response


@bp.app_errorhandler(RequestError)
def handle_request_error(error: RequestError) -> Response:
    return error_response(error)


_HTTP_ERRORS: dict[int, type[RequestError]] = {404: NotFound, 405: MethodNotAllowed}


@bp.app_errorhandler(HTTPException)
def handle_http_exception(error: HTTPException) -> Response:
    known = _HTTP_ERRORS.get(error.code or 500)
    if known is not None:
        response = error_response(known())
    else:
        generic = RequestError()
        response = error_response(generic)
        response.status_code = error.code or 400
    # Keep the Allow header of a 405, and anything else werkzeug says about the error.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


@bp.app_errorhandler(Exception)
def handle_unexpected(error: Exception) -> Response:
    get_logger().error(logfmt({"at": "error", "event": "unhandled", "error": type(error).__name__}))
    generic = RequestError()
    response = error_response(generic)
    response.status_code = 500
    return response


@bp.before_app_request
def require_https() -> Response | None:
    """Send plain-http visitors of an https deployment to the https address (health checks exempt)."""
    settings = parts().settings
    if settings.is_https and not request.is_secure and request.path not in ("/healthz", "/readyz"):
        return redirect(settings.public_url + request.full_path.rstrip("?"), code=308)
    return None


@bp.after_app_request
def finish_response(response: Response) -> Response:
    """Write back the browser's cookies (the security headers are added by the WSGI layer)."""
    if "browser" in g:
        g.browser.write(response)
    if "new_csrf_token" in g:
        parts().csrf.remember(response, g.new_csrf_token)
    return response

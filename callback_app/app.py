"""The app factory: ``create_app()`` wires everything once, at startup, and fails fast on bad configuration."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from flask import Flask, Request
from flask_cors import CORS
from werkzeug.exceptions import BadHost
from werkzeug.routing import Map, MapAdapter

from callback_app.config import read_settings
from callback_app.context import EXTENSION, Parts
from callback_app.cookies import CookieJar, Sealer
from callback_app.i18n import LANGUAGE_COOKIE, init_i18n
from callback_app.login.attempts import ATTEMPT_COOKIE, Attempts
from callback_app.login.callback import Logins
from callback_app.login.flows import FLOW_COOKIE, FLOW_LIFETIME, SPENT_COOKIE, FlowLedger, LoginFlows, NoLedger
from callback_app.logs import RequestLog, log_event
from callback_app.musicapi.client import MusicApiClient
from callback_app.notices import NOTICE_COOKIE, Notices
from callback_app.security import CORS_ROUTES, CSRF_COOKIE, CsrfGuard, HostGuard, SecurityHeaders
from callback_app.session.base import SessionStore
from callback_app.session.cookie_store import CookieSessions
from callback_app.session.refresh import Refresher, RefreshLocks
from callback_app.settings import SIMULATOR_PREFIX, Settings
from callback_app.types import Clock
from callback_app.urls import origin_of
from callback_app.views import register_views

ROOT = Path(__file__).resolve().parent.parent


class _ExactMap(Map):
    """URL matching without werkzeug's slash-merging redirect, whose Location comes from the Host header."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["merge_slashes"] = False
        super().__init__(*args, **kwargs)


class CallbackFlask(Flask):
    url_map_class = _ExactMap

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        try:
            return super().create_url_adapter(request)
        except BadHost:
            if request is None:
                raise
            # A Host that is no valid name (a label over 63 characters, an empty label): route the
            # path under PUBLIC_URL's host, so that the host check answers with its page, not a 500.
            return self.url_map.bind(
                self.extensions[EXTENSION].settings.public_host,
                script_name=request.root_path or "/",
                url_scheme=request.scheme,
                default_method=request.method,
                path_info=request.path,
            )


def create_app(settings: Settings | None = None, *, clock: Clock = time.time) -> Flask:
    """Build the app from ``settings`` (read from the environment when None)."""
    settings = settings or read_settings()
    app = CallbackFlask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(
        MAX_CONTENT_LENGTH=16 * 1024,
        MAX_FORM_PARTS=20,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        PREFERRED_URL_SCHEME="https" if settings.is_https else "http",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = build_parts(settings, clock)
    init_i18n(app, ROOT / "translations", CookieJar(secure=settings.is_https).name(LANGUAGE_COOKIE))
    if settings.allowed_origins:
        CORS(
            app,
            resources={route: {} for route in CORS_ROUTES},
            # Compiled and anchored: flask-cors compares plain strings without regard to case, but an
            # Origin is exact (as CsrfGuard compares it).
            origins=[re.compile(re.escape(origin) + r"\Z") for origin in settings.allowed_origins],
            supports_credentials=True,
            methods=["GET", "POST"],
            allow_headers=["Content-Type", "Accept"],
            always_send=False,
            max_age=600,
        )
    register_views(app)
    if settings.simulator:
        register_simulator(app, settings, clock)
    app.wsgi_app = RequestLog(app.wsgi_app, clock=clock)  # type: ignore[method-assign]
    log_event("info", "startup", **settings.summary())
    return app


def form_targets(settings: Settings) -> str:
    """Where the pages' forms may lead: this site, MusicAPI's login, and the allowed sites a login returns to.

    CSP checks every redirect after a form post too, and a login started here may end on an allowed site.
    """
    targets = dict.fromkeys([origin_of(settings.musicapi_auth_url), *settings.allowed_origins])
    targets.pop(settings.public_origin, None)
    return " ".join(["'self'", *targets])


def build_parts(settings: Settings, clock: Clock) -> Parts:
    sealer = Sealer(settings.keys_oldest_first, clock=clock)
    jar = CookieJar(secure=settings.is_https)
    client = MusicApiClient(settings.musicapi_api_url)
    cookie_store = CookieSessions(
        sealer=sealer,
        jar=jar,
        services=settings.services,
        clock=clock,
        transient_cookies=frozenset({FLOW_COOKIE, SPENT_COOKIE, ATTEMPT_COOKIE, NOTICE_COOKIE}),
        lasting_cookies=frozenset({CSRF_COOKIE, LANGUAGE_COOKIE}),
        clears_tickets=settings.redis_url is None,
    )
    sessions: SessionStore = cookie_store
    ledger: FlowLedger = NoLedger()
    locks: RefreshLocks | None = None
    if settings.redis_url is not None:
        from callback_app.session.redis_backend import RedisBackend
        from callback_app.session.redis_coordination import RedisFlowLedger, RedisRefreshLocks
        from callback_app.session.redis_store import RedisSessions

        backend = RedisBackend(settings.redis_url, tls_verify=settings.redis_tls_verify)
        sessions = RedisSessions(backend=backend, sealer=sealer, jar=jar, cookie_store=cookie_store)
        ledger = RedisFlowLedger(backend, lifetime=FLOW_LIFETIME)
        locks = RedisRefreshLocks(backend)
    flows = LoginFlows(sealer=sealer, jar=jar, ledger=ledger, clock=clock)
    refresher = None
    if settings.client_id is not None and settings.client_secret is not None:
        refresher = Refresher(
            client=client, client_id=settings.client_id, client_secret=settings.client_secret, clock=clock, locks=locks
        )
    return Parts(
        settings=settings,
        clock=clock,
        sealer=sealer,
        jar=jar,
        csrf=CsrfGuard(
            sealer=sealer, jar=jar, public_origin=settings.public_origin, allowed_origins=settings.allowed_origins
        ),
        hosts=HostGuard(public_url=settings.public_url, public_host=settings.public_host, https=settings.is_https),
        headers=SecurityHeaders(form_targets=form_targets(settings), cors=bool(settings.allowed_origins)),
        sessions=sessions,
        logins=Logins(settings=settings, flows=flows, client=client, clock=clock),
        attempts=Attempts(sealer=sealer, jar=jar),
        notices=Notices(sealer=sealer, jar=jar),
        refresher=refresher,
    )


def register_simulator(app: Flask, settings: Settings, clock: Clock) -> None:
    """Serve the MusicAPI simulator from this app (demo and development only)."""
    from callback_app.simulator import Simulator, create_simulator_blueprint

    simulator = Simulator(clock=clock, slug=settings.musicapi_slug)
    app.register_blueprint(create_simulator_blueprint(simulator), url_prefix=SIMULATOR_PREFIX)

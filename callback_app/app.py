"""The app factory: ``create_app()`` wires everything once, at startup, and fails fast on bad configuration."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from .config import SIMULATOR_PREFIX, Settings
from .cookies import Clock, CookiePolicy, Sealer
from .flow import LoginFlows
from .logs import RequestLog, get_logger, logfmt
from .musicapi import MusicApiClient
from .security import CsrfGuard, SecurityHeaders

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = "callback_app"


@dataclass(frozen=True)
class Parts:
    """The app's long-lived collaborators, built once and shared by every request."""

    settings: Settings
    clock: Clock
    sealer: Sealer
    cookie_policy: CookiePolicy
    flows: LoginFlows
    csrf: CsrfGuard
    musicapi: MusicApiClient


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def create_app(settings: Settings | None = None, *, clock: Clock = time.time) -> Flask:
    """Build the app from ``settings`` (read from the environment when None)."""
    settings = settings or Settings.from_environ()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        MAX_CONTENT_LENGTH=16 * 1024,
        MAX_FORM_PARTS=20,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        PREFERRED_URL_SCHEME="https" if settings.is_https else "http",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = build_parts(settings, clock)

    from .views import bp

    app.register_blueprint(bp)
    if settings.simulator:
        register_simulator(app, settings, clock)
    app.wsgi_app = RequestLog(  # type: ignore[method-assign]
        SecurityHeaders(app.wsgi_app, form_targets=form_targets(settings)), clock=clock
    )
    logger = get_logger()
    logger.info(logfmt({"at": "info", "event": "startup"}) + " " + settings.describe())
    return app


def form_targets(settings: Settings) -> str:
    """Where the pages' forms may post: this site, and MusicAPI's login when it lives elsewhere."""
    login_origin = origin_of(settings.musicapi_auth_url)
    return "'self'" if login_origin == origin_of(settings.public_url) else f"'self' {login_origin}"


def build_parts(settings: Settings, clock: Clock) -> Parts:
    sealer = Sealer(settings.secret_keys, clock=clock)
    policy = CookiePolicy(secure=settings.is_https)
    public_origin = origin_of(settings.public_url)
    return Parts(
        settings=settings,
        clock=clock,
        sealer=sealer,
        cookie_policy=policy,
        flows=LoginFlows(sealer=sealer, policy=policy, clock=clock),
        csrf=CsrfGuard(sealer=sealer, policy=policy, public_origin=public_origin),
        musicapi=MusicApiClient(settings.musicapi_api_url),
    )


def register_simulator(app: Flask, settings: Settings, clock: Clock) -> None:
    """Serve the MusicAPI simulator from this app (demo and development only)."""
    from .simulator import Simulator, create_simulator_blueprint

    simulator = Simulator(clock=clock, slug=settings.musicapi_slug)
    app.register_blueprint(create_simulator_blueprint(simulator), url_prefix=SIMULATOR_PREFIX)

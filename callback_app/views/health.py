"""Health checks for the platform: alive (``/healthz``) and able to serve logins (``/readyz``)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from callback_app.context import get_parts

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: answers without touching MusicAPI or the session store."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready once the configuration is complete and the session store answers."""
    parts = get_parts()
    if not parts.sessions.ready():
        response = jsonify({"status": "unavailable", "store": "redis"})
        response.status_code = 503
        return response
    settings = parts.settings
    store = "redis" if settings.redis_url else "cookies"
    return jsonify({"status": "ready", "store": store, "services": len(settings.services)})

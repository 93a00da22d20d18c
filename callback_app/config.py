"""Configuration: the environment read once into Settings, every problem named in one line.

Nothing else in the app reads ``os.environ``. ``python -m callback_app.config`` checks a
deployment's environment and exits 3 with that line, before gunicorn reads anything itself.
"""

from __future__ import annotations

import difflib
import multiprocessing
import os
import re
import secrets
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from callback_app.errors import ConfigError
from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.settings import (
    DEFAULT_API_URL,
    DEFAULT_AUTH_URL,
    DEFAULT_PORT,
    SIMULATOR_PREFIX,
    ServerSettings,
    Settings,
)
from callback_app.urls import is_loopback_url, normalized_origin, split_url

MIN_SECRET_LENGTH = 32
MAX_APP_NAME = 60
MAX_WORKERS = 64
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Heroku Key-Value Store's instances present a self-signed certificate on hosts named like this.
_HEROKU_REDIS_HOST = re.compile(r"ec2-[0-9-]+\.(?:[a-z0-9-]+\.)?compute(?:-1)?\.amazonaws\.com")
_FLAGS = {"1": True, "0": False}


def read_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the environment; raise ConfigError naming every problem."""
    return _Reader(os.environ if environ is None else environ).settings()


def read_server_settings(environ: Mapping[str, str] | None = None, *, cpu_count: int = 1) -> ServerSettings:
    """What gunicorn needs, after checking the whole configuration, so a bad deploy stops before any worker."""
    environ = os.environ if environ is None else environ
    reader = _Reader(environ)
    workers = reader.web_concurrency(cpu_count)
    try:
        settings = read_settings(environ)
    except ConfigError as error:
        raise ConfigError([*error.problems, *reader.problems]) from None
    if reader.problems:
        raise ConfigError(reader.problems)
    if settings.simulator:
        # The simulator keeps its tokens in memory: one process, or logins would not match, and
        # it answers this machine only, since it hands out tokens to anyone who asks.
        return ServerSettings(port=settings.port, workers=1, host="127.0.0.1")
    return ServerSettings(port=settings.port, workers=workers)


def _is_number(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²', which ``int`` refuses."""
    return value.isascii() and value.isdigit()


class _Reader:
    """Collects problems while reading, so that one error names them all."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, blanks dropped, duplicates kept once."""
        return tuple(dict.fromkeys(item.strip() for item in self.environ.get(name, "").split(",") if item.strip()))

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def settings(self) -> Settings:
        simulator = self.flag("MUSICAPI_SIMULATOR", default=False)
        if simulator and self.text("DYNO"):
            # A PaaS dyno is production by definition: refuse to play MusicAPI there.
            self.problem("MUSICAPI_SIMULATOR=1 is refused on a PaaS dyno (DYNO is set)")
            simulator = False
        port = self.port()
        public_url = self.public_url(simulator, port)
        secret_key, fallbacks = self.secret_keys(simulator)
        slug = self.slug(simulator)
        simulated = f"{public_url}{SIMULATOR_PREFIX}"
        auth_url = self.base_url("MUSICAPI_AUTH_URL", f"{simulated}/auth" if simulator else DEFAULT_AUTH_URL)
        api_url = self.base_url("MUSICAPI_API_URL", f"{simulated}/api" if simulator else DEFAULT_API_URL)
        client_id, client_secret = self.client_credentials()
        redis_url = self.redis_url()
        settings = Settings(
            secret_key=secret_key,
            secret_key_fallbacks=fallbacks,
            musicapi_slug=slug,
            public_url=public_url,
            musicapi_auth_url=auth_url or "",
            musicapi_api_url=api_url or "",
            services=self.services(),
            client_id=client_id,
            client_secret=client_secret,
            simulator=simulator,
            port=port,
            allowed_origins=self.allowed_origins(),
            redis_url=redis_url,
            redis_tls_verify=self.redis_tls_verify(redis_url),
            app_name=self.app_name(),
            privacy_url=self.https_url("PRIVACY_URL", None),
            support_url=self.https_url("SUPPORT_URL", None),
            developer_page=self.flag("DEVELOPER_PAGE", default=simulator),
        )
        if self.problems:
            raise ConfigError(self.problems)
        return settings

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value not in _FLAGS:
            self.problem(f"{name} must be 1 or 0")
            return default
        return _FLAGS[value]

    def port(self) -> int:
        value = self.text("PORT")
        if value is None:
            return DEFAULT_PORT
        if not _is_number(value) or not 0 < int(value) < 65536:
            self.problem("PORT must be a number between 1 and 65535")
            return DEFAULT_PORT
        return int(value)

    def web_concurrency(self, cpu_count: int) -> int:
        # One gevent worker per core: each holds thousands of waiting exchanges cheaply.
        value = self.text("WEB_CONCURRENCY")
        if value is None:
            return max(1, cpu_count)
        if not _is_number(value) or not 0 < int(value) <= MAX_WORKERS:
            self.problem(f"WEB_CONCURRENCY must be a number between 1 and {MAX_WORKERS}")
            return 1
        return int(value)

    def public_url(self, simulator: bool, port: int) -> str:
        value = self.text("PUBLIC_URL")
        if value is None:
            if simulator:
                return f"http://127.0.0.1:{port}"
            self.problem("PUBLIC_URL is missing (the app's external base URL, e.g. https://app.example.com)")
            return ""
        url = value.rstrip("/")
        parts = split_url(url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            self.problem("PUBLIC_URL must be an absolute http(s) URL")
        elif parts.path or parts.query or parts.fragment or parts.username:
            self.problem("PUBLIC_URL must be an origin only (scheme, host and port)")
        elif parts.scheme == "http" and not is_loopback_url(url):
            self.problem("PUBLIC_URL must use https (plain http is allowed only on this machine)")
        elif simulator and not is_loopback_url(url):
            self.problem("MUSICAPI_SIMULATOR=1 needs PUBLIC_URL on this machine (localhost)")
        return url

    def secret_keys(self, simulator: bool) -> tuple[str, tuple[str, ...]]:
        key = self.text("SECRET_KEY")
        if key is None:
            if simulator:
                # Demo only: a fresh key per process, so nothing signed here is valid elsewhere.
                key = secrets.token_urlsafe(48)
            else:
                self.problem(f"SECRET_KEY is missing (at least {MIN_SECRET_LENGTH} random characters)")
                key = ""
        elif len(key) < MIN_SECRET_LENGTH:
            self.problem(f"SECRET_KEY is too short (at least {MIN_SECRET_LENGTH} characters)")
        fallbacks = self.items("SECRET_KEY_FALLBACKS")
        if any(len(item) < MIN_SECRET_LENGTH for item in fallbacks):
            self.problem(f"SECRET_KEY_FALLBACKS has a key shorter than {MIN_SECRET_LENGTH} characters")
        return key, fallbacks

    def slug(self, simulator: bool) -> str:
        value = self.text("MUSICAPI_SLUG")
        if value is None:
            if simulator:
                return "simulator"
            self.problem("MUSICAPI_SLUG is missing (your MusicAPI account slug)")
            return ""
        if not _SLUG.fullmatch(value):
            self.problem("MUSICAPI_SLUG may hold only letters, digits, '-' and '_'")
        return value

    def https_url(self, name: str, default: str | None) -> str | None:
        """An absolute https URL (plain http only on this machine), or ``default`` when unset."""
        value = self.text(name)
        if value is None:
            return default
        url = value.rstrip("/")
        parts = split_url(url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            self.problem(f"{name} must be an absolute https URL")
        elif parts.scheme == "http" and not is_loopback_url(url):
            self.problem(f"{name} must use https (plain http is allowed only on this machine)")
        return url

    def base_url(self, name: str, default: str) -> str | None:
        """An https URL the app appends paths to: a query string or fragment in it would swallow them."""
        url = self.https_url(name, default)
        parts = split_url(url or "")
        if parts is not None and (parts.query or parts.fragment):
            self.problem(f"{name} must not have a query string or fragment")
        return url

    def services(self) -> tuple[str, ...]:
        services = self.items("MUSICAPI_SERVICES")
        if not services:
            if self.text("MUSICAPI_SERVICES") is not None:
                self.problem("MUSICAPI_SERVICES must name at least one service type, like spotify,tidal")
            return KNOWN_SERVICES
        for unknown in (item for item in services if item not in KNOWN_SERVICES):
            self.problem(f"MUSICAPI_SERVICES has an unknown service type {unknown!r}{_suggestion(unknown)}")
        return services

    def client_credentials(self) -> tuple[str | None, str | None]:
        client_id = self.text("MUSICAPI_CLIENT_ID")
        client_secret = self.text("MUSICAPI_CLIENT_SECRET")
        if (client_id is None) != (client_secret is None):
            self.problem("MUSICAPI_CLIENT_ID and MUSICAPI_CLIENT_SECRET must be set together")
            return None, None
        if client_id is not None and ":" in client_id:
            self.problem("MUSICAPI_CLIENT_ID must not contain ':'")
        return client_id, client_secret

    def allowed_origins(self) -> tuple[str, ...]:
        origins = []
        for item in self.items("ALLOWED_ORIGINS"):
            origin = normalized_origin(item)
            # Named so the deployer finds it, unless it holds a user name or password.
            shown = "an entry with a user name or password" if "@" in item else repr(item[:80])
            if origin is None:
                self.problem(f"ALLOWED_ORIGINS has {shown}, which is not an origin like https://www.example.com")
            elif origin.startswith("http://") and not is_loopback_url(origin):
                self.problem(f"ALLOWED_ORIGINS has {shown}: use https (plain http only on this machine)")
            else:
                origins.append(origin)
        return tuple(dict.fromkeys(origins))

    def redis_url(self) -> str | None:
        value = self.text("REDIS_URL")
        if value is None:
            return None
        parts = split_url(value)
        if parts is None or parts.scheme not in ("redis", "rediss") or not parts.hostname:
            # Never echo the value: it holds the Redis password.
            self.problem("REDIS_URL must be a redis:// or rediss:// URL with a host")
            return None
        return value

    def redis_tls_verify(self, redis_url: str | None) -> bool:
        parts = urlsplit(redis_url or "")
        heroku = parts.scheme == "rediss" and bool(_HEROKU_REDIS_HOST.fullmatch(parts.hostname or ""))
        return self.flag("REDIS_TLS_VERIFY", default=not heroku)

    def app_name(self) -> str | None:
        value = self.text("APP_NAME")
        if value is not None and (len(value) > MAX_APP_NAME or not value.isprintable()):
            self.problem(f"APP_NAME must be printable text of at most {MAX_APP_NAME} characters")
        return value


def _suggestion(unknown: str) -> str:
    """ ", did you mean 'spotify'?" for a near miss, nothing when nothing is close."""
    by_lower = {service.lower(): service for service in KNOWN_SERVICES}
    if unknown.lower() in by_lower:
        return f" (did you mean {by_lower[unknown.lower()]!r}?)"
    close = difflib.get_close_matches(unknown.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def main() -> int:
    """Check the environment as gunicorn.conf.py will; print the one line and exit 3 if it is wrong."""
    try:
        read_server_settings(cpu_count=multiprocessing.cpu_count())
    except ConfigError as error:
        print(f"callback_app: configuration error: {error}", file=sys.stderr, flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

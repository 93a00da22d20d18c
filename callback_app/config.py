"""Configuration: the environment read once into one typed, validated object.

Nothing else in the app reads ``os.environ``. Every problem is collected before failing, so a
deployer fixes them all in one go.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from .errors import ConfigError

DEFAULT_SERVICES: tuple[str, ...] = (
    "spotify",
    "appleMusic",
    "youtube",
    "youtubeMusic",
    "deezer",
    "tidal",
    "amazonMusic",
    "soundcloud",
    "pandora",
    "napster",
    "qobuz",
    "boomplay",
    "anghami",
    "yandex",
)
DEFAULT_AUTH_URL = "https://app.musicapi.com"
DEFAULT_API_URL = "https://api.musicapi.com"
DEFAULT_PORT = 5000
MIN_SECRET_LENGTH = 32
SIMULATOR_PREFIX = "/_simulator"

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SERVICE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,31}")
_LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its deployment."""

    secret_key: str
    musicapi_slug: str
    public_url: str
    secret_key_fallbacks: tuple[str, ...] = ()
    musicapi_auth_url: str = DEFAULT_AUTH_URL
    musicapi_api_url: str = DEFAULT_API_URL
    services: tuple[str, ...] = DEFAULT_SERVICES
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    simulator: bool = False
    port: int = DEFAULT_PORT

    def __repr__(self) -> str:
        return f"Settings({self.describe()})"

    @property
    def is_https(self) -> bool:
        """Whether the app is served over https: cookies get ``Secure`` and ``__Host-``."""
        return self.public_url.startswith("https://")

    @property
    def can_refresh(self) -> bool:
        """Whether expired tokens can be fetched again with the client credentials."""
        return self.client_id is not None and self.client_secret is not None

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """The signing keys, newest first."""
        return (self.secret_key, *self.secret_key_fallbacks)

    def describe(self) -> str:
        """The effective configuration as logfmt, secrets masked, for the startup log."""
        fields = {
            "public_url": self.public_url,
            "musicapi_slug": self.musicapi_slug,
            "musicapi_auth_url": self.musicapi_auth_url,
            "musicapi_api_url": self.musicapi_api_url,
            "services": ",".join(self.services),
            "secret_key": _mask(self.secret_key),
            "secret_key_fallbacks": len(self.secret_key_fallbacks),
            "client_id": self.client_id or "unset",
            "client_secret": _mask(self.client_secret) if self.client_secret else "unset",
            "simulator": "on" if self.simulator else "off",
        }
        return " ".join(f"{key}={value}" for key, value in fields.items())

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment; raise ConfigError naming every problem."""
        return _Reader(os.environ if environ is None else environ).settings()


def _mask(secret: str) -> str:
    return f"***({len(secret)}-chars)"


def _split_url(url: str) -> SplitResult | None:
    """``urlsplit`` that also checks the port; None for what no browser could use."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError:
        return None
    return parts


def _is_number(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²', which ``int`` refuses."""
    return value.isascii() and value.isdigit()


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (the only place the simulator may be used)."""
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Reader:
    """Collects problems while reading, so that one error names them all."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def settings(self) -> Settings:
        simulator = self.simulator_flag()
        port = self.port()
        public_url = self.public_url(simulator, port)
        secret_key, fallbacks = self.secret_keys(simulator)
        slug = self.slug(simulator)
        auth_url, api_url = self.musicapi_urls(simulator, public_url)
        services = self.services()
        client_id, client_secret = self.client_credentials()
        if self.problems:
            raise ConfigError(self.problems)
        return Settings(
            secret_key=secret_key,
            secret_key_fallbacks=fallbacks,
            musicapi_slug=slug,
            public_url=public_url,
            musicapi_auth_url=auth_url,
            musicapi_api_url=api_url,
            services=services,
            client_id=client_id,
            client_secret=client_secret,
            simulator=simulator,
            port=port,
        )

    def simulator_flag(self) -> bool:
        value = self.text("MUSICAPI_SIMULATOR")
        if value in (None, "0"):
            return False
        if value != "1":
            self.problem("MUSICAPI_SIMULATOR must be 1 or unset")
            return False
        if self.text("DYNO"):
            # A PaaS dyno is production by definition: refuse to play MusicAPI there.
            self.problem("MUSICAPI_SIMULATOR=1 is refused on a PaaS dyno (DYNO is set)")
            return False
        return True

    def port(self) -> int:
        value = self.text("PORT")
        if value is None:
            return DEFAULT_PORT
        if not _is_number(value) or not 0 < int(value) < 65536:
            self.problem("PORT must be a number between 1 and 65535")
            return DEFAULT_PORT
        return int(value)

    def public_url(self, simulator: bool, port: int) -> str:
        value = self.text("PUBLIC_URL")
        if value is None:
            if simulator:
                return f"http://127.0.0.1:{port}"
            self.problem("PUBLIC_URL is missing (the app's external base URL, e.g. https://app.example.com)")
            return ""
        url = value.rstrip("/")
        parts = _split_url(url)
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
        fallbacks = tuple(
            item.strip() for item in self.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if item.strip()
        )
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

    def musicapi_urls(self, simulator: bool, public_url: str) -> tuple[str, str]:
        simulated = f"{public_url}{SIMULATOR_PREFIX}"
        auth = self.base_url("MUSICAPI_AUTH_URL", f"{simulated}/auth" if simulator else DEFAULT_AUTH_URL)
        api = self.base_url("MUSICAPI_API_URL", f"{simulated}/api" if simulator else DEFAULT_API_URL)
        return auth, api

    def base_url(self, name: str, default: str) -> str:
        value = self.text(name)
        if value is None:
            return default
        url = value.rstrip("/")
        parts = _split_url(url)
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
        ):
            self.problem(f"{name} must be an absolute http(s) URL without query")
        elif parts.scheme == "http" and not is_loopback_url(url):
            self.problem(f"{name} must use https (plain http is allowed only on this machine)")
        return url

    def services(self) -> tuple[str, ...]:
        value = self.text("MUSICAPI_SERVICES")
        if value is None:
            return DEFAULT_SERVICES
        services = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
        bad = [item for item in services if not _SERVICE.fullmatch(item)]
        if bad or not services:
            self.problem("MUSICAPI_SERVICES must be a comma-separated list of service types like spotify,tidal")
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


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn needs: where to listen and how many worker processes to run."""

    port: int
    workers: int
    # A dyno is reached only through the PaaS router, on whatever interface it gives the dyno.
    host: str = "0.0.0.0"  # noqa: S104  # nosec B104

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, *, cpu_count: int = 1) -> ServerSettings:
        """Validate the app's configuration too, so a bad deploy stops before any worker starts."""
        environ = os.environ if environ is None else environ
        reader = _Reader(environ)
        workers = _web_concurrency(reader, environ.get("WEB_CONCURRENCY", "").strip(), cpu_count)
        try:
            settings = Settings.from_environ(environ)
        except ConfigError as error:
            raise ConfigError([*error.problems, *reader.problems]) from None
        if settings.simulator:
            # The simulator keeps its tokens in memory: one process, or logins would not match.
            workers = 1
        if reader.problems:
            raise ConfigError(reader.problems)
        # The demo answers this machine only: its simulator hands out tokens to anyone who asks.
        host = "127.0.0.1" if settings.simulator else cls.host
        return cls(port=settings.port, workers=workers, host=host)


def _web_concurrency(reader: _Reader, value: str, cpu_count: int) -> int:
    # One gevent worker per core: each holds thousands of waiting exchanges cheaply.
    if not value:
        return max(1, cpu_count)
    if not _is_number(value) or not 0 < int(value) <= 64:
        reader.problem("WEB_CONCURRENCY must be a number between 1 and 64")
        return 1
    return int(value)

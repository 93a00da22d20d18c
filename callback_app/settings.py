"""The app's settings: one typed object read from the environment at startup (see config.py).

The limits every deployment shares are stated here once, as constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.urls import origin_from_parts

DEFAULT_AUTH_URL = "https://app.musicapi.com"
DEFAULT_API_URL = "https://api.musicapi.com"
DEFAULT_PORT = 5000
SIMULATOR_PREFIX = "/_simulator"

# A one-time token dies a minute after MusicAPI issued it, and a PaaS router gives up on a
# request after 30 s: the whole exchange (connect, headers and body) has one deadline inside both.
EXCHANGE_CONNECT_TIMEOUT = 3.0
EXCHANGE_DEADLINE = 10.0
# A refresh holds up a page view, so it gets less.
REFRESH_DEADLINE = 5.0
# Every Redis call (connect, command, reply) is given this long before the store counts as down.
REDIS_TIMEOUT = 0.5
# Connections to Redis per worker, and how long a call waits for one when all are busy. A Redis
# plan's client limit must cover instances x WEB_CONCURRENCY x REDIS_CONNECTIONS.
REDIS_CONNECTIONS = 8
REDIS_POOL_WAIT = 2.0
# Callbacks one gevent worker holds at once (gunicorn's worker_connections); the MusicAPI
# connection pool is as large, so a burst of callbacks never waits for a pooled connection.
WORKER_CONNECTIONS = 2000


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its deployment."""

    secret_key: str = field(repr=False)
    musicapi_slug: str
    public_url: str
    secret_key_fallbacks: tuple[str, ...] = field(default=(), repr=False)
    musicapi_auth_url: str = DEFAULT_AUTH_URL
    musicapi_api_url: str = DEFAULT_API_URL
    services: tuple[str, ...] = KNOWN_SERVICES
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    simulator: bool = False
    port: int = DEFAULT_PORT
    allowed_origins: tuple[str, ...] = ()
    redis_url: str | None = field(default=None, repr=False)
    redis_tls_verify: bool = True
    app_name: str | None = None
    privacy_url: str | None = None
    support_url: str | None = None
    developer_page: bool = False

    @property
    def is_https(self) -> bool:
        """Whether the app is served over https: cookies get ``Secure`` and ``__Host-``."""
        return self.public_url.startswith("https://")

    @property
    def public_origin(self) -> str:
        """PUBLIC_URL as browsers write it in an Origin header."""
        return origin_from_parts(urlsplit(self.public_url))

    @property
    def public_host(self) -> str:
        """PUBLIC_URL's host as browsers send it in Host: lower case, the port only when it is not the default."""
        return self.public_origin.split("://", 1)[1]

    @property
    def can_refresh(self) -> bool:
        """Whether expired tokens can be fetched again with the client credentials."""
        return self.client_id is not None and self.client_secret is not None

    @property
    def keys_oldest_first(self) -> tuple[str, ...]:
        """The cookie keys as itsdangerous wants them: oldest to newest, the newest signing."""
        return (*self.secret_key_fallbacks, self.secret_key)

    def summary(self) -> dict[str, str]:
        """The effective configuration, secrets masked to their length, for the startup log line."""
        return {
            "public_url": self.public_url,
            "musicapi_slug": self.musicapi_slug,
            "musicapi_auth_url": self.musicapi_auth_url,
            "musicapi_api_url": self.musicapi_api_url,
            "services": ",".join(self.services),
            "secret_key": _mask(self.secret_key),
            "secret_key_fallbacks": str(len(self.secret_key_fallbacks)),
            "client_id": self.client_id or "unset",
            "client_secret": _mask(self.client_secret) if self.client_secret else "unset",
            "allowed_origins": ",".join(self.allowed_origins) or "none",
            "session_store": "redis" if self.redis_url else "cookies",
            "redis_tls_verify": ("on" if self.redis_tls_verify else "off") if self.redis_url else "-",
            "app_name": self.app_name or "default",
            "simulator": "on" if self.simulator else "off",
        }


def _mask(secret: str) -> str:
    return f"***({len(secret)}-chars)"


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn needs: where to listen and how many worker processes to run."""

    port: int
    workers: int
    # A dyno is reached only through the PaaS router, on whatever interface it gives the dyno.
    host: str = "0.0.0.0"  # noqa: S104  # nosec B104

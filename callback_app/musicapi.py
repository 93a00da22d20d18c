"""Pure MusicAPI knowledge: login URLs, ``data64`` decoding and the token exchange client.

Nothing here imports Flask, so it can be tested and reused as plain Python.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import select
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import certifi
import urllib3
from gevent.monkey import get_original
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import parse_url
from urllib3.util.retry import Retry

from .errors import (
    LoginFailed,
    MalformedCallback,
    UpstreamError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnreachable,
)

SERVICE_NAMES: Mapping[str, str] = {
    "spotify": "Spotify",
    "appleMusic": "Apple Music",
    "youtube": "YouTube",
    "youtubeMusic": "YouTube Music",
    "deezer": "Deezer",
    "tidal": "TIDAL",
    "amazonMusic": "Amazon Music",
    "soundcloud": "SoundCloud",
    "pandora": "Pandora",
    "napster": "Napster",
    "qobuz": "Qobuz",
    "boomplay": "Boomplay",
    "anghami": "Anghami",
    "yandex": "Yandex Music",
}

MAX_DATA64_LENGTH = 4096
MAX_RESPONSE_BYTES = 256 * 1024
MAX_PROFILE_TEXT = 200
MAX_IMAGE_URL = 2048

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# One-time tokens are UUIDs today; accept any opaque token that is safe in a header.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{8,512}")
_BASE64_CHARS = re.compile(r"[A-Za-z0-9+/]*")
_WHITESPACE = re.compile(r"\s")
# A browser or proxy may add a layer or two of percent-encoding; base64 itself never holds '%'.
MAX_PERCENT_LAYERS = 3


def service_name(service: str) -> str:
    """The name people know a service by; unknown types are shown as they are."""
    return SERVICE_NAMES.get(service, service)


def login_url(auth_url: str, slug: str, return_url: str, service: str | None = None) -> str:
    """The MusicAPI login page for one service, or its chooser when ``service`` is None."""
    path = f"{quote(slug, safe='')}/{quote(service, safe='')}/auth" if service else quote(slug, safe="")
    # As urlencode() writes it, without building a dict and a list for three fixed keys.
    query = f"returnUrl={quote_plus(return_url, safe='')}&requestOneTimeToken=true&forwardFailures=true"
    return f"{auth_url}/{path}?{query}"


@dataclass(frozen=True)
class LoginResult:
    """What MusicAPI reported in ``data64`` about a successful login."""

    service: str
    integration_user_uuid: str
    one_time_token: str

    def __repr__(self) -> str:
        return f"LoginResult(service={self.service!r}, integration_user_uuid={self.integration_user_uuid!r})"


def decode_data64(raw: str) -> LoginResult:
    """Decode and check the ``data64`` parameter; raise LoginFailed or MalformedCallback.

    Accepts the standard and URL-safe alphabets, with or without padding, with ``+`` turned
    into spaces and with a leftover layer of percent-encoding, as seen in the wild.
    """
    document = _parse_json_object(_decode_base64(raw))
    integration = _object(document, "integration")
    auth_model = _object(document, "authModel")
    service = integration.get("type")
    status = auth_model.get("status")
    error = auth_model.get("error")
    if not isinstance(service, str) or not isinstance(status, str) or not isinstance(error, (str, type(None))):
        raise MalformedCallback()
    if status != "success":
        raise LoginFailed()
    uuid = document.get("integrationUserUUID")
    token = document.get("oneTimeToken")
    if not isinstance(uuid, str) or not _UUID.fullmatch(uuid):
        raise MalformedCallback()
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise MalformedCallback()
    return LoginResult(service=service, integration_user_uuid=uuid.lower(), one_time_token=token)


def _decode_base64(raw: str) -> bytes:
    if not raw or len(raw) > MAX_DATA64_LENGTH:
        raise MalformedCallback()
    text = raw
    for _ in range(MAX_PERCENT_LAYERS):
        if "%" not in text:
            break
        text = unquote(text)
    # Query parsing turns '+' into ' '; the URL-safe alphabet uses '-' and '_'.
    text = _WHITESPACE.sub("+", text.strip()).replace("-", "+").replace("_", "/").rstrip("=")
    if not _BASE64_CHARS.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedCallback()
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedCallback() from error


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _parse_json_object(payload: bytes) -> dict[str, Any]:
    try:
        document = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedCallback() from error
    if not isinstance(document, dict):
        raise MalformedCallback()
    return document


def _object(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    if not isinstance(value, dict):
        raise MalformedCallback()
    return value


@dataclass(frozen=True)
class IntegrationUser:
    """A connected streaming account as MusicAPI hands it over, tokens included."""

    integration_user_uuid: str
    name: str | None
    email: str | None
    image_url: str | None
    country: str | None
    auth_data: Mapping[str, Any]
    expires_at: int | None

    def __repr__(self) -> str:
        return f"IntegrationUser(integration_user_uuid={self.integration_user_uuid!r}, auth_data=<hidden>)"


# The system's poll, even in a gevent-patched worker: gevent's poll() registers watchers and
# goes through the hub even for a zero timeout, on every reuse of a pooled connection.
_system_poll = get_original("select", "poll")


def _readable_now(sock: socket.socket) -> bool:
    """Whether reading ``sock`` would not block right now: an idle keep-alive connection then
    holds an EOF (the server closed it) or bytes nobody asked for. Either way it is not reusable."""
    if sock.fileno() < 0:
        return True
    poller = _system_poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class _ReuseCheck:
    """urllib3's before-reuse check, made by one non-blocking system call.

    Over TLS, like urllib3's own, it looks at the socket, not at TLS buffers.
    """

    sock: socket.socket | None

    @property
    def is_connected(self) -> bool:
        return self.sock is not None and not _readable_now(self.sock)


class _PooledHTTPConnection(_ReuseCheck, HTTPConnection):
    """A pooled connection to MusicAPI over http (development and tests)."""


class _PooledHTTPSConnection(_ReuseCheck, HTTPSConnection):
    """A pooled connection to MusicAPI over https."""


class MusicApiClient:
    """Exchanges one-time tokens (and client credentials) for a user's streaming tokens.

    One keep-alive urllib3 connection pool (urllib3 is the HTTP engine under ``requests``), used
    directly because the exchange is on every callback's hot path and ``requests.Session``
    adds ~0.35 ms of CPU per call on top of it (cookie jars, hooks, environment merging),
    about a tenth of a whole login's cost (see bench/README.md). A spent one-time token
    cannot be used twice, so a request that may have reached MusicAPI is never retried:
    only failures to connect are.
    """

    connect_timeout: float = 3.0
    # Well inside both the token's one-minute life and a PaaS router's 30 s request limit.
    total_timeout: float = 10.0
    max_response_bytes: int = MAX_RESPONSE_BYTES
    # Keep-alive connections kept per worker: as many as callbacks a gevent worker holds at once
    # (gunicorn's worker_connections), so a burst reuses connections instead of opening new ones.
    pool_size: int = 2000
    # read=False re-raises read errors as they are (a timeout stays a timeout) and never retries them.
    retries = Retry(total=None, connect=2, read=False, redirect=0, status=0, other=0, backoff_factor=0)

    def __init__(self, api_url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        # One pool for MusicAPI's one host, used directly: a PoolManager would parse the URL and
        # build a pool key on every call.
        self._path_prefix = (parse_url(self.api_url).path or "").rstrip("/")
        https_only = {"ca_certs": certifi.where()} if self.api_url.startswith("https://") else {}
        self.pool = urllib3.connection_from_url(self.api_url, maxsize=self.pool_size, block=False, **https_only)
        self.pool.ConnectionCls = _PooledHTTPSConnection if https_only else _PooledHTTPConnection

    def exchange(self, login: LoginResult) -> IntegrationUser:
        """Spend the one-time token of ``login`` for the account and its tokens."""
        return self._fetch_user(login.integration_user_uuid, f"Token {login.one_time_token}")

    def fetch_fresh(self, integration_user_uuid: str, client_id: str, client_secret: str) -> IntegrationUser:
        """Fetch current tokens for a known user with the account's client credentials."""
        credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        return self._fetch_user(integration_user_uuid, f"Basic {credentials}")

    def _fetch_user(self, integration_user_uuid: str, authorization: str) -> IntegrationUser:
        if not _UUID.fullmatch(integration_user_uuid):
            raise MalformedCallback()
        path = f"{self._path_prefix}/public/integrations/user/{integration_user_uuid}"
        headers = {
            "User-Agent": "callback_app/1",
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": authorization,
        }
        deadline = self.clock() + self.total_timeout
        try:
            response = self.pool.urlopen(
                "GET",
                path,
                headers=headers,
                timeout=urllib3.Timeout(connect=self.connect_timeout, read=self.total_timeout - self.connect_timeout),
                retries=self.retries,
                redirect=False,
                preload_content=False,
            )
            try:
                body = self._read_body(response, deadline)
            except BaseException:
                # Never hand a half-read connection back to the pool.
                response.close()
                raise
            finally:
                response.release_conn()
        except MaxRetryError as error:
            raise _upstream_error(error.reason) from error
        except HTTPError as error:
            raise _upstream_error(error) from error
        if response.status in (400, 401, 403, 404, 410):
            raise UpstreamRefused()
        if response.status != 200:
            raise UpstreamError()
        return parse_integration_user(body, integration_user_uuid)

    def _read_body(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise UpstreamError()
        body = bytearray()
        for chunk in response.stream(16384):
            body += chunk
            if len(body) > self.max_response_bytes:
                raise UpstreamError()
            if self.clock() > deadline:
                raise UpstreamTimeout()
        return bytes(body)


def _upstream_error(reason: Exception | None) -> UpstreamError:
    """What a transport failure means for the person waiting: too slow, unreachable, or broken."""
    # urllib3 counts a refused connection as a kind of connect timeout: test for it first.
    if isinstance(reason, (NewConnectionError, ProtocolError, SSLError)):
        return UpstreamUnreachable()
    if isinstance(reason, Urllib3Timeout):
        return UpstreamTimeout()
    return UpstreamError()


def parse_integration_user(body: bytes, integration_user_uuid: str) -> IntegrationUser:
    """Check the exchange response's shape and keep what the app needs (all of ``authData``)."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise UpstreamError() from error
    user = document.get("integrationUser") if isinstance(document, dict) else None
    if not isinstance(user, dict):
        raise UpstreamError()
    auth_data = user.get("authData")
    expires_at = user.get("authDataExpiresAt")
    if not isinstance(auth_data, dict) or not auth_data:
        raise UpstreamError()
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float, type(None))):
        raise UpstreamError()
    if isinstance(expires_at, float) and not math.isfinite(expires_at):
        raise UpstreamError()
    return IntegrationUser(
        integration_user_uuid=integration_user_uuid,
        name=_profile_text(user.get("name")),
        email=_profile_text(user.get("email")),
        image_url=_image_url(user.get("imageUrl")),
        country=_profile_text(user.get("country")),
        auth_data=auth_data,
        expires_at=int(expires_at) if expires_at is not None else None,
    )


def _profile_text(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_PROFILE_TEXT]


def _image_url(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_IMAGE_URL:
        return None
    return value

"""MusicAPI's protocol as plain Python: service types, login URLs, ``data64`` and exchange answers.

No Flask, no gevent and no HTTP client here: everything can be read and tested on its own.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from callback_app.errors import LoginFailed, MalformedCallback, UpstreamError

# The service types MusicAPI reports, with the names people know them by.
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
KNOWN_SERVICES: tuple[str, ...] = tuple(SERVICE_NAMES)

MAX_DATA64_LENGTH = 4096
MAX_RESPONSE_BYTES = 256 * 1024
MAX_PROFILE_TEXT = 200
MAX_IMAGE_URL = 2048
EXCHANGE_PATH = "/public/integrations/user/{uuid}"

UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
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
    """MusicAPI's login page for one service, or its chooser when ``service`` is None."""
    path = quote(slug, safe="") + (f"/{quote(service, safe='')}/auth" if service else "")
    query = urlencode({"returnUrl": return_url, "requestOneTimeToken": "true", "forwardFailures": "true"})
    return f"{auth_url}/{path}?{query}"


def exchange_path(integration_user_uuid: str) -> str:
    """The API path that hands over a user's tokens; refuses anything but a UUID."""
    if not UUID_PATTERN.fullmatch(integration_user_uuid):
        raise MalformedCallback()
    return EXCHANGE_PATH.format(uuid=integration_user_uuid)


def token_authorization(one_time_token: str) -> str:
    return f"Token {one_time_token}"


def basic_authorization(client_id: str, client_secret: str) -> str:
    credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    return f"Basic {credentials}"


@dataclass(frozen=True)
class LoginResult:
    """What MusicAPI reported in ``data64`` about a successful login."""

    service: str
    integration_user_uuid: str
    one_time_token: str

    def __repr__(self) -> str:
        return f"LoginResult(service={self.service!r}, integration_user_uuid={self.integration_user_uuid!r})"


def decode_data64(raw: str) -> LoginResult:
    """Decode and check ``data64``; raise MalformedCallback, or LoginFailed when the login did not succeed.

    Accepts the standard and URL-safe alphabets, with or without padding, with ``+`` turned
    into spaces and with leftover layers of percent-encoding, as seen in the wild.
    """
    document = _parse_json_object(_decode_base64(raw), MalformedCallback)
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
    if not isinstance(uuid, str) or not UUID_PATTERN.fullmatch(uuid):
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


def _parse_json_object(payload: bytes, error: type[Exception]) -> dict[str, Any]:
    try:
        document = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as problem:
        raise error() from problem
    if not isinstance(document, dict):
        raise error()
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


def parse_integration_user(body: bytes, integration_user_uuid: str) -> IntegrationUser:
    """Check the exchange answer's shape and keep what the app needs (all of ``authData``)."""
    document = _parse_json_object(body, UpstreamError)
    user = document.get("integrationUser")
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

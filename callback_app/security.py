"""Request safety: CSRF tokens, safe ``next`` paths and the security headers of every response."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Response

from .cookies import CookiePolicy, Sealer
from .errors import CookieError, CsrfFailed

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

CSRF_COOKIE = "csrf"
CSRF_LIFETIME = 7 * 24 * 3600
CSRF_TOKEN_BYTES = 24
# What new_token makes (URL-safe base64): nothing that HTML escaping or a form field would change.
CSRF_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_NEXT_LENGTH = 512
# Browsers strip tabs and newlines from URLs and read "\\" as "/": "/\t/host" and "/\\host" mean "//host".
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")
# Once percent-decoded, a space is only an encoded space in a path; control characters never are.
_UNSAFE_IN_DECODED_NEXT = re.compile(r"[\x00-\x1f\x7f\\]")


class CsrfGuard:
    """Double-submit CSRF protection with a sealed cookie.

    The browser holds a sealed random value in an HttpOnly cookie; pages embed the value in
    their forms. Another site can neither read the cookie nor forge one, so it cannot produce
    a matching form field.
    """

    def __init__(self, *, sealer: Sealer, policy: CookiePolicy, public_origin: str) -> None:
        self.sealer = sealer
        self.policy = policy
        self.public_origin = public_origin

    def current_token(self, cookies: Mapping[str, str]) -> str | None:
        """The browser's CSRF token, or None if its cookie is missing or not authentic."""
        sealed = cookies.get(self.policy.name(CSRF_COOKIE))
        if sealed is None:
            return None
        try:
            token = self.sealer.open(CSRF_COOKIE, "csrf", sealed, max_age=CSRF_LIFETIME).payload.get("k")
        except CookieError:
            return None
        return token if isinstance(token, str) else None

    def new_token(self) -> str:
        return secrets.token_urlsafe(CSRF_TOKEN_BYTES)

    def remember(self, response: Response, token: str) -> None:
        """Set the cookie that makes ``token`` valid for this browser."""
        sealed = self.sealer.seal(CSRF_COOKIE, "csrf", {"k": token})
        self.policy.set(response, CSRF_COOKIE, sealed, max_age=CSRF_LIFETIME)

    def check(self, cookies: Mapping[str, str], form_token: str | None, origin: str | None) -> None:
        """Raise CsrfFailed unless the form token matches the cookie and the origin is ours."""
        # "Origin: null" is what browsers send from a page whose Referrer-Policy is no-referrer (the
        # callback's error page, whose "Try again" must work); the token below still has to match.
        if origin not in (None, "null", self.public_origin):
            raise CsrfFailed()
        expected = self.current_token(cookies)
        if not expected or not form_token or not hmac.compare_digest(expected.encode(), form_token.encode()):
            raise CsrfFailed()


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on this site, else ``/``: the one guard against open redirects."""
    if not value or len(value) > MAX_NEXT_LENGTH or not value.isascii():
        return "/"
    decoded = unquote(unquote(value))
    for candidate, unsafe in ((value, _UNSAFE_IN_NEXT), (decoded, _UNSAFE_IN_DECODED_NEXT)):
        if not candidate.startswith("/") or candidate.startswith("//") or unsafe.search(candidate):
            return "/"
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return "/"
    if value.startswith("/callback") or decoded.startswith("/callback"):
        # Never back into the callback: it would only show an error, with a stale token in the URL.
        return "/"
    return value


def content_security_policy(form_targets: str) -> str:
    """A strict CSP: local scripts and styles only, forms only to us and MusicAPI's login."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' https:",
            "connect-src 'self'",
            "base-uri 'none'",
            f"form-action {form_targets}",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """WSGI middleware: the same security headers on every response, redirects, errors and files included.

    Added to the raw header list on the way out, after the app has answered: nothing in the
    app can forget them, and no response pays for werkzeug's header bookkeeping eight times.
    """

    hsts = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")

    def __init__(self, app: WsgiApp, *, form_targets: str) -> None:
        self.app = app
        common = [
            ("Content-Security-Policy", content_security_policy(form_targets)),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
            ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
        ]
        self.page_headers = [*common, ("Referrer-Policy", "same-origin")]
        # The callback's URL holds a one-time token and data64: never send it on, never keep it.
        self.secret_headers = [*common, ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store")]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        https = environ.get("wsgi.url_scheme") == "https"
        carries_secrets = environ.get("PATH_INFO") == "/callback"

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if carries_secrets:
                headers[:] = [header for header in headers if header[0].lower() != "cache-control"]
                headers += self.secret_headers
            else:
                cached = any(name.lower() == "cache-control" for name, _ in headers)
                headers += self.page_headers
                if not cached:
                    headers.append(("Cache-Control", "no-store"))
            if https:
                headers.append(self.hsts)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

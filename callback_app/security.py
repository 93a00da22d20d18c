"""Request safety: CSRF, allowed origins, the right host, safe ``next`` targets, and every response's headers."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Collection, Mapping
from urllib.parse import quote, unquote, urlsplit

from werkzeug.wrappers import Request, Response

from callback_app.cookies import CookieJar, Sealer, open_cookie
from callback_app.errors import CsrfTokenInvalid, ForeignOrigin, WrongHost
from callback_app.urls import origin_from_parts, split_url

CSRF_COOKIE = "csrf"
CSRF_PURPOSE = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_LIFETIME = 7 * 24 * 3600
CSRF_TOKEN_BYTES = 24
MAX_NEXT_LENGTH = 1024
MAX_REDIRECT_LENGTH = 2048
# Browsers strip tabs and newlines from URLs and read "\\" as "/": "/\t/host" and "/\\host" mean "//host".
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")
# Once percent-decoded, a space is only an encoded space in a path; control characters never are.
_UNSAFE_IN_DECODED_NEXT = re.compile(r"[\x00-\x1f\x7f\\]")
# What a path may hold unescaped in a Location header (RFC 3986 pchar and '/').
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?%"
# The routes a page of an allowed origin may call with the browser's cookies (contract section 5),
# anchored at both ends (flask-cors matches from the start only).
CORS_ROUTES = (
    re.compile(r"/api/[^/]+(/[^/]+)?\Z"),
    re.compile(r"/connect(/[^/]+)?\Z"),
    re.compile(r"/disconnect/[^/]+\Z"),
    re.compile(r"/logout\Z"),
)


def is_cors_route(path: str) -> bool:
    return any(route.match(path) for route in CORS_ROUTES)


class CsrfGuard:
    """Proof that a POST comes from our own pages or from a page of an allowed origin.

    Our pages carry a token whose sealed copy sits in an HttpOnly cookie (double submit):
    another site can neither read the cookie nor forge one. A page of an allowed origin needs
    no token: the ``Origin`` header that the browser sets, and no page can change, is the proof.
    """

    def __init__(self, *, sealer: Sealer, jar: CookieJar, public_origin: str, allowed_origins: Collection[str]) -> None:
        self.sealer = sealer
        self.jar = jar
        self.public_origin = public_origin
        self.allowed_origins = frozenset(allowed_origins)

    def current_token(self, cookies: Mapping[str, str]) -> str | None:
        """The browser's CSRF token, or None if its cookie is missing or not authentic."""
        payload = open_cookie(self.sealer, self.jar, cookies, CSRF_COOKIE, CSRF_PURPOSE, max_age=CSRF_LIFETIME)
        token = payload.get("k") if payload is not None else None
        return token if isinstance(token, str) else None

    def new_token(self) -> str:
        return secrets.token_urlsafe(CSRF_TOKEN_BYTES)

    def remember(self, response: Response, token: str) -> None:
        """Set the cookie that makes ``token`` valid for this browser."""
        self.jar.set(
            response, CSRF_COOKIE, self.sealer.seal(CSRF_COOKIE, CSRF_PURPOSE, {"k": token}), max_age=CSRF_LIFETIME
        )

    def check(self, cookies: Mapping[str, str], form_token: str | None, origin: str | None) -> None:
        """Raise ForeignOrigin or CsrfTokenInvalid unless the POST is proven to be wanted."""
        if origin in self.allowed_origins:
            return
        # "Origin: null" is what browsers send from a page whose Referrer-Policy is no-referrer (the
        # callback's error page, whose "Try again" must work); the token below still has to match.
        if origin not in (None, "null", self.public_origin):
            raise ForeignOrigin()
        expected = self.current_token(cookies)
        if not expected or not form_token or not hmac.compare_digest(expected.encode(), form_token.encode()):
            raise CsrfTokenInvalid()


def safe_next(value: str | None, allowed_origins: Collection[str]) -> str:
    """Where to send the browser after a login, disconnect or logout: the one guard against open redirects.

    A path on this site, or an absolute URL on one of the allowed origins; anything else is ``/``.
    """
    if not value or len(value) > MAX_NEXT_LENGTH or not value.isascii():
        return "/"
    if _is_allowed_absolute(value, allowed_origins):
        return value
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


def _is_allowed_absolute(value: str, allowed_origins: Collection[str]) -> bool:
    if _UNSAFE_IN_NEXT.search(value):
        return False
    parts = split_url(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    return origin_from_parts(parts) in allowed_origins


def without_default_port(host: str, *, https: bool) -> str:
    """A Host header as one name: lower case, without the scheme's default port."""
    host = host.lower()
    return host.removesuffix(":443" if https else ":80")


def public_location(public_url: str, request: Request) -> str:
    """This request's URL on PUBLIC_URL's origin, escaped so that no path can break the header.

    A URL longer than any of the app's own goes to the start page instead: routers refuse a
    response whose headers outgrow a few kilobytes, and answer 502 in its place.
    """
    query = request.query_string.decode("latin-1")
    location = public_url + quote(request.path, safe=_PATH_SAFE)
    location = f"{location}?{quote(query, safe=_QUERY_SAFE)}" if query else location
    return location if len(location) <= MAX_REDIRECT_LENGTH else f"{public_url}/"


class HostGuard:
    """Requests must arrive for PUBLIC_URL's host (and over https when it is https).

    A platform keeps answering on its own name (``myapp.herokuapp.com``) after a custom domain
    is added, and cookies set there are invisible to the custom domain: send GET and HEAD to the
    public address, refuse the rest. Health checks answer on any host and scheme.
    """

    exempt_paths = frozenset({"/healthz", "/readyz"})
    # The refusal page for a form sent to another name (WrongHost) loads its stylesheet, script and
    # icons from that name: its CSP and CORP allow only 'self', so they are served there, not redirected.
    exempt_prefixes = ("/static/", "/favicon.ico")

    def __init__(self, *, public_url: str, public_host: str, https: bool) -> None:
        self.public_url = public_url
        self.public_host = public_host
        self.https = https

    def redirect_for(self, request: Request) -> Response | None:
        """A 308 to the public address, None when the request is where it belongs; raise WrongHost for posts."""
        if request.path in self.exempt_paths:
            return None
        secure_enough = request.is_secure or not self.https
        if secure_enough and request.path.startswith(self.exempt_prefixes):
            return None
        right_host = without_default_port(request.host, https=self.https) == self.public_host
        if right_host and secure_enough:
            return None
        if request.method not in ("GET", "HEAD"):
            raise WrongHost()
        return Response(status=308, headers={"Location": public_location(self.public_url, request)})


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
    """The one place response headers are decided: every response, redirects, errors and files included."""

    hsts = "max-age=63072000; includeSubDomains"

    def __init__(self, *, form_targets: str, cors: bool) -> None:
        self.csp = content_security_policy(form_targets)
        self.cors = cors

    def apply(self, response: Response, request: Request, *, popup: bool = False) -> Response:
        """Set the headers on ``response``. ``popup`` pages keep their opener (window.closed stays true)."""
        headers = response.headers
        headers["Content-Security-Policy"] = self.csp
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        # A login popup opened by an allowed site must stay its opener's, or the opener sees it closed at once.
        headers["Cross-Origin-Opener-Policy"] = "unsafe-none" if popup else "same-origin"
        # connect.js is a public script that the deployer's pages load; nothing else leaves this origin.
        shared = request.path in ("/connect.js", "/connect.d.ts")
        headers["Cross-Origin-Resource-Policy"] = "cross-origin" if shared else "same-origin"
        if request.path == "/callback":
            # The callback's URL holds a one-time token and data64: never send it on, never keep it.
            headers["Referrer-Policy"] = "no-referrer"
            headers["Cache-Control"] = "no-store"
        else:
            headers["Referrer-Policy"] = "same-origin"
            headers.setdefault("Cache-Control", "no-store")
        if self.cors and is_cors_route(request.path):
            # The answer depends on Origin (CORS headers, CSRF): caches must keep one copy per origin.
            response.vary.add("Origin")
        if request.is_secure:
            headers["Strict-Transport-Security"] = self.hsts
        return response

"""Request safety: where a browser may be sent, which posts are wanted, the right host, and every response's headers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from callback_app.cookies import CookieJar, Sealer
from callback_app.errors import CsrfTokenInvalid, ForeignOrigin, WrongHost
from callback_app.notices import Notices
from callback_app.security import (
    CSRF_LIFETIME,
    MAX_NEXT_LENGTH,
    CsrfGuard,
    HostGuard,
    SecurityHeaders,
    is_cors_route,
    safe_next,
)
from tests.support.clock import FakeClock
from tests.unit.helpers import KEY, OTHER_KEY, BrowserCookies

PUBLIC = "https://app.example.com"
ALLOWED = ("https://www.example.com", "http://localhost:8000")


# -- safe_next: the one guard against open redirects ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["/", "/accounts", "/accounts?tab=1#top", "/a/b%20c", "/developers", "/language/de?next=/"],
)
def test_a_local_path_is_where_the_browser_goes(value: str) -> None:
    assert safe_next(value, ()) == value
    assert safe_next(value, ALLOWED) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "x",
        "?x=1",
        "accounts",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "/%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "/%00",
        "/\x00",
        "https://evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/zoë",
        "/" + "a" * MAX_NEXT_LENGTH,
        "/callback",
        "/callback?state=x&data64=eyJ9",
        "/callbackx",
        "/%63allback?data64=eyJ9",
    ],
)
def test_anything_else_goes_to_the_start_page(value: str | None) -> None:
    assert safe_next(value, ()) == "/"
    assert safe_next(value, ALLOWED) == "/"


@pytest.mark.parametrize(
    "value",
    [
        "https://www.example.com",
        "https://www.example.com/",
        "https://www.example.com/after-login?tab=music#top",
        "https://WWW.EXAMPLE.COM/page",
        "https://www.example.com:443/page",
        "http://localhost:8000/callback-done",
    ],
)
def test_a_page_of_an_allowed_origin_is_where_the_browser_goes(value: str) -> None:
    assert safe_next(value, ALLOWED) == value
    assert safe_next(value, ()) == "/"


@pytest.mark.parametrize(
    "value",
    [
        "http://www.example.com/",
        "https://www.example.com:8443/",
        "https://www.example.com.evil.example/",
        "https://evilwww.example.com/",
        "https://example.com/",
        "https://evil.example/https://www.example.com",
        "https://user@www.example.com/",
        "https://www.example.com:pass@evil.example/",
        "https://www.example.com\t/",
        "https://www.example.com/\\evil",
        "https://www.example.com/ x",
        "http://localhost:8001/",
        "https://localhost:8000/",
        "https://[www.example.com/",
    ],
)
def test_a_lookalike_of_an_allowed_origin_goes_to_the_start_page(value: str) -> None:
    assert safe_next(value, ALLOWED) == "/"


# -- CsrfGuard: a token from our own pages, or the Origin of an allowed site ------------------------------------


def guard_of(clock: FakeClock, *, key: str = KEY, allowed: tuple[str, ...] = ALLOWED) -> CsrfGuard:
    return CsrfGuard(
        sealer=Sealer([key], clock=clock), jar=CookieJar(secure=True), public_origin=PUBLIC, allowed_origins=allowed
    )


@pytest.fixture
def guard(clock: FakeClock) -> CsrfGuard:
    return guard_of(clock)


def browser_with_token(guard: CsrfGuard) -> tuple[BrowserCookies, str]:
    token = guard.new_token()
    response = Response()
    guard.remember(response, token)
    browser = BrowserCookies()
    browser.receive(response)
    return browser, token


def test_a_new_token_is_long_random_and_url_safe(guard: CsrfGuard) -> None:
    tokens = {guard.new_token() for _ in range(50)}

    assert len(tokens) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32,}", token) for token in tokens)


def test_the_token_cookie_is_protected_and_does_not_show_the_token(guard: CsrfGuard) -> None:
    token = guard.new_token()
    response = Response()
    guard.remember(response, token)

    cookie = BrowserCookies().receive(response)["__Host-csrf"]
    assert cookie["max-age"] == str(CSRF_LIFETIME)
    assert {"secure", "httponly"} <= set(cookie)
    assert cookie["samesite"] == "Lax"
    assert token not in cookie["value"]


def test_the_browsers_token_is_read_back_from_its_cookie(guard: CsrfGuard) -> None:
    browser, token = browser_with_token(guard)

    assert guard.current_token(browser.cookies) == token
    assert guard.current_token({}) is None


@pytest.mark.parametrize("origin", [None, PUBLIC, "null"])
def test_a_post_with_the_pages_token_is_wanted(guard: CsrfGuard, origin: str | None) -> None:
    browser, token = browser_with_token(guard)

    guard.check(browser.cookies, token, origin)


@pytest.mark.parametrize("origin", [None, PUBLIC, "null"])
@pytest.mark.parametrize("form_token", [None, "", "wrong-token-of-the-same-length-000000"])
def test_a_post_without_the_pages_token_is_refused(
    guard: CsrfGuard, origin: str | None, form_token: str | None
) -> None:
    browser, _ = browser_with_token(guard)

    with pytest.raises(CsrfTokenInvalid):
        guard.check(browser.cookies, form_token, origin)


def test_a_token_without_its_cookie_is_refused(guard: CsrfGuard) -> None:
    _, token = browser_with_token(guard)

    with pytest.raises(CsrfTokenInvalid):
        guard.check({}, token, None)


def test_another_browsers_token_is_refused(guard: CsrfGuard) -> None:
    mine, _ = browser_with_token(guard)
    _, theirs = browser_with_token(guard)

    with pytest.raises(CsrfTokenInvalid):
        guard.check(mine.cookies, theirs, PUBLIC)


@pytest.mark.parametrize(("elapsed", "wanted"), [(CSRF_LIFETIME, True), (CSRF_LIFETIME + 1, False)])
def test_a_token_works_for_a_week(guard: CsrfGuard, clock: FakeClock, elapsed: int, wanted: bool) -> None:
    browser, token = browser_with_token(guard)
    clock.advance(elapsed)

    if wanted:
        guard.check(browser.cookies, token, None)
    else:
        with pytest.raises(CsrfTokenInvalid):
            guard.check(browser.cookies, token, None)


def test_a_token_cookie_forged_or_borrowed_from_another_cookie_is_refused(guard: CsrfGuard, clock: FakeClock) -> None:
    forged, forged_token = browser_with_token(guard_of(clock, key=OTHER_KEY))
    notice = Response()
    Notices(sealer=Sealer([KEY], clock=clock), jar=CookieJar(secure=True)).leave(notice, "connected")
    borrowed = BrowserCookies()
    borrowed.receive(notice)

    with pytest.raises(CsrfTokenInvalid):
        guard.check(forged.cookies, forged_token, None)
    assert guard.current_token({"__Host-csrf": borrowed.cookies["__Host-notice"]}) is None


@pytest.mark.parametrize("origin", ALLOWED)
def test_a_post_from_an_allowed_origin_needs_no_token(guard: CsrfGuard, origin: str) -> None:
    guard.check({}, None, origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://www.example.com.evil.example",
        "https://evilwww.example.com",
        "http://www.example.com",
        "https://www.example.com:8443",
        "https://WWW.EXAMPLE.COM",
        "https://app.example.com:8443",
        "http://app.example.com",
        "",
    ],
)
def test_a_post_from_a_foreign_origin_is_refused_even_with_the_token(guard: CsrfGuard, origin: str) -> None:
    browser, token = browser_with_token(guard)

    with pytest.raises(ForeignOrigin):
        guard.check(browser.cookies, token, origin)


def test_without_allowed_origins_every_other_origin_is_foreign(clock: FakeClock) -> None:
    guard = guard_of(clock, allowed=())
    browser, token = browser_with_token(guard)

    with pytest.raises(ForeignOrigin):
        guard.check(browser.cookies, token, "https://www.example.com")
    guard.check(browser.cookies, token, PUBLIC)


# -- HostGuard: requests arrive for PUBLIC_URL's host -----------------------------------------------------------


def request_for(url: str, method: str = "GET") -> Request:
    parts = urlsplit(url)
    builder = EnvironBuilder(
        path=parts.path, base_url=f"{parts.scheme}://{parts.netloc}", query_string=parts.query, method=method
    )
    return Request(builder.get_environ())


@pytest.fixture
def hosts() -> HostGuard:
    return HostGuard(public_url=PUBLIC, public_host="app.example.com", https=True)


@pytest.mark.parametrize(
    "url", ["https://app.example.com/", "https://APP.example.com/x", "https://app.example.com:443/api/session"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_a_request_for_the_public_host_passes(hosts: HostGuard, url: str, method: str) -> None:
    assert hosts.redirect_for(request_for(url, method)) is None


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://myapp.herokuapp.com/", "https://app.example.com/"),
        ("https://myapp.herokuapp.com/developers?x=1&y=%2F", "https://app.example.com/developers?x=1&y=%2F"),
        ("http://app.example.com/", "https://app.example.com/"),
        ("http://app.example.com/callback?state=s&data64=d", "https://app.example.com/callback?state=s&data64=d"),
        ("https://app.example.com:8443/", "https://app.example.com/"),
        ("https://evil.example/%0d%0aSet-Cookie:%20x=1", "https://app.example.com/%0D%0ASet-Cookie:%20x=1"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_get_for_another_host_or_scheme_is_sent_to_the_public_address(
    hosts: HostGuard, url: str, location: str, method: str
) -> None:
    response = hosts.redirect_for(request_for(url, method))

    assert response is not None
    assert response.status_code == 308
    assert response.headers["Location"] == location


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_anything_but_get_for_another_host_is_refused(hosts: HostGuard, method: str) -> None:
    with pytest.raises(WrongHost) as caught:
        hosts.redirect_for(request_for("https://myapp.herokuapp.com/logout", method))
    assert caught.value.status == 421


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_answer_on_any_host_and_scheme(hosts: HostGuard, path: str) -> None:
    assert hosts.redirect_for(request_for(f"http://10.1.2.3:5000{path}")) is None


def test_an_http_deployment_on_this_machine_needs_no_https() -> None:
    hosts = HostGuard(public_url="http://127.0.0.1:5000", public_host="127.0.0.1:5000", https=False)

    assert hosts.redirect_for(request_for("http://127.0.0.1:5000/")) is None
    redirect = hosts.redirect_for(request_for("http://localhost:5000/x"))
    assert redirect is not None
    assert redirect.headers["Location"] == "http://127.0.0.1:5000/x"


# -- SecurityHeaders: every response's headers, decided in one place --------------------------------------------


def applied(
    path: str, *, cors: bool = True, popup: bool = False, secure: bool = True, **response_headers: str
) -> Response:
    headers = SecurityHeaders(form_targets="'self' https://app.musicapi.com", cors=cors)
    response = Response(headers=response_headers)
    scheme = "https" if secure else "http"
    return headers.apply(response, request_for(f"{scheme}://app.example.com{path}"), popup=popup)


def test_every_response_gets_a_strict_content_security_policy() -> None:
    policy = dict(directive.split(" ", 1) for directive in applied("/").headers["Content-Security-Policy"].split("; "))

    assert policy == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' https:",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'self' https://app.musicapi.com",
        "frame-ancestors": "'none'",
    }


@pytest.mark.parametrize("path", ["/", "/callback", "/api/session", "/static/app.css", "/nowhere"])
def test_every_response_gets_the_protective_headers(path: str) -> None:
    headers = applied(path).headers

    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=(), payment=()"
    assert headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


def test_hsts_only_over_https() -> None:
    assert "Strict-Transport-Security" not in applied("/", secure=False).headers


@pytest.mark.parametrize(("popup", "policy"), [(False, "same-origin"), (True, "unsafe-none")])
def test_only_a_popup_page_keeps_its_opener(popup: bool, policy: str) -> None:
    assert applied("/popup/done", popup=popup).headers["Cross-Origin-Opener-Policy"] == policy


@pytest.mark.parametrize(
    ("path", "policy"),
    [
        ("/connect.js", "cross-origin"),
        ("/connect.d.ts", "cross-origin"),
        ("/", "same-origin"),
        ("/static/app.js", "same-origin"),
    ],
)
def test_only_connect_js_may_be_loaded_by_other_sites(path: str, policy: str) -> None:
    assert applied(path).headers["Cross-Origin-Resource-Policy"] == policy


def test_the_callback_is_never_referred_nor_kept() -> None:
    headers = applied("/callback", **{"Cache-Control": "max-age=600"}).headers

    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_other_pages_refer_within_the_site_and_are_not_kept_unless_they_say_so() -> None:
    assert applied("/").headers["Referrer-Policy"] == "same-origin"
    assert applied("/").headers["Cache-Control"] == "no-store"
    assert applied("/static/app.css", **{"Cache-Control": "max-age=3600"}).headers["Cache-Control"] == "max-age=3600"


@pytest.mark.parametrize(
    ("path", "cors", "varies"),
    [
        ("/api/session", True, True),
        ("/connect/spotify", True, True),
        ("/logout", True, True),
        ("/", True, False),
        ("/api/session", False, False),
    ],
)
def test_answers_that_depend_on_origin_say_so_to_caches(path: str, cors: bool, varies: bool) -> None:
    assert ("Origin" in applied(path, cors=cors).headers.get("Vary", "")) is varies


@pytest.mark.parametrize(
    ("path", "cors"),
    [
        ("/api/session", True),
        ("/api/attempts/abc0123456789def", True),
        ("/connect", True),
        ("/connect/spotify", True),
        ("/disconnect/spotify", True),
        ("/logout", True),
        ("/api/session/a/b", False),
        ("/api/", False),
        ("/connect.js", False),
        ("/connect/spotify/x", False),
        ("/disconnect", False),
        ("/logoutx", False),
        ("/x/logout", False),
        ("/", False),
        ("/callback", False),
        ("/developers", False),
    ],
)
def test_the_routes_an_allowed_site_may_call(path: str, cors: bool) -> None:
    assert is_cors_route(path) is cors

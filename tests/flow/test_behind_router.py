"""Behind a PaaS router that terminates TLS: it passes the public Host header and says https with X-Forwarded-Proto."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import csrf_token_in, error_code_in, set_cookies
from tests.support.servers import GunicornApp

PUBLIC_URL = "https://music.example.test"
PUBLIC_HOST = "music.example.test"
# The platform's own name for the app, which keeps answering after a custom domain is added.
PLATFORM_HOST = "music-1a2b3c.herokuapp.example"
ROUTER = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


class RoutedBrowser:
    """A browser reaching the app through the router: https outside, plain http to the dyno."""

    def __init__(self, app: GunicornApp, host: str = PUBLIC_HOST) -> None:
        self.app = app
        self.host = host
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {**ROUTER, "Host": self.host}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method, self.app.url + path, headers=headers, allow_redirects=False, timeout=30, **kwargs
        )
        for header in set_cookies(response):
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def csrf_token(self) -> str:
        return csrf_token_in(self.request("GET", "/").text)


@pytest.fixture(scope="module")
def routed_app(start_app: Callable[..., GunicornApp]) -> GunicornApp:
    return start_app(PUBLIC_URL=PUBLIC_URL)


def connect(browser: RoutedBrowser, simulator: Simulator, service: str = "spotify") -> requests.Response:
    login = browser.request("POST", f"/connect/{service}", data={"csrf_token": browser.csrf_token()})
    return_url = parse_qs(urlsplit(login.headers["Location"]).query)["returnUrl"][0]
    assert return_url.startswith(f"{PUBLIC_URL}/callback?")
    path = return_url.removeprefix(PUBLIC_URL)
    return browser.request("GET", f"{path}&{urlencode({'data64': encode_data64(simulator.issue_login(service))})}")


def test_a_whole_login_works_through_the_router(routed_app: GunicornApp, simulator: Simulator) -> None:
    browser = RoutedBrowser(routed_app)
    response = connect(browser, simulator)

    assert response.status_code == 303, response.text[:500]
    assert response.headers["Location"] == "/"
    session = browser.request("GET", "/api/session")
    assert session.status_code == 200
    assert session.json()["accounts"][0]["service"] == "spotify"


def test_every_cookie_is_host_prefixed_secure_httponly_lax(routed_app: GunicornApp, simulator: Simulator) -> None:
    browser = RoutedBrowser(routed_app)
    connect(browser, simulator)

    assert browser.set_cookie_headers
    for header in browser.set_cookie_headers:
        attributes = [part.strip().lower() for part in header.split(";")]
        assert header.startswith("__Host-"), header
        assert "secure" in attributes
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "path=/" in attributes
        assert not any(attribute.startswith("domain") for attribute in attributes)


def test_https_responses_carry_hsts(routed_app: GunicornApp) -> None:
    response = RoutedBrowser(routed_app).request("GET", "/")

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_plain_http_is_sent_to_the_https_address(routed_app: GunicornApp) -> None:
    response = requests.get(
        routed_app.url + "/developers?x=1",
        headers={"X-Forwarded-Proto": "http", "Host": PUBLIC_HOST},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 308
    assert response.headers["Location"] == f"{PUBLIC_URL}/developers?x=1"
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_visit_on_the_platforms_own_name_is_sent_to_the_public_address(routed_app: GunicornApp, method: str) -> None:
    response = RoutedBrowser(routed_app, host=PLATFORM_HOST).request(method, "/api/session?from=bookmark")

    assert response.status_code == 308
    assert response.headers["Location"] == f"{PUBLIC_URL}/api/session?from=bookmark"
    assert PLATFORM_HOST not in response.headers["Location"]
    assert set_cookies(response) == []


def test_a_form_posted_to_the_platforms_own_name_is_refused_with_a_page_saying_where_to_go(
    routed_app: GunicornApp,
) -> None:
    token = RoutedBrowser(routed_app).csrf_token()
    elsewhere = RoutedBrowser(routed_app, host=PLATFORM_HOST)

    response = elsewhere.request("POST", "/connect/spotify", data={"csrf_token": token})

    assert response.status_code == 421
    assert error_code_in(response.text) == "wrong_host"
    assert f'href="{PUBLIC_URL}/"' in response.text
    assert "Location" not in response.headers
    assert not any("flow" in header.split("=", 1)[0] for header in set_cookies(response))


def test_the_host_header_never_shapes_urls(routed_app: GunicornApp) -> None:
    browser = RoutedBrowser(routed_app)
    login = browser.request("POST", "/connect/spotify", data={"csrf_token": browser.csrf_token()})
    return_url = parse_qs(urlsplit(login.headers["Location"]).query)["returnUrl"][0]

    assert login.status_code == 303
    assert urlsplit(return_url).netloc == PUBLIC_HOST
    for hostile in ("evil.example", f"{PUBLIC_HOST}.evil.example", f"{PUBLIC_HOST}:8443"):
        answer = RoutedBrowser(routed_app, host=hostile).request("GET", "/")
        assert answer.status_code == 308, hostile
        assert answer.headers["Location"] == f"{PUBLIC_URL}/"


def test_health_checks_answer_on_any_host(routed_app: GunicornApp) -> None:
    response = RoutedBrowser(routed_app, host=PLATFORM_HOST).request("GET", "/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})

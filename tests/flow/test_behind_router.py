"""Behind a PaaS router that terminates TLS and says so with X-Forwarded-Proto: https."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from callback_app.simulator import Simulator
from tests.support.servers import GunicornApp
from tests.support.user import CSRF_FIELD, encode_data64

PUBLIC_URL = "https://music.example.test"
ROUTER = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


class RoutedBrowser:
    """A browser reaching the app through the router: https outside, plain http to the dyno."""

    def __init__(self, app: GunicornApp) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = dict(ROUTER)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method, self.app.url + path, headers=headers, allow_redirects=False, timeout=30, **kwargs
        )
        for header in response.raw.headers.getlist("Set-Cookie"):
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response


@pytest.fixture(scope="module")
def routed_app(start_app: Callable[..., GunicornApp]) -> GunicornApp:
    return start_app(PUBLIC_URL=PUBLIC_URL)


def connect(browser: RoutedBrowser, simulator: Simulator, service: str = "spotify") -> requests.Response:
    home = browser.request("GET", "/")
    token = CSRF_FIELD.search(home.text).group(1)  # type: ignore[union-attr]
    login = browser.request("POST", f"/connect/{service}", data={"csrf_token": token})
    return_url = parse_qs(urlsplit(login.headers["Location"]).query)["returnUrl"][0]
    assert return_url.startswith(f"{PUBLIC_URL}/callback?")
    path = return_url.removeprefix(PUBLIC_URL)
    return browser.request("GET", f"{path}&{urlencode({'data64': encode_data64(simulator.issue_login(service))})}")


def test_a_whole_login_works_through_the_router(routed_app: GunicornApp, simulator: Simulator) -> None:
    browser = RoutedBrowser(routed_app)
    response = connect(browser, simulator)

    assert response.status_code == 303
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

    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_plain_http_is_sent_to_the_https_address(routed_app: GunicornApp) -> None:
    response = requests.get(
        routed_app.url + "/developers?x=1", headers={"X-Forwarded-Proto": "http"}, allow_redirects=False, timeout=10
    )

    assert response.status_code == 308
    assert response.headers["Location"] == f"{PUBLIC_URL}/developers?x=1"
    assert "Strict-Transport-Security" not in response.headers


def test_the_host_header_never_shapes_urls(routed_app: GunicornApp) -> None:
    browser = RoutedBrowser(routed_app)
    home = browser.request(
        "GET",
        "/",
    )
    token = CSRF_FIELD.search(home.text).group(1)  # type: ignore[union-attr]
    login = requests.post(
        routed_app.url + "/connect/spotify",
        data={"csrf_token": token},
        headers={**ROUTER, "Host": "evil.example", "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())},
        allow_redirects=False,
        timeout=10,
    )

    assert login.status_code == 303
    assert "evil.example" not in login.headers["Location"]

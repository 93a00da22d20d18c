"""Security headers on every response (pages, redirects, errors), and no token leaking through referrers or history."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import loaded_resources, parse_html
from tests.support.servers import ThreadedServer
from tests.support.user import User

from .conftest import PRODUCTION_AUTH_URL, HttpsDeployment

Visit = Callable[[User], requests.Response]


def successful_callback(user: User) -> requests.Response:
    login = user.start_login("spotify")
    return user.come_back(user.callback_url(login, encode_data64(user.simulator.issue_login("spotify"))))


def failed_callback(user: User) -> requests.Response:
    login = user.start_login("spotify")
    return user.come_back(user.callback_url(login, encode_data64(user.simulator.failed_login("spotify"))))


VISITS: dict[str, Visit] = {
    "landing page": lambda user: user.get("/"),
    "landing page in arabic": lambda user: user.get("/", headers={"Accept-Language": "ar"}),
    "language switch": lambda user: user.get("/language/de?next=/"),
    "static file": lambda user: user.get("/static/app.js"),
    "connect.js": lambda user: user.get("/connect.js"),
    "favicon": lambda user: user.get("/favicon.ico"),
    "popup's last page": lambda user: user.get("/popup/done"),
    "health check": lambda user: user.get("/healthz"),
    "session api, 401": lambda user: user.get("/api/session"),
    "404 page": lambda user: user.get("/no/such/page"),
    "405 page": lambda user: user.get("/connect/spotify"),
    "csrf refusal": lambda user: user.post("/connect/spotify", {}),
    "login redirect": lambda user: user.start_login("spotify"),
    "callback success redirect": successful_callback,
    "callback failure page": failed_callback,
    "unbound callback": lambda user: user.get("/callback?state=x&data64=y"),
    "logout redirect": lambda user: (user.open_home(), user.post("/logout", {"csrf_token": user.csrf_token or ""}))[1],
}


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_common_headers(response: requests.Response, *, form_targets: list[str]) -> None:
    headers = response.headers
    csp = csp_directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == form_targets
    assert not any("unsafe" in value or value in ("*", "data:", "http:") for values in csp.values() for value in values)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    path = urlsplit(response.url).path
    # The popup's last page must stay its opener's, so that the opener can see it close.
    assert headers["Cross-Origin-Opener-Policy"] == ("unsafe-none" if path == "/popup/done" else "same-origin")
    assert headers["Cross-Origin-Resource-Policy"] == ("cross-origin" if path == "/connect.js" else "same-origin")
    assert "X-Powered-By" not in headers
    assert not re.search(r"\d", headers.get("Server", "")), f"the Server header names a version: {headers['Server']}"
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", headers["X-Request-ID"])


@pytest.mark.parametrize("visit", VISITS.values(), ids=VISITS.keys())
def test_every_response_carries_the_security_headers(user: User, visit: Visit, musicapi: ThreadedServer) -> None:
    response = visit(user)

    assert response.status_code < 500
    # The login host here is the simulator (MUSICAPI_AUTH_URL); forms may go there and nowhere else.
    assert_common_headers(response, form_targets=["'self'", musicapi.url])
    assert "Strict-Transport-Security" not in response.headers, "no HSTS over plain http"


@pytest.mark.parametrize("visit", VISITS.values(), ids=VISITS.keys())
def test_over_https_every_response_also_carries_hsts(
    https_deployment: HttpsDeployment, simulator: Simulator, visit: Visit
) -> None:
    user = User(https_deployment.url, simulator)
    user.http.verify = https_deployment.ca_bundle
    user.http.trust_env = False

    response = visit(user)

    assert response.status_code < 500
    assert_common_headers(response, form_targets=["'self'", PRODUCTION_AUTH_URL])
    max_age = int(re.search(r"max-age=(\d+)", response.headers["Strict-Transport-Security"]).group(1))  # type: ignore[union-attr]
    assert max_age >= 365 * 24 * 3600


def test_plain_http_is_sent_to_the_https_address_whatever_the_host_header_says(
    https_deployment: HttpsDeployment,
) -> None:
    response = requests.get(
        f"{https_deployment.http_url}/callback?state=s&data64=d",
        headers={"Host": "evil.example"},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 308
    assert response.headers["Location"] == f"{https_deployment.url}/callback?state=s&data64=d"
    assert response.headers["Content-Security-Policy"]


def test_the_callback_answers_with_a_clean_url_no_referrer_and_no_store(user: User) -> None:
    response = successful_callback(user)

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_failed_callback_page_keeps_the_token_to_itself(user: User, simulator: Simulator) -> None:
    login = user.start_login("spotify")
    document = simulator.issue_login("spotify")
    data64 = encode_data64(document)
    simulator.fault = "http_500"

    response = user.come_back(user.callback_url(login, data64))

    assert response.status_code == 502
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert '<meta name="referrer" content="no-referrer">' in response.text
    assert data64 not in response.text
    assert document["oneTimeToken"] not in response.text
    for url in loaded_resources(response.text):
        assert url.startswith("/"), f"the page loads {url} while the token is in its URL"
        assert not url.startswith("//"), f"the page loads {url} while the token is in its URL"


@pytest.mark.parametrize("path", ["/", "/no/such/page", "/callback?state=x", "/popup/done"])
def test_pages_have_no_inline_script_or_style(user: User, path: str) -> None:
    user.connect("spotify")
    elements, inline = parse_html(user.get(path).text)

    assert inline == []
    for element in elements:
        assert "style" not in element.attributes, element
        assert not any(name.startswith("on") for name in element.attributes), element
        if element.tag == "script":
            assert (element.attributes.get("src") or "").startswith("/static/"), element

"""Using the app from the deployer's own site (contract section 5): credentialed CORS for exactly the allowed
origins, POSTs from them without a CSRF token, ``next`` back to them, and connect.js shared cross-origin.

Everything else, hostile look-alikes of the allowed origins included, gets what v1 gave: no CORS
header at all, a token required, a foreign origin refused, and ``next`` only as a local path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.test import TestResponse

from callback_app.security import CSRF_LIFETIME
from callback_app.simulator import Simulator
from tests.conftest import MakeApp
from tests.support.clock import FakeClock
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import encode_data64
from tests.support.pages import cookie_name, error_code_in, is_deletion, set_cookies
from tests.support.processes import access_line
from tests.support.servers import GunicornApp

SITE = "https://www.example.com"
LOCAL_SITE = "http://127.0.0.1:5050"
ALLOWED_ORIGINS = (SITE, LOCAL_SITE)
ATTEMPT = "attempt-0123456789abcdef"
HOSTILE_ORIGINS = {
    "null": "null",
    "allowed origin as a prefix": "https://www.example.com.evil.com",
    "allowed origin as a suffix": "https://evil-www.example.com",
    "allowed origin cut short": "https://www.example.co",
    "another port": "https://www.example.com:8443",
    "another port of the local site": "http://127.0.0.1:5051",
    "plain http": "http://www.example.com",
    "https for the local site": "https://127.0.0.1:5050",
    "upper case": "HTTPS://WWW.EXAMPLE.COM",
    "trailing slash": "https://www.example.com/",
    "with a path": "https://www.example.com/page",
    "with user info": "https://user@www.example.com",
    "localhost for 127.0.0.1": "http://localhost:5050",
    "two origins": "https://www.example.com https://evil.example",
    "another site": "https://evil.example",
}
# "Origin: null" is also what the app's own error pages send (no-referrer): the token decides for it.
FOREIGN_ORIGINS = {name: origin for name, origin in HOSTILE_ORIGINS.items() if origin != "null"}
HOSTILE_NEXT = {
    "allowed origin as a prefix": "https://www.example.com.evil.com/done",
    "allowed origin as a suffix": "https://evil-www.example.com/done",
    "allowed origin cut short": "https://www.example.co/done",
    "another port": "https://www.example.com:8443/done",
    "plain http": "http://www.example.com/done",
    "https for the local site": "https://127.0.0.1:5050/done",
    "scheme-relative": "//www.example.com/done",
    "user info": "https://www.example.com@evil.example/done",
    "encoded user info": "https://www.example.com%2F@evil.example/done",
    "backslash": "https://www.example.com\\@evil.example/done",
    "tab in the host": "https://www.example.com\t.evil.example/done",
    "javascript": "javascript://www.example.com/%0aalert(1)",
    "no slashes": "https:www.example.com/done",
    "trailing dot": "https://www.example.com./done",
}


@dataclass(frozen=True)
class Route:
    """One of the routes a page of an allowed origin may call with the browser's cookies."""

    method: str
    path: str

    def send(
        self, browser: InProcessBrowser, headers: dict[str, str], form: dict[str, str] | None = None
    ) -> TestResponse:
        if self.method == "GET":
            return browser.get(self.path, headers=headers)
        return browser.post(self.path, form or {}, headers=headers)

    def preflight(self, browser: InProcessBrowser, origin: str) -> TestResponse:
        return browser.client.options(
            self.path,
            base_url=browser.base_url,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": self.method,
                "Access-Control-Request-Headers": "Content-Type",
            },
        )


ROUTES = {
    "session": Route("GET", "/api/session"),
    "attempt": Route("GET", f"/api/attempts/{ATTEMPT}"),
    "connect a service": Route("POST", "/connect/spotify"),
    "connect through the chooser": Route("POST", "/connect"),
    "disconnect": Route("POST", "/disconnect/spotify"),
    "logout": Route("POST", "/logout"),
}
POSTS = {name: route for name, route in ROUTES.items() if route.method == "POST"}


def cors_headers(response: TestResponse) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


def listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",")}


@pytest.fixture(scope="module")
def site_app(make_app: MakeApp) -> tuple[Flask, FakeClock]:
    """An app whose ALLOWED_ORIGINS are a deployer's site and a local development page."""
    return make_app(allowed_origins=ALLOWED_ORIGINS)


@pytest.fixture
def visitor(site_app: tuple[Flask, FakeClock]) -> InProcessBrowser:
    """A browser with no cookies of the app yet, as when the deployer's page is its first contact."""
    return InProcessBrowser(site_app[0])


def connected_visitor(app: Flask, simulator: Simulator, origin: str | None = None) -> InProcessBrowser:
    browser = InProcessBrowser(app)
    login = connect_from(browser, origin) if origin else browser.start_login("spotify")
    state = browser.state(login)
    response = browser.callback({"state": state, "data64": encode_data64(simulator.issue_login("spotify"))})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return browser


def connect_from(browser: InProcessBrowser, origin: str, **form: str) -> TestResponse:
    """The deployer's page posts its connect form: the browser sets Origin, no token is sent."""
    return browser.post("/connect/spotify", form, headers={"Origin": origin})


class TestCredentialedCors:
    @pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
    @pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
    def test_an_allowed_origin_may_read_the_answer_with_cookies(
        self, visitor: InProcessBrowser, route: Route, origin: str
    ) -> None:
        response = route.send(visitor, {"Origin": origin})

        assert response.status_code < 500
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert "origin" in listed(response.headers["Vary"])

    @pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
    @pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
    def test_a_preflight_from_an_allowed_origin_is_answered(
        self, visitor: InProcessBrowser, route: Route, origin: str
    ) -> None:
        response = route.preflight(visitor, origin)

        assert response.status_code in (200, 204)
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert listed(response.headers["Access-Control-Allow-Methods"]) >= {"get", "post"}
        assert "content-type" in listed(response.headers["Access-Control-Allow-Headers"])
        assert "origin" in listed(response.headers["Vary"])

    @pytest.mark.parametrize("origin", HOSTILE_ORIGINS.values(), ids=HOSTILE_ORIGINS.keys())
    @pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
    def test_any_other_origin_gets_no_cors_header_at_all(
        self, visitor: InProcessBrowser, route: Route, origin: str
    ) -> None:
        answer = route.send(visitor, {"Origin": origin})
        preflight = route.preflight(visitor, origin)

        assert cors_headers(answer) == {}
        assert cors_headers(preflight) == {}

    @pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
    def test_a_request_without_origin_gets_no_cors_header(self, visitor: InProcessBrowser, route: Route) -> None:
        assert cors_headers(route.send(visitor, {})) == {}

    @pytest.mark.parametrize("path", ["/", "/callback?state=x", "/popup/done", "/static/app.js", "/healthz"])
    def test_the_apps_own_pages_are_not_shared_even_with_an_allowed_origin(
        self, visitor: InProcessBrowser, path: str
    ) -> None:
        response = visitor.get(path, headers={"Origin": SITE})

        assert response.status_code < 500
        assert cors_headers(response) == {}

    def test_without_allowed_origins_nothing_is_shared(self, browser: InProcessBrowser) -> None:
        for route in ROUTES.values():
            assert cors_headers(route.send(browser, {"Origin": SITE})) == {}
            assert cors_headers(route.preflight(browser, SITE)) == {}

    def test_the_session_is_read_with_the_browsers_cookies(
        self, site_app: tuple[Flask, FakeClock], simulator: Simulator
    ) -> None:
        browser = connected_visitor(site_app[0], simulator, SITE)

        response = browser.get("/api/session", headers={"Origin": SITE})

        assert response.status_code == 200
        assert [account["service"] for account in response.get_json()["accounts"]] == ["spotify"]
        assert response.headers["Access-Control-Allow-Origin"] == SITE

    def test_a_popup_logins_progress_is_read_from_the_allowed_origin(self, visitor: InProcessBrowser) -> None:
        started = connect_from(visitor, SITE, mode="popup", attempt=ATTEMPT)
        assert started.status_code == 303

        response = visitor.get(f"/api/attempts/{ATTEMPT}", headers={"Origin": SITE})

        assert response.get_json() == {"status": "pending", "service": "spotify"}
        assert response.headers["Access-Control-Allow-Origin"] == SITE
        other = visitor.get(f"/api/attempts/{ATTEMPT}", headers={"Origin": "https://evil.example"})
        assert cors_headers(other) == {}


class TestCsrfFromAllowedOrigins:
    @pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
    def test_a_login_posted_from_an_allowed_origin_needs_no_token(self, visitor: InProcessBrowser, origin: str) -> None:
        response = connect_from(visitor, origin)

        assert response.status_code == 303
        assert any(cookie_name(header) == "flow" for header in set_cookies(response))

    @pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
    def test_a_disconnect_from_an_allowed_origin_needs_no_token(
        self, site_app: tuple[Flask, FakeClock], simulator: Simulator, origin: str
    ) -> None:
        browser = connected_visitor(site_app[0], simulator)

        # What connect.js sends: a fetch asking for JSON, with the browser's cookies and its Origin.
        response = browser.post("/disconnect/spotify", headers={"Origin": origin, "Accept": "application/json"})

        assert response.status_code == 204
        assert browser.accounts() == []

    @pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
    def test_a_logout_from_an_allowed_origin_needs_no_token(
        self, site_app: tuple[Flask, FakeClock], simulator: Simulator, origin: str
    ) -> None:
        browser = connected_visitor(site_app[0], simulator)

        response = browser.post("/logout", headers={"Origin": origin, "Accept": "application/json"})

        assert response.status_code == 204
        assert any(cookie_name(h) == "acct-spotify" and is_deletion(h) for h in set_cookies(response))
        assert browser.accounts() == []

    @pytest.mark.parametrize("origin", FOREIGN_ORIGINS.values(), ids=FOREIGN_ORIGINS.keys())
    @pytest.mark.parametrize("route", POSTS.values(), ids=POSTS.keys())
    def test_a_post_from_any_other_origin_is_refused_as_foreign_even_with_the_token(
        self, site_app: tuple[Flask, FakeClock], simulator: Simulator, route: Route, origin: str
    ) -> None:
        browser = connected_visitor(site_app[0], simulator)

        response = route.send(browser, {"Origin": origin}, {"csrf_token": browser.csrf_token or ""})

        assert response.status_code == 400
        assert error_code_in(response.get_data(as_text=True)) == "foreign_origin"
        assert not any(cookie_name(header) == "flow" for header in set_cookies(response))
        assert not any(is_deletion(header) for header in set_cookies(response) if "acct-" in header)
        assert [account["service"] for account in browser.accounts()] == ["spotify"]

    @pytest.mark.parametrize("route", POSTS.values(), ids=POSTS.keys())
    def test_without_origin_a_post_needs_the_token(self, visitor: InProcessBrowser, route: Route) -> None:
        visitor.open_home()

        response = route.send(visitor, {})

        assert response.status_code == 400
        assert error_code_in(response.get_data(as_text=True)) == "csrf_token"

    def test_origin_null_is_our_own_error_page_and_still_needs_the_token(self, visitor: InProcessBrowser) -> None:
        visitor.open_home()

        refused = visitor.post("/connect/spotify", headers={"Origin": "null"})
        accepted = visitor.post(
            "/connect/spotify", {"csrf_token": visitor.csrf_token or ""}, headers={"Origin": "null"}
        )

        assert refused.status_code == 400
        assert error_code_in(refused.get_data(as_text=True)) == "csrf_token"
        assert accepted.status_code == 303

    def test_a_stale_token_is_refused_as_stale(self, make_app: MakeApp) -> None:
        app, clock = make_app(allowed_origins=ALLOWED_ORIGINS)
        browser = InProcessBrowser(app)
        browser.open_home()
        clock.advance(CSRF_LIFETIME + 1)

        response = browser.post("/connect/spotify", {"csrf_token": browser.csrf_token or ""})

        assert response.status_code == 400
        assert error_code_in(response.get_data(as_text=True)) == "csrf_token"


@pytest.fixture(scope="module")
def site_server(start_app: Callable[..., GunicornApp]) -> GunicornApp:
    """The app under gunicorn with ALLOWED_ORIGINS, to read the access line each refusal writes."""
    return start_app(ALLOWED_ORIGINS=",".join(ALLOWED_ORIGINS))


class TestTheRefusalNamesTheRealReason:
    def post(
        self, server: GunicornApp, request_id: str, token: str | None, headers: dict[str, str]
    ) -> requests.Response:
        """A browser that has seen the start page (so it holds a CSRF cookie) presses Connect with ``token``."""
        with requests.Session() as browser:
            assert browser.get(f"{server.url}/", timeout=10).status_code == 200
            form = {"csrf_token": token} if token is not None else {}
            return browser.post(
                f"{server.url}/connect/spotify",
                data=form,
                headers={"X-Request-ID": request_id, **headers},
                allow_redirects=False,
                timeout=10,
            )

    @pytest.mark.parametrize(
        ("token", "headers", "status", "code"),
        [
            (None, {}, 400, "csrf_token"),
            ("forged", {}, 400, "csrf_token"),
            ("forged", {"Origin": "https://www.example.com.evil.com"}, 400, "foreign_origin"),
            (None, {"Origin": "https://evil.example"}, 400, "foreign_origin"),
            (None, {"Host": "myapp.herokuapp.com"}, 421, "wrong_host"),
        ],
        ids=["no token", "forged token", "look-alike origin", "another site", "another host name"],
    )
    def test_page_and_access_line_say_why(
        self,
        site_server: GunicornApp,
        token: str | None,
        headers: dict[str, str],
        status: int,
        code: str,
    ) -> None:
        request_id = f"csrf-reason-{uuid.uuid4().hex}"

        response = self.post(site_server, request_id, token, headers)

        assert response.status_code == status
        assert error_code_in(response.text) == code
        assert access_line(site_server.logs, request_id)["outcome"] == code

    def test_a_post_from_an_allowed_origin_is_logged_as_a_login_start(self, site_server: GunicornApp) -> None:
        request_id = f"csrf-reason-{uuid.uuid4().hex}"

        response = self.post(site_server, request_id, None, {"Origin": SITE})

        assert response.status_code == 303
        assert "outcome" not in access_line(site_server.logs, request_id)


class TestComingBack:
    @pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
    def test_a_login_ends_on_the_allowed_page_it_names(
        self, visitor: InProcessBrowser, simulator: Simulator, origin: str
    ) -> None:
        page = f"{origin}/account/music?tab=services#connected"
        login = connect_from(visitor, origin, next=page)
        return_url = parse_qs(urlsplit(login.headers["Location"]).query)["returnUrl"][0]
        assert page not in return_url, "next travels in the flow cookie, not through MusicAPI"

        done = visitor.callback(
            {"state": visitor.state(login), "data64": encode_data64(simulator.issue_login("spotify"))}
        )

        assert done.status_code == 303
        assert done.headers["Location"] == page

    @pytest.mark.parametrize("next_url", HOSTILE_NEXT.values(), ids=HOSTILE_NEXT.keys())
    def test_a_login_with_any_other_next_ends_at_home(
        self, visitor: InProcessBrowser, simulator: Simulator, next_url: str
    ) -> None:
        login = connect_from(visitor, SITE, next=next_url)

        done = visitor.callback(
            {"state": visitor.state(login), "data64": encode_data64(simulator.issue_login("spotify"))}
        )

        assert done.status_code == 303
        assert done.headers["Location"] == "/"

    def test_a_local_next_is_still_kept(self, visitor: InProcessBrowser, simulator: Simulator) -> None:
        login = visitor.start_login("spotify", next_path="/?tab=accounts")

        done = visitor.callback(
            {"state": visitor.state(login), "data64": encode_data64(simulator.issue_login("spotify"))}
        )

        assert done.headers["Location"] == "/?tab=accounts"

    @pytest.mark.parametrize("path", ["/disconnect/spotify", "/logout"])
    @pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
    def test_disconnect_and_logout_with_next_end_on_the_allowed_page(
        self, site_app: tuple[Flask, FakeClock], simulator: Simulator, path: str, origin: str
    ) -> None:
        browser = connected_visitor(site_app[0], simulator)

        response = browser.post(path, {"next": f"{origin}/bye"}, headers={"Origin": origin})

        assert response.status_code == 303
        assert response.headers["Location"] == f"{origin}/bye"
        assert browser.accounts() == []

    @pytest.mark.parametrize("next_url", HOSTILE_NEXT.values(), ids=HOSTILE_NEXT.keys())
    @pytest.mark.parametrize("path", ["/disconnect/spotify", "/logout"])
    def test_disconnect_and_logout_with_any_other_next_end_at_home(
        self, site_app: tuple[Flask, FakeClock], simulator: Simulator, path: str, next_url: str
    ) -> None:
        browser = connected_visitor(site_app[0], simulator)

        response = browser.post(path, {"next": next_url}, headers={"Origin": SITE})

        assert response.status_code == 303
        assert response.headers["Location"] == "/"
        assert browser.accounts() == []


class TestTheScriptIsShared:
    def test_connect_js_may_be_loaded_by_other_origins(self, visitor: InProcessBrowser) -> None:
        response = visitor.get("/connect.js")

        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert "window.CallbackApp" in response.get_data(as_text=True)

    @pytest.mark.parametrize(
        "path", ["/", "/api/session", "/static/app.js", "/static/popup.js", "/healthz", "/callback?state=x", "/nope"]
    )
    def test_every_other_response_stays_same_origin(self, visitor: InProcessBrowser, path: str) -> None:
        response = visitor.get(path, headers={"Origin": SITE})

        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"

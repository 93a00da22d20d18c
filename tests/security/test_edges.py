"""The edges of a deployment: HEAD on the callback, odd paths and Host headers in redirects, and what
gunicorn itself refuses (malformed request lines, over-long cookies) answered with the app's own pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from callback_app.context import all_cookie_bases
from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64, login_document
from tests.support.pages import cookie_name, error_code_in, is_deletion, set_cookies
from tests.support.servers import GunicornApp
from tests.support.user import User

from .conftest import HttpsDeployment
from .raw_http import Endpoint, RawAnswer, request_bytes, send_raw, tls_trusting

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
)
HOSTILE_HOSTS = [
    "attacker.test",
    "attacker.test:80",
    "127.0.0.1.attacker.test",
    "attacker.test@127.0.0.1",
    "ATTACKER.test",
    "attacker.test/x",
]
ODD_PATHS = [
    "/%0d%0aX:1",
    "/%0d%0aSet-Cookie:%20planted=1",
    "/%00",
    "/%ff%fe",
    "/caf%C3%A9",
    "/a%20b",
    "/x?a=%0d%0aX:1",
]
SLASHED_PATHS = ["/api//session", "//api/session", "//evil.example/", "/api/session/", "///evil.example/%2e%2e/"]


def assert_security_headers(answer: RawAnswer | requests.Response) -> None:
    headers = answer.headers if isinstance(answer, requests.Response) else dict(answer.headers)
    missing = [name for name in SECURITY_HEADERS if name not in headers]
    assert missing == [], f"missing {missing}"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def assert_escaped_redirect(response: requests.Response, public_url: str) -> None:
    assert response.status_code == 308, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(f"{public_url}/"), location
    assert not re.search(r"[\x00-\x20\x7f-\xff]", location), location
    assert "X" not in response.headers
    assert not any(cookie_name(header) == "planted" for header in set_cookies(response))
    assert_security_headers(response)


def endpoint_of(app: GunicornApp) -> Endpoint:
    return Endpoint("127.0.0.1", app.port)


class TestHeadOnTheCallback:
    def test_a_head_request_for_a_callback_never_spends_the_token(self, user: User, simulator: Simulator) -> None:
        login = user.start_login("spotify")
        url = user.callback_url(login, encode_data64(simulator.issue_login("spotify")))

        probe = user.http.head(url, allow_redirects=False, timeout=10)

        assert probe.status_code == 405
        assert simulator.calls() == [], "a link checker's HEAD must not reach MusicAPI"
        assert user.accounts() == []
        finished = user.come_back(url)
        assert finished.status_code == 303, "the person's own visit still connects: the token was kept"
        assert user.connected_services() == ["spotify"]
        assert len(simulator.calls()) == 1


class TestOddPathsOverPlainHttp:
    """An https deployment answers plain http with a 308 to PUBLIC_URL, whatever the path holds."""

    @pytest.mark.parametrize("path", ODD_PATHS)
    def test_the_redirect_is_escaped_and_on_public_url(self, https_deployment: HttpsDeployment, path: str) -> None:
        # Straight to gunicorn, as from a router that passes every path on: nginx itself refuses some.
        response = requests.get(
            f"{https_deployment.app.url}{path}",
            headers={"Host": urlsplit(https_deployment.url).netloc, "X-Forwarded-Proto": "http"},
            allow_redirects=False,
            timeout=10,
        )

        assert_escaped_redirect(response, https_deployment.url)

    def test_through_the_router_too(self, https_deployment: HttpsDeployment) -> None:
        response = requests.get(f"{https_deployment.http_url}/%0d%0aX:1", allow_redirects=False, timeout=10)

        assert_escaped_redirect(response, https_deployment.url)
        assert response.headers["Location"] == f"{https_deployment.url}/%0D%0AX:1"

    def test_raw_non_ascii_bytes_in_the_path_get_the_apps_page(self, https_deployment: HttpsDeployment) -> None:
        plain = Endpoint("127.0.0.1", https_deployment.front.http_port)
        data = request_bytes(b"GET", "/café/\u00ff".encode(), [(b"Host", f"localhost:{plain.port}".encode())])

        answer = send_raw(plain, data)

        # gunicorn refuses a request line that is not ASCII; the worker answers with the app's page.
        assert answer is not None
        assert answer.status == 400
        assert error_code_in(answer.text) == "bad_request"
        assert_security_headers(answer)

    @pytest.mark.parametrize("path", ODD_PATHS)
    def test_the_same_paths_over_https_get_a_page_not_a_500(self, https_deployment: HttpsDeployment, path: str) -> None:
        response = requests.get(
            f"{https_deployment.app.url}{path}",
            headers={"Host": urlsplit(https_deployment.url).netloc, "X-Forwarded-Proto": "https"},
            allow_redirects=False,
            timeout=10,
        )

        assert response.status_code == 404
        assert error_code_in(response.text) == "not_found"
        assert_security_headers(response)
        assert "Strict-Transport-Security" in response.headers


class TestTheHostHeaderNeverReachesALocation:
    @pytest.mark.parametrize("path", SLASHED_PATHS)
    @pytest.mark.parametrize("host", HOSTILE_HOSTS)
    def test_over_http(self, app_server: GunicornApp, host: str, path: str) -> None:
        answer = send_raw(endpoint_of(app_server), request_bytes(b"GET", path.encode(), [(b"Host", host.encode())]))

        assert_location_is_ours(answer, app_server.url)

    @pytest.mark.parametrize("path", SLASHED_PATHS)
    @pytest.mark.parametrize("host", HOSTILE_HOSTS)
    def test_over_https(self, https_deployment: HttpsDeployment, host: str, path: str) -> None:
        tls = Endpoint("127.0.0.1", https_deployment.front.https_port, tls_trusting(https_deployment.ca_bundle))
        answer = send_raw(tls, request_bytes(b"GET", path.encode(), [(b"Host", host.encode())]))

        assert_location_is_ours(answer, https_deployment.url)

    @pytest.mark.parametrize("path", SLASHED_PATHS)
    def test_with_the_right_host(self, app_server: GunicornApp, path: str) -> None:
        host = urlsplit(app_server.url).netloc
        answer = send_raw(endpoint_of(app_server), request_bytes(b"GET", path.encode(), [(b"Host", host.encode())]))

        assert answer is not None
        assert answer.status in (401, 404), answer.status
        assert answer.header("Location") is None, "no slash-merging redirect, whose Location would come from Host"


class TestAHostHeaderThatIsNoValidName:
    """A label over 63 characters or an empty label: werkzeug cannot read the name, the app still answers."""

    @pytest.mark.parametrize(
        "host",
        ["a" * 64, "a" * 300, "a..b", ".", f"{'x' * 64}.example"],
        ids=["a label of 64", "300 characters", "an empty label", "only a dot", "a long first label"],
    )
    @pytest.mark.parametrize(("method", "path"), [("POST", "/logout"), ("POST", "/connect/spotify"), ("PUT", "/")])
    def test_a_change_gets_the_wrong_host_page_not_a_500(
        self, app_server: GunicornApp, host: str, method: str, path: str
    ) -> None:
        data = request_bytes(method.encode(), path.encode(), [(b"Host", host.encode()), (b"Content-Length", b"0")])

        answer = send_raw(endpoint_of(app_server), data)

        assert answer is not None
        assert answer.status == 421, answer.text[:300]
        assert error_code_in(answer.text) == "wrong_host"
        assert_security_headers(answer)

    @pytest.mark.parametrize("host", ["a" * 64, "a..b"], ids=["a label of 64", "an empty label"])
    def test_a_get_is_sent_to_public_url(self, app_server: GunicornApp, host: str) -> None:
        answer = send_raw(endpoint_of(app_server), request_bytes(b"GET", b"/a", [(b"Host", host.encode())]))

        assert answer is not None
        assert answer.status == 308
        assert answer.header("Location") == f"{app_server.url}/a"


def assert_location_is_ours(answer: RawAnswer | None, public_url: str) -> None:
    assert answer is not None, "no answer"
    assert answer.status < 500, answer.text[:300]
    location = answer.header("Location")
    if location is not None:
        assert location.startswith(f"{public_url}/"), location
        assert "attacker" not in location.lower(), location
    assert "attacker" not in answer.text.lower()


class TestWhatGunicornRefuses:
    """Requests gunicorn refuses before the app sees them still get the app's page, and leave no secret in the log."""

    @pytest.fixture
    def secret_query(self) -> tuple[str, list[str]]:
        document = login_document()
        data64 = encode_data64(document)
        return f"state=s&data64={data64}&oneTimeToken={document['oneTimeToken']}", [data64, document["oneTimeToken"]]

    @pytest.mark.parametrize(
        ("line", "status"),
        [
            ("GET /callback?{query} HTTP/1.1 junk", 400),
            ("GET /callback?{query} junk HTTP/1.1", 400),
            ("GET /callback?'{query}' HTTP/1.1 junk", 400),
            ('GET /callback?"{query}" HTTP/1.1 junk', 400),
            ("GET /callback?{query} HTTP/9.9", 400),
            ("get /callback?{query} HTTP/1.1", 400),
            ("G\x00T /callback?{query} HTTP/1.1", 400),
            ("GET /callback?{query}\x01 HTTP/1.1", 400),
            ("GET /callback?{query}&pad={padding} HTTP/1.1", 414),
        ],
        ids=[
            "junk after the version",
            "junk before the version",
            "quoted query",
            "double-quoted query",
            "unknown version",
            "lower-case method",
            "null in the method",
            "control character in the target",
            "request line over 8 KB",
        ],
    )
    def test_a_malformed_request_line_is_answered_by_the_app_and_logged_without_its_query(
        self, app_server: GunicornApp, secret_query: tuple[str, list[str]], line: str, status: int
    ) -> None:
        query, secrets = secret_query
        refusals = refusal_lines(app_server)
        request_line = line.format(query=query, padding="p" * 9000)
        data = f"{request_line}\r\nHost: 127.0.0.1:{app_server.port}\r\nConnection: close\r\n\r\n".encode("latin-1")

        answer = send_raw(endpoint_of(app_server), data)

        assert answer is not None
        assert answer.status == status
        assert error_code_in(answer.text) == ("uri_too_long" if status == 414 else "bad_request")
        assert_security_headers(answer)
        assert app_server.logs.wait_for(lambda text: "refused a request" in text, timeout=10, count=refusals + 1)
        log = app_server.logs.text()
        for secret in secrets:
            assert secret not in answer.text
            assert secret not in log, "a refused request line was logged with its query string"

    def test_a_request_line_over_8_kb_through_the_router_gets_the_apps_page_not_a_502(
        self, https_deployment: HttpsDeployment
    ) -> None:
        # nginx reads lines up to 16 KB, gunicorn 8 KB: gunicorn refuses before it has read the whole
        # request, and must not close with unread bytes (a reset, which the router turns into a 502).
        tls = Endpoint("127.0.0.1", https_deployment.front.https_port, tls_trusting(https_deployment.ca_bundle))
        host = urlsplit(https_deployment.url).netloc.encode()
        for length in (8_300, 9_000, 12_000, 15_000):
            answer = send_raw(tls, request_bytes(b"GET", b"/" + b"a" * length, [(b"Host", host)]))

            assert answer is not None
            assert answer.status == 414, (length, answer.status)
            assert error_code_in(answer.text) == "uri_too_long"

    def test_a_long_path_for_another_host_is_sent_to_the_start_page_not_a_502(
        self, https_deployment: HttpsDeployment
    ) -> None:
        # Redirected as it is, the Location would outgrow the router's buffer for response headers.
        tls = Endpoint("127.0.0.1", https_deployment.front.https_port, tls_trusting(https_deployment.ca_bundle))
        for length in (100, 3_000, 7_000):
            answer = send_raw(tls, request_bytes(b"GET", b"/" + b"a" * length, [(b"Host", b"evil.example")]))

            assert answer is not None
            assert answer.status == 308, (length, answer.status)
            expected = f"{https_deployment.url}/" + ("a" * length if length < 2_000 else "")
            assert answer.header("Location") == expected

    def test_an_over_long_cookie_header_gets_a_431_page_that_deletes_the_apps_cookies(
        self, app_server: GunicornApp, simulator: Simulator
    ) -> None:
        user = User(app_server.url, simulator)
        assert user.connect("spotify").status_code == 303
        own = "; ".join(f"{cookie.name}={cookie.value}" for cookie in user.http.cookies)

        response = requests.get(
            f"{app_server.url}/", headers={"Cookie": f"{own}; big={'x' * 33_000}"}, allow_redirects=False, timeout=10
        )

        assert response.status_code == 431
        assert error_code_in(response.text) == "request_too_large"
        assert_security_headers(response)
        deleted = {cookie_name(header) for header in set_cookies(response) if is_deletion(header)}
        assert deleted >= set(all_cookie_bases(KNOWN_SERVICES)), "every cookie this app may have set is removed"
        assert deleted >= {"csrf", "acct-spotify"}

    def test_on_an_https_deployment_the_431_page_also_carries_hsts_and_deletes_the_prefixed_cookies(
        self, https_deployment: HttpsDeployment
    ) -> None:
        # Straight to gunicorn: nginx in front refuses such a header itself.
        response = requests.get(
            f"{https_deployment.app.url}/",
            headers={
                "Host": urlsplit(https_deployment.url).netloc,
                "X-Forwarded-Proto": "https",
                "Cookie": f"big={'x' * 33_000}",
            },
            allow_redirects=False,
            timeout=10,
        )

        assert response.status_code == 431
        assert_security_headers(response)
        assert "Strict-Transport-Security" in response.headers
        deletions = [header for header in set_cookies(response) if is_deletion(header)]
        assert {cookie_name(header) for header in deletions} >= {"__Host-csrf", "__Host-acct-spotify", "__Host-flow"}
        assert all("Secure" in header for header in deletions)

    def test_a_cookie_header_between_8_and_32_kb_still_reaches_the_app_and_logout_works(
        self, app_server: GunicornApp, simulator: Simulator
    ) -> None:
        user = User(app_server.url, simulator)
        assert user.connect("spotify").status_code == 303
        user.http.cookies.set("analytics", "x" * 20_000, domain="127.0.0.1", path="/")

        home = user.open_home()
        assert home.status_code == 200
        assert user.connected_services() == ["spotify"]
        logout = user.post("/logout", {"csrf_token": user.csrf_token or ""})

        assert logout.status_code == 303
        assert any(cookie_name(h) == "acct-spotify" and is_deletion(h) for h in set_cookies(logout))
        assert user.accounts() == []


def refusal_lines(app: GunicornApp) -> int:
    return sum(1 for line in app.logs.text().splitlines() if "refused a request" in line)

"""The MusicAPI client against real local HTTP servers: one request per token, every failure named, never a resend."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from callback_app.errors import (
    MalformedCallback,
    UpstreamError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from callback_app.musicapi import client as client_module
from callback_app.musicapi.client import MusicApiClient
from callback_app.musicapi.protocol import LoginResult, decode_data64
from callback_app.simulator import Simulator
from tests.support.clock import FakeClock
from tests.support.musicapi import HostileUpstream, encode_data64, profile
from tests.support.servers import ThreadedServer, free_port
from tests.unit.helpers import ONE_TIME_TOKEN, USER_UUID

ROOT = Path(__file__).resolve().parents[2]
LOGIN = LoginResult("spotify", USER_UUID, ONE_TIME_TOKEN)
# Short enough to keep the suite fast, long enough for a loaded machine to answer a healthy request.
SHORT_DEADLINE = 0.5


def answer(**fields: Any) -> bytes:
    return json.dumps({"integrationUser": profile(**fields)}).encode()


@pytest.fixture
def client(musicapi: ThreadedServer) -> MusicApiClient:
    return MusicApiClient(musicapi.url + "/api")


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    """The exchange and refresh deadlines lowered, so a timeout is seen in well under a second."""
    monkeypatch.setattr(client_module, "EXCHANGE_DEADLINE", SHORT_DEADLINE)
    monkeypatch.setattr(client_module, "REFRESH_DEADLINE", SHORT_DEADLINE)
    monkeypatch.setattr(client_module, "EXCHANGE_CONNECT_TIMEOUT", SHORT_DEADLINE)
    return SHORT_DEADLINE


def logged_in(simulator: Simulator, service: str = "spotify") -> LoginResult:
    return decode_data64(encode_data64(simulator.issue_login(service)))


# -- against the simulator --------------------------------------------------------------------------------------


def test_a_one_time_token_is_exchanged_for_the_account(
    client: MusicApiClient, simulator: Simulator, musicapi_clock: FakeClock
) -> None:
    login = logged_in(simulator, "spotify")

    user = client.exchange(login)

    assert user.integration_user_uuid == login.integration_user_uuid
    assert str(user.auth_data["accessToken"]).startswith("BQ")
    assert str(user.auth_data["refreshToken"]).startswith("AQ")
    assert user.name
    assert user.email
    assert user.image_url
    assert user.image_url.startswith("https://")
    assert user.expires_at == int(musicapi_clock() * 1000) + 3_600_000
    [call] = simulator.calls()
    assert call.authorization_scheme == "Token"
    assert call.integration_user_uuid == login.integration_user_uuid
    assert call.status == 200


def test_a_token_spent_once_is_refused_the_second_time(client: MusicApiClient, simulator: Simulator) -> None:
    login = logged_in(simulator)
    client.exchange(login)

    with pytest.raises(UpstreamRefused):
        client.exchange(login)
    assert [call.status for call in simulator.calls()] == [200, 401]


def test_a_token_older_than_a_minute_is_refused(
    client: MusicApiClient, simulator: Simulator, musicapi_clock: FakeClock
) -> None:
    login = logged_in(simulator)
    musicapi_clock.advance(61)

    with pytest.raises(UpstreamRefused):
        client.exchange(login)
    assert len(simulator.calls()) == 1


def test_a_token_for_another_user_is_refused(client: MusicApiClient, simulator: Simulator) -> None:
    mine, theirs = logged_in(simulator), logged_in(simulator)

    with pytest.raises(UpstreamRefused):
        client.exchange(LoginResult("spotify", theirs.integration_user_uuid, mine.one_time_token))


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("http_500", UpstreamError),
        ("http_401", UpstreamRefused),
        ("http_404", UpstreamRefused),
        ("non_json", UpstreamError),
        ("huge_body", UpstreamError),
        ("wrong_shape", UpstreamError),
        ("redirect", UpstreamError),
        ("empty_body", UpstreamError),
    ],
)
def test_each_musicapi_fault_is_its_own_error_and_never_retried(
    client: MusicApiClient, simulator: Simulator, fault: str, error: type[Exception]
) -> None:
    login = logged_in(simulator)
    simulator.fault = fault

    with pytest.raises(UpstreamError) as caught:
        client.exchange(login)

    assert type(caught.value) is error
    assert len(simulator.calls()) == 1


def test_a_musicapi_that_hangs_is_a_timeout_within_the_deadline(
    client: MusicApiClient, simulator: Simulator, short_deadline: float
) -> None:
    login = logged_in(simulator)
    simulator.fault = "hang"
    simulator.hang_seconds = 10 * short_deadline

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        client.exchange(login)

    # Well under the time the simulator hangs for, with room for a loaded machine.
    assert time.monotonic() - started < 5 * short_deadline
    assert len(simulator.calls()) == 1


def test_nobody_listening_is_unreachable() -> None:
    client = MusicApiClient(f"http://127.0.0.1:{free_port()}/api")

    started = time.monotonic()
    with pytest.raises(UpstreamUnreachable):
        client.exchange(LOGIN)
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("uuid", ["../x", USER_UUID + "/../admin", "", "not-a-uuid"])
def test_a_bad_user_uuid_never_reaches_musicapi(client: MusicApiClient, simulator: Simulator, uuid: str) -> None:
    with pytest.raises(MalformedCallback):
        client.exchange(LoginResult("spotify", uuid, ONE_TIME_TOKEN))
    with pytest.raises(MalformedCallback):
        client.fetch_fresh(uuid, "simulator-client", "simulator-secret")
    assert simulator.calls() == []


def test_fresh_tokens_are_fetched_with_client_credentials(client: MusicApiClient, simulator: Simulator) -> None:
    login = logged_in(simulator, "tidal")
    first = client.exchange(login)

    fresh = client.fetch_fresh(login.integration_user_uuid, "simulator-client", "simulator-secret")

    assert fresh.integration_user_uuid == login.integration_user_uuid
    assert fresh.auth_data["accessToken"] != first.auth_data["accessToken"]
    assert [call.authorization_scheme for call in simulator.calls()] == ["Token", "Basic"]


@pytest.mark.parametrize(
    ("client_id", "client_secret"),
    [("simulator-client", "wrong-secret"), ("someone-else", "simulator-secret"), ("", ""), ("simulator-client", "")],
)
def test_wrong_client_credentials_are_refused(
    client: MusicApiClient, simulator: Simulator, client_id: str, client_secret: str
) -> None:
    login = logged_in(simulator)

    with pytest.raises(UpstreamRefused):
        client.fetch_fresh(login.integration_user_uuid, client_id, client_secret)
    assert len(simulator.calls()) == 1


def test_fresh_tokens_for_an_unknown_user_are_refused(client: MusicApiClient) -> None:
    with pytest.raises(UpstreamRefused):
        client.fetch_fresh("00000000-0000-4000-8000-000000000000", "simulator-client", "simulator-secret")


# -- what the client puts on the wire, and odd answers ----------------------------------------------------------


class Recorder:
    """An upstream that records every request and answers with whatever the test set."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = "200 OK"
        self.headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
        self.body = answer()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            self.requests.append(
                {
                    "method": environ["REQUEST_METHOD"],
                    "path": environ["PATH_INFO"],
                    "query": environ.get("QUERY_STRING", ""),
                    "headers": {key[5:]: value for key, value in environ.items() if key.startswith("HTTP_")},
                    "content_type": environ.get("CONTENT_TYPE"),
                    "client_port": environ.get("REMOTE_PORT"),
                }
            )
        start_response(self.status, self.headers)
        return [self.body]


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[tuple[Recorder, ThreadedServer]]:
    recorder = Recorder()
    server = ThreadedServer(recorder)
    yield recorder, server
    server.close()


@pytest.fixture
def upstream(recorder_server: tuple[Recorder, ThreadedServer]) -> Recorder:
    recorder, _ = recorder_server
    recorder.reset()
    return recorder


@pytest.fixture
def recorded_client(recorder_server: tuple[Recorder, ThreadedServer], upstream: Recorder) -> MusicApiClient:
    return MusicApiClient(recorder_server[1].url + "/api/")


def test_the_exchange_request_is_exactly_as_documented(upstream: Recorder, recorded_client: MusicApiClient) -> None:
    recorded_client.exchange(LOGIN)

    [request] = upstream.requests
    assert request["method"] == "GET"
    assert request["path"] == f"/api/public/integrations/user/{USER_UUID}"
    assert request["query"] == ""
    assert request["headers"]["AUTHORIZATION"] == f"Token {ONE_TIME_TOKEN}"
    assert request["content_type"] == "application/json; charset=utf-8"
    assert request["headers"]["ACCEPT"] == "application/json"
    assert "COOKIE" not in request["headers"]


def test_client_credentials_travel_as_basic_auth(upstream: Recorder, recorded_client: MusicApiClient) -> None:
    recorded_client.fetch_fresh(USER_UUID, "my-client", "my:secret")

    [request] = upstream.requests
    expected = base64.b64encode(b"my-client:my:secret").decode()
    assert request["headers"]["AUTHORIZATION"] == f"Basic {expected}"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("400 Bad Request", UpstreamRefused),
        ("401 Unauthorized", UpstreamRefused),
        ("403 Forbidden", UpstreamRefused),
        ("404 Not Found", UpstreamRefused),
        ("410 Gone", UpstreamRefused),
        ("201 Created", UpstreamError),
        ("204 No Content", UpstreamError),
        ("429 Too Many Requests", UpstreamError),
        ("500 Internal Server Error", UpstreamError),
        ("502 Bad Gateway", UpstreamError),
        ("503 Service Unavailable", UpstreamError),
    ],
)
def test_statuses_map_to_errors(
    upstream: Recorder, recorded_client: MusicApiClient, status: str, error: type[Exception]
) -> None:
    upstream.status = status

    with pytest.raises(UpstreamError) as caught:
        recorded_client.exchange(LOGIN)
    assert type(caught.value) is error
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
def test_a_redirect_is_never_followed(upstream: Recorder, recorded_client: MusicApiClient, status: str) -> None:
    upstream.status = status
    upstream.headers = [("Location", "/api/followed"), ("Content-Type", "application/json")]

    with pytest.raises(UpstreamError):
        recorded_client.exchange(LOGIN)
    assert [request["path"] for request in upstream.requests] == [f"/api/public/integrations/user/{USER_UUID}"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"<html>", b"null", b'{"integrationUser": {"authData": {}}}', b"\xff\xfe"],
    ids=["broken", "empty", "html", "null", "no-tokens", "not-utf8"],
)
def test_garbage_json_is_an_upstream_error(upstream: Recorder, recorded_client: MusicApiClient, body: bytes) -> None:
    upstream.body = body

    with pytest.raises(UpstreamError) as caught:
        recorded_client.exchange(LOGIN)
    assert type(caught.value) is UpstreamError


def test_a_declared_huge_body_is_refused_before_reading(upstream: Recorder, recorded_client: MusicApiClient) -> None:
    upstream.headers = [("Content-Type", "application/json"), ("Content-Length", str(10**9))]
    upstream.body = b""

    with pytest.raises(UpstreamError):
        recorded_client.exchange(LOGIN)


def test_a_huge_body_without_a_length_is_refused(upstream: Recorder, recorded_client: MusicApiClient) -> None:
    upstream.body = answer(name="x" * (client_module.MAX_RESPONSE_BYTES + 1))

    with pytest.raises(UpstreamError) as caught:
        recorded_client.exchange(LOGIN)
    assert type(caught.value) is UpstreamError


def test_an_odd_content_length_never_escapes_as_another_error(
    upstream: Recorder, recorded_client: MusicApiClient
) -> None:
    upstream.headers = [("Content-Type", "application/json"), ("Content-Length", "\u00b2")]

    # Refusing the answer is fine; a ValueError escaping the client is not.
    with contextlib.suppress(UpstreamError):
        recorded_client.exchange(LOGIN)


def test_a_body_that_stops_half_way_is_a_timeout(short_deadline: float) -> None:
    stalling = HostileUpstream(stall_seconds=10 * short_deadline)
    stalling.answer(profile())
    server = ThreadedServer(stalling.wsgi)
    try:
        with pytest.raises(UpstreamTimeout):
            MusicApiClient(server.url + "/api").exchange(LOGIN)
        assert stalling.calls == 1
    finally:
        stalling.release.set()
        server.close()


def test_no_proxy_or_netrc_from_the_environment_gets_a_say(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, upstream: Recorder, recorded_client: MusicApiClient
) -> None:
    proxy = Recorder()
    proxy_server = ThreadedServer(proxy)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login intruder password hunter2\n")
    netrc.chmod(0o600)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy_server.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    try:
        recorded_client.exchange(LOGIN)
    finally:
        proxy_server.close()

    assert proxy.requests == []
    [request] = upstream.requests
    assert request["headers"]["AUTHORIZATION"] == f"Token {ONE_TIME_TOKEN}"


# -- never a second request, whatever the connection does -------------------------------------------------------


class RawUpstream:
    """A socket server that reads each request, counts it, then misbehaves as ``behaviour`` says.

    ``close``: hang up without a byte; ``reset``: hang up with a TCP reset; ``half``: half a status
    line, then hang up; ``trickle``: a status line, then one header byte every 0.3 s for 6 s;
    ``trickle-body``: whole headers, then one body byte every 0.3 s for 6 s.
    """

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                received += chunk
            with self.lock:
                self.requests += 1
            with contextlib.suppress(OSError):
                self._misbehave(connection)

    def _misbehave(self, connection: socket.socket) -> None:
        if self.behaviour == "reset":
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        elif self.behaviour == "half":
            connection.sendall(b"HTTP/1.1 2")
        elif self.behaviour == "trickle":
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self._trickle(connection)
        elif self.behaviour == "trickle-body":
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            self._trickle(connection)

    def _trickle(self, connection: socket.socket) -> None:
        for _ in range(20):
            if self.stopped.wait(0.3):
                return
            connection.sendall(b" ")

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


@contextlib.contextmanager
def raw_upstream(behaviour: str) -> Iterator[RawUpstream]:
    server = RawUpstream(behaviour)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("behaviour", ["close", "reset", "half"])
def test_a_request_that_reached_musicapi_is_never_sent_again(behaviour: str) -> None:
    with raw_upstream(behaviour) as server:
        with pytest.raises(UpstreamError):
            MusicApiClient(server.url).exchange(LOGIN)
        # Counted at the server before it misbehaves, so any resend was counted before the client gave up.
        assert server.requests == 1


class KeepAliveHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 upstream that keeps connections open (werkzeug's test server closes each one)."""

    protocol_version = "HTTP/1.1"
    client_ports: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.client_ports.append(self.client_address[1])
        body = answer()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads client_ports."""


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[MusicApiClient]:
    """Serve ``server`` in the background, and a client for it; stop it afterwards."""
    KeepAliveHandler.client_ports = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield MusicApiClient(f"http://127.0.0.1:{server.server_port}/api")
    finally:
        server.shutdown()
        server.server_close()


def test_exchanges_reuse_one_keep_alive_connection() -> None:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveHandler)) as client:
        client.exchange(LOGIN)
        client.fetch_fresh(USER_UUID, "my-client", "my-secret")

    assert len(KeepAliveHandler.client_ports) == 2
    assert len(set(KeepAliveHandler.client_ports)) == 1, f"new connections: {KeepAliveHandler.client_ports}"


class OneAnswerHandler(KeepAliveHandler):
    """Answers like KeepAliveHandler, then drops the connection without having said "Connection: close"."""

    def do_GET(self) -> None:
        super().do_GET()
        self.close_connection = True


class IdleClosingServer(ThreadingHTTPServer):
    """Closes every connection after one answer, as a server dropping idle keep-alive connections does."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), OneAnswerHandler)
        self.closed = threading.Event()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.set()


def test_a_pooled_connection_the_server_has_closed_is_not_used_for_the_next_login() -> None:
    server = IdleClosingServer()
    with serving(server) as client:
        client.exchange(LOGIN)
        assert server.closed.wait(5), "the server never closed the first connection"
        user = client.exchange(LOGIN)

    assert user.integration_user_uuid == USER_UUID
    assert len(KeepAliveHandler.client_ports) == 2
    assert len(set(KeepAliveHandler.client_ports)) == 2


def test_a_connection_cut_off_mid_answer_is_never_reused(
    monkeypatch: pytest.MonkeyPatch, upstream: Recorder, recorded_client: MusicApiClient
) -> None:
    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 64)
    upstream.body = answer() + b" " * 100_000

    with pytest.raises(UpstreamError):
        recorded_client.exchange(LOGIN)
    monkeypatch.undo()
    upstream.body = answer()
    user = recorded_client.exchange(LOGIN)

    assert user.integration_user_uuid == USER_UUID
    assert upstream.requests[0]["client_port"] != upstream.requests[1]["client_port"]


# -- the wall-clock deadline, as the gevent worker keeps it -----------------------------------------------------

# The client as it runs in gunicorn's gevent worker: monkey-patched first, then the deadlines
# lowered (module constants, read at each call), then both kinds of call against trickling upstreams.
UNDER_GEVENT = """
import json, sys, time
from gevent import monkey
monkey.patch_all()
from callback_app.errors import UpstreamError
from callback_app.musicapi import client as client_module
from callback_app.musicapi.protocol import LoginResult

headers_url, body_url, deadline, user_uuid, token = sys.argv[1:]
client_module.EXCHANGE_DEADLINE = client_module.REFRESH_DEADLINE = float(deadline)
slow_headers, slow_body = client_module.MusicApiClient(headers_url), client_module.MusicApiClient(body_url)
calls = {
    "exchange, slow headers": lambda: slow_headers.exchange(LoginResult("spotify", user_uuid, token)),
    "exchange, slow body": lambda: slow_body.exchange(LoginResult("spotify", user_uuid, token)),
    "refresh, slow headers": lambda: slow_headers.fetch_fresh(user_uuid, "client-id", "client-secret"),
}
report = {}
for name, call in calls.items():
    started = time.monotonic()
    try:
        call()
        outcome = "answered"
    except UpstreamError as error:
        outcome = error.code
    report[name] = {"outcome": outcome, "seconds": time.monotonic() - started}
print(json.dumps(report))
"""


def test_under_gevent_one_deadline_holds_for_the_whole_exchange_and_refresh() -> None:
    deadline = 1.0
    with raw_upstream("trickle") as slow_headers, raw_upstream("trickle-body") as slow_body:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                UNDER_GEVENT,
                slow_headers.url,
                slow_body.url,
                str(deadline),
                USER_UUID,
                ONE_TIME_TOKEN,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        requests_seen = slow_headers.requests + slow_body.requests

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report) == 3
    for name, measured in report.items():
        assert measured["outcome"] == "upstream_timeout", name
        # A byte every 0.3 s defeats any per-read timeout: only the wall-clock deadline ends it.
        assert 0.95 * deadline <= measured["seconds"] < deadline + 1.5, (name, measured)
    assert requests_seen == 3

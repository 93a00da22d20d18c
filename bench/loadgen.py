"""The load client: simulated browsers on raw gevent sockets, in a process of its own.

``python -m bench.loadgen SPEC_JSON`` runs one scenario and prints one JSON line of results.
Each browser keeps its own cookies and connection, the way a person's browser does; the
client also plays MusicAPI's login page (bench/tokens.py mints the one-time token). Every
wait has a deadline and every loop a count or a time limit.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import gevent
import gevent.pool
import gevent.socket

from bench.tokens import SERVICE, new_login

# Every connection goes to the literal 127.0.0.1: nothing to resolve, so no resolver threads.
# (gevent's default resolver hands each connect's getaddrinfo to a thread: ~0.2 ms of client
# CPU per connection, which made the client, not the server, the limit of the bare-route row.)
gevent.config.resolver = "block"

CSRF_FIELD = re.compile(rb'name="csrf_token" value="([^"]+)"')
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
RECV_BYTES = 65536
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class HttpError(Exception):
    """The server closed the connection, answered garbage, or took too long."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def set_cookies(self) -> list[str]:
        return [value for key, value in self.headers if key == "set-cookie"]


class Connection:
    """One HTTP/1.1 connection to 127.0.0.1; reads exactly one response per request."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
        self.buffer = bytearray()

    def close(self) -> None:
        self.sock.close()

    def exchange(self, raw_request: bytes) -> Response:
        self.sock.sendall(raw_request)
        return self.read_response()

    def _fill(self) -> bool:
        chunk = self.sock.recv(RECV_BYTES)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def read_response(self) -> Response:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD_BYTES or not self._fill():
                raise HttpError("connection closed before the response head")
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        version, status_text = head[0].split(" ", 2)[:2]
        headers = []
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        response = Response(int(status_text), headers, b"", keep_alive=version == "HTTP/1.1")
        if (response.header("connection") or "").lower() == "close":
            response.keep_alive = False
        length = response.header("content-length")
        if length is not None:
            response.body = self._read_exactly(int(length))
        elif (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body = self._read_chunked()
        elif response.status not in (204, 304):
            response.keep_alive = False
            while len(self.buffer) <= MAX_BODY_BYTES and self._fill():
                pass
            response.body, self.buffer = bytes(self.buffer), bytearray()
        return response

    def _read_exactly(self, length: int) -> bytes:
        if length > MAX_BODY_BYTES:
            raise HttpError("body too large")
        while len(self.buffer) < length:
            if not self._fill():
                raise HttpError("connection closed in the body")
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        for _ in range(10_000):
            while (end := self.buffer.find(b"\r\n")) < 0:
                if not self._fill():
                    raise HttpError("connection closed in a chunk")
            size = int(bytes(self.buffer[:end]).split(b";")[0], 16)
            del self.buffer[: end + 2]
            chunk = self._read_exactly(size + 2)
            if size == 0:
                return bytes(body)
            body += chunk[:-2]
        raise HttpError("too many chunks")


class Browser:
    """One person's browser: a cookie jar and, at most, one open connection to the server."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.connection: Connection | None = None
        self.callback_path = ""
        self.user_uuid = ""

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "User-Agent: bench/1", "Accept: */*"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{name}={value}" for name, value in self.cookies.items()))
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            lines += [
                f"Origin: {self.origin}",
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        if self.connection is None:
            self.connection = Connection(self.port, self.timeout)
        try:
            with gevent.Timeout(self.timeout, HttpError("timeout")):
                response = self.connection.exchange(raw)
        except BaseException:
            self.close()
            raise
        if not response.keep_alive:
            self.close()
        self.remember(response)
        return response

    def remember(self, response: Response) -> None:
        for header in response.set_cookies():
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower().replace(" ", "") or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value


def return_path(location: str) -> str:
    """The callback path and query the app put in ``returnUrl``, without the origin."""
    return_url = parse_qs(urlsplit(location).query)["returnUrl"][0]
    parts = urlsplit(return_url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# The flows of each kind of server: how a browser gets to the point of coming back from MusicAPI.


def start_app_login(browser: Browser) -> None:
    landing = browser.request("GET", "/")
    match = CSRF_FIELD.search(landing.body)
    if landing.status != 200 or match is None:
        raise HttpError(f"landing answered {landing.status}")
    connect = browser.request("POST", f"/connect/{SERVICE}", {"csrf_token": match.group(1).decode()})
    if connect.status != 303:
        raise HttpError(f"connect answered {connect.status}")
    browser.callback_path = return_path(connect.header("location") or "")


def start_naive_login(browser: Browser) -> None:
    landing = browser.request("GET", "/")
    if landing.status != 200:
        raise HttpError(f"landing answered {landing.status}")
    connect = browser.request("GET", f"/connect/{SERVICE}")
    if connect.status not in (302, 303):
        raise HttpError(f"connect answered {connect.status}")
    browser.callback_path = return_path(connect.header("location") or "")


def app_logged_in(response: Response) -> bool:
    """303 to the landing page with the account cookie set: the login is kept."""
    account_cookie = any(value.startswith(f"acct-{SERVICE}=") for value in response.set_cookies())
    return response.status == 303 and response.header("location") in ("/", "http://127.0.0.1/") and account_cookie


def naive_logged_in(response: Response) -> bool:
    """A redirect home with Flask's session cookie (which then holds the tokens)."""
    session_cookie = any(value.startswith("session=") for value in response.set_cookies())
    return response.status in (302, 303) and session_cookie


FLOWS: dict[str, tuple[Callable[[Browser], None], Callable[[Response], bool]]] = {
    "app": (start_app_login, app_logged_in),
    "naive": (start_naive_login, naive_logged_in),
}


def mint_login(browser: Browser, secret: bytes) -> str:
    """What MusicAPI's login page does: a fresh login, and the URL it sends the browser back to."""
    browser.user_uuid, data64 = new_login(secret)
    return f"{browser.callback_path}&data64={quote(data64, safe='')}"


@dataclass
class Callback:
    started: float = 0.0
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    ok: bool = False
    error: str = ""
    user_uuid: str = ""


@dataclass
class Spec:
    scenario: str
    port: int
    kind: str = "app"
    secret: str = ""
    users: int = 0
    spread: float = 1.0
    timeout: float = 30.0
    concurrency: int = 32
    duration: float = 5.0
    warmup: float = 1.0
    prepare_concurrency: int = 50
    pids: list[int] = field(default_factory=list)


def prepare(spec: Spec, start: Callable[[Browser], None]) -> tuple[list[Browser], int, float]:
    """Open the landing page and press Connect for ``spec.users`` browsers; connections then close."""
    began = time.perf_counter()
    browsers = [Browser(spec.port, spec.timeout) for _ in range(spec.users)]
    failures = 0

    def one(browser: Browser) -> None:
        nonlocal failures
        try:
            start(browser)
        except (HttpError, OSError, KeyError, ValueError, gevent.Timeout):
            failures += 1
        finally:
            # The person is now on MusicAPI's login page: the browser comes back on a new connection.
            browser.close()

    pool = gevent.pool.Pool(spec.prepare_concurrency)
    pool.map(one, browsers)
    ready = [browser for browser in browsers if browser.callback_path]
    return ready, failures, time.perf_counter() - began


def fire(spec: Spec, browsers: list[Browser], logged_in: Callable[[Response], bool]) -> list[Callback]:
    """Send each browser's callback at evenly spaced moments over ``spec.spread`` seconds."""
    secret = bytes.fromhex(spec.secret)
    urls = [mint_login(browser, secret) for browser in browsers]
    results = [Callback(user_uuid=browser.user_uuid) for browser in browsers]
    greenlets = []

    def one(browser: Browser, url: str, result: Callback) -> None:
        result.started = time.time()
        try:
            with gevent.Timeout(spec.timeout, HttpError("timeout")):
                connection = browser.connection = Connection(browser.port, spec.timeout)
                raw = f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{browser.port}\r\nUser-Agent: bench/1\r\n"
                raw += "Cookie: " + "; ".join(f"{k}={v}" for k, v in browser.cookies.items()) + "\r\n\r\n"
                connection.sock.sendall(raw.encode("latin-1"))
                result.sent = time.time()
                response = connection.read_response()
            result.status = response.status
            result.ok = logged_in(response)
        except (HttpError, OSError, ValueError) as error:
            result.error = "timeout" if str(error) == "timeout" else type(error).__name__
        finally:
            result.done = time.time()
            browser.close()

    began = time.time()
    step = spec.spread / max(1, len(browsers))
    for index, (browser, url, result) in enumerate(zip(browsers, urls, results, strict=True)):
        delay = began + index * step - time.time()
        if delay > 0:
            gevent.sleep(delay)
        greenlets.append(gevent.spawn(one, browser, url, result))
    gevent.joinall(greenlets, timeout=spec.timeout + 5)
    return results


def closed_loop(spec: Spec, step: Callable[[Browser], bool]) -> dict[str, Any]:
    """``spec.concurrency`` people at a time, each doing ``step`` on a connection of their own, then leaving.

    Every step is a new person: an empty cookie jar and a new connection, closed when they are done.
    """
    window_start = time.time() + spec.warmup
    window_end = window_start + spec.duration
    counts = {"ok": 0, "failed": 0, "errors": 0, "all_ok": 0}
    errors: dict[str, int] = {}

    def worker() -> None:
        for _ in range(10_000_000):
            if time.time() >= window_end:
                break
            browser = Browser(spec.port, spec.timeout)
            try:
                ok = step(browser)
            except (HttpError, OSError, KeyError, ValueError) as error:
                ok = None
                errors[str(error)[:60]] = errors.get(str(error)[:60], 0) + 1
            finally:
                browser.close()
            finished = time.time()
            counts["all_ok"] += bool(ok)
            if window_start <= finished < window_end:
                counts["ok" if ok else "failed" if ok is False else "errors"] += 1

    greenlets = [gevent.spawn(worker) for _ in range(spec.concurrency)]
    gevent.joinall(greenlets, timeout=spec.warmup + spec.duration + spec.timeout + 5)
    gevent.killall(greenlets, timeout=5)
    return {**counts, "per_second": counts["ok"] / spec.duration, "error_kinds": errors}


def run_flow(spec: Spec) -> dict[str, Any]:
    """Throughput: the whole flow per person (landing, connect, come back) against an instant MusicAPI."""
    start, logged_in = FLOWS[spec.kind]
    secret = bytes.fromhex(spec.secret)

    def step(browser: Browser) -> bool:
        start(browser)
        response = browser.request("GET", mint_login(browser, secret))
        return logged_in(response)

    return closed_loop(spec, step)


def run_bare(spec: Spec) -> dict[str, Any]:
    """One ``GET /`` per person: what this client drives through a trivial route, people as in the flows."""

    def step(browser: Browser) -> bool:
        return browser.request("GET", "/").status == 200

    return closed_loop(spec, step)


def run_callbacks(spec: Spec) -> dict[str, Any]:
    """Prepare ``spec.users`` logins, mint their tokens at once, then fire the callbacks over ``spec.spread``."""
    start, logged_in = FLOWS[spec.kind]
    browsers, prepare_failures, prepare_seconds = prepare(spec, start)
    cpu_before = servers_cpu(spec.pids)
    results = fire(spec, browsers, logged_in)
    fire_cpu = servers_cpu(spec.pids) - cpu_before
    return {
        "prepared": len(browsers),
        "prepare_failures": prepare_failures,
        "prepare_seconds": prepare_seconds,
        "fire_server_cpu_seconds": fire_cpu,
        "callbacks": [[r.started, r.sent, r.done, r.status, int(r.ok), r.error, r.user_uuid] for r in results],
    }


def servers_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by the server processes (read here, at the phase boundaries)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


SCENARIOS = {"flow": run_flow, "bare": run_bare, "callbacks": run_callbacks}


def main(argv: list[str]) -> int:
    spec = Spec(**json.loads(argv[0]))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before = time.perf_counter()
    result = SCENARIOS[spec.scenario](spec)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - wall_before
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    result["client_cpu_seconds"] = cpu
    result["client_wall_seconds"] = wall
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The load client: simulated browsers on raw gevent sockets, in a process of its own.

``python -m bench.loadgen SPEC_JSON`` runs one scenario and prints one JSON line of results.
Each browser keeps its own cookies and connection, the way a person's browser does; the
client also plays MusicAPI's login page (bench/tokens.py mints the one-time token). Every
wait has a deadline and every loop a count or a time limit.
"""

from __future__ import annotations

import json
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

from bench.processes import process_cpu_seconds
from bench.tokens import SERVICE, new_login
from tests.support.pages import CSRF_FIELD

# Every connection goes to the literal 127.0.0.1: nothing to resolve. gevent's default resolver
# would hand each connect's getaddrinfo to a thread, a cost of the client, not of the server.
gevent.config.resolver = "block"

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
RECV_BYTES = 65536


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
        # The integration users of the logins this browser completed.
        self.connected: list[str] = []

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def raw_request(self, method: str, path: str, form: dict[str, str] | None = None) -> bytes:
        # The Host the app's PUBLIC_URL names: any other is redirected or refused.
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "User-Agent: bench/1", "Accept: */*"]
        if self.cookies:
            lines.append(f"Cookie: {self.cookie_header()}")
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            lines += [
                f"Origin: {self.origin}",
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        """Send one request on this browser's connection (opened if needed) and keep the cookies it sets."""
        raw = self.raw_request(method, path, form)
        try:
            with gevent.Timeout(self.timeout, HttpError("timeout")):
                if self.connection is None:
                    self.connection = Connection(self.port, self.timeout)
                response = self.connection.exchange(raw)
        except BaseException:
            self.close()
            raise
        if not response.keep_alive:
            self.close()
        self.remember(response)
        return response

    def remember(self, response: Response) -> None:
        # werkzeug writes Expires next to Max-Age; a deletion is Max-Age=0 (and an empty value).
        for header in response.set_cookies():
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower().replace(" ", "").split(";") or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value


def return_path(location: str) -> str:
    """The callback path and query the app put in ``returnUrl``, without the origin."""
    return_url = parse_qs(urlsplit(location).query)["returnUrl"][0]
    parts = urlsplit(return_url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# How a browser gets to the point of coming back from MusicAPI, and what a kept login looks like.


def start_app_login(browser: Browser, service: str = SERVICE) -> None:
    """The landing page (CSRF token and cookie), then the Connect button: a 303 to MusicAPI."""
    landing = browser.request("GET", "/")
    match = CSRF_FIELD.search(landing.body.decode("utf-8", "replace"))
    if landing.status != 200 or match is None:
        raise HttpError(f"landing answered {landing.status}")
    connect = browser.request("POST", f"/connect/{service}", {"csrf_token": match.group(1)})
    if connect.status != 303:
        raise HttpError(f"connect answered {connect.status}")
    browser.callback_path = return_path(connect.header("location") or "")


def start_naive_login(browser: Browser, service: str = SERVICE) -> None:
    landing = browser.request("GET", "/")
    if landing.status != 200:
        raise HttpError(f"landing answered {landing.status}")
    connect = browser.request("GET", f"/connect/{service}")
    if connect.status not in (302, 303):
        raise HttpError(f"connect answered {connect.status}")
    browser.callback_path = return_path(connect.header("location") or "")


def app_logged_in(response: Response, browser: Browser, cookie: str) -> bool:
    """A 303 to the landing page, the browser then holding the cookie its accounts are found by.

    Every browser here starts empty: in cookie mode the account cookie can only come from this
    callback. In Redis mode the ``sid`` ticket was set when the login started, so the burst also
    asks /api/session afterwards whether the account was kept.
    """
    return response.status == 303 and response.header("location") == "/" and cookie in browser.cookies


def naive_logged_in(response: Response, browser: Browser, cookie: str) -> bool:
    """A redirect home with Flask's session cookie (which then holds the tokens)."""
    return response.status in (302, 303) and any(header.startswith("session=") for header in response.set_cookies())


LoggedIn = Callable[[Response, Browser, str], bool]
FLOWS: dict[str, tuple[Callable[[Browser], None], LoggedIn]] = {
    "app": (start_app_login, app_logged_in),
    "naive": (start_naive_login, naive_logged_in),
}


def mint_login(browser: Browser, secret: bytes, service: str = SERVICE) -> str:
    """What MusicAPI's login page does: a fresh login, and the URL it sends the browser back to."""
    browser.user_uuid, data64 = new_login(secret, service)
    return f"{browser.callback_path}&data64={quote(data64, safe='')}"


def kept(browser: Browser, user_uuids: list[str]) -> bool:
    """Whether /api/session lists exactly these accounts for this browser."""
    response = browser.request("GET", "/api/session")
    body = response.body
    return (
        response.status == 200
        and body.count(b'"integrationUserUUID"') == len(user_uuids)
        and all(user_uuid.encode() in body for user_uuid in user_uuids)
    )


@dataclass
class Callback:
    started: float = 0.0
    done: float = 0.0
    status: int = 0
    ok: bool = False
    error: str = ""


@dataclass
class Spec:
    scenario: str
    port: int
    kind: str = "app"
    secret: str = ""
    # The cookie a kept login leaves in the browser: "acct-{service}" in cookie mode, "sid" with Redis.
    login_cookie: str = "acct-{service}"
    users: int = 0
    spread: float = 1.0
    timeout: float = 30.0
    concurrency: int = 32
    duration: float = 5.0
    warmup: float = 1.0
    prepare_concurrency: int = 50
    services: list[str] = field(default_factory=list)
    path: str = "/"
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

    gevent.pool.Pool(spec.prepare_concurrency).map(one, browsers)
    ready = [browser for browser in browsers if browser.callback_path]
    return ready, failures, time.perf_counter() - began


def fire(spec: Spec, browsers: list[Browser], logged_in: LoggedIn) -> list[Callback]:
    """Send each browser's callback, on a new connection, at evenly spaced moments over ``spec.spread`` seconds."""
    secret = bytes.fromhex(spec.secret)
    # Minted together, right before the first is sent: every token's minute starts now.
    raws = [browser.raw_request("GET", mint_login(browser, secret)) for browser in browsers]
    results = [Callback() for _ in browsers]

    def one(browser: Browser, raw: bytes, result: Callback) -> None:
        result.started = time.time()
        try:
            with gevent.Timeout(spec.timeout, HttpError("timeout")):
                browser.connection = Connection(browser.port, spec.timeout)
                response = browser.connection.exchange(raw)
            browser.remember(response)
            result.status = response.status
            result.ok = logged_in(response, browser, spec.login_cookie.format(service=SERVICE))
        except (HttpError, OSError, ValueError) as error:
            result.error = "timeout" if str(error) == "timeout" else type(error).__name__
        finally:
            result.done = time.time()
            browser.close()

    greenlets = []
    began = time.time()
    step = spec.spread / max(1, len(browsers))
    for index, (browser, raw, result) in enumerate(zip(browsers, raws, results, strict=True)):
        delay = began + index * step - time.time()
        if delay > 0:
            gevent.sleep(delay)
        greenlets.append(gevent.spawn(one, browser, raw, result))
    gevent.joinall(greenlets, timeout=spec.timeout + 5)
    return results


def verify(spec: Spec, browsers: list[Browser], results: list[Callback]) -> int:
    """Ask /api/session of every browser logged in whether its account was kept; those not are lost."""
    not_kept = 0

    def one(browser: Browser, result: Callback) -> None:
        nonlocal not_kept
        try:
            if kept(browser, [browser.user_uuid]):
                return
        except (HttpError, OSError, ValueError, gevent.Timeout):
            pass
        finally:
            browser.close()
        result.ok = False
        result.error = "not kept"
        not_kept += 1

    pool = gevent.pool.Pool(spec.prepare_concurrency)
    for browser, result in zip(browsers, results, strict=True):
        if result.ok:
            pool.spawn(one, browser, result)
    pool.join(timeout=spec.timeout + 5)
    return not_kept


def closed_loop(spec: Spec, step: Callable[[Browser], bool], people: list[Browser] | None = None) -> dict[str, Any]:
    """``spec.concurrency`` people at a time, each doing ``step`` again and again until the window ends.

    Without ``people``, every step is a new person: an empty cookie jar and a new connection, closed
    when they are done. With ``people``, each loop keeps its person, and their connection stays open.
    """
    window_start = time.time() + spec.warmup
    window_end = window_start + spec.duration
    counts = {"ok": 0, "failed": 0, "errors": 0, "all_ok": 0, "sent": 0}
    errors: dict[str, int] = {}

    def worker(index: int) -> None:
        for _ in range(10_000_000):
            if time.time() >= window_end:
                break
            browser = people[index] if people is not None else Browser(spec.port, spec.timeout)
            counts["sent"] += 1
            try:
                ok: bool | None = step(browser)
            except (HttpError, OSError, KeyError, ValueError) as error:
                ok = None
                errors[str(error)[:60]] = errors.get(str(error)[:60], 0) + 1
            finally:
                if people is None:
                    browser.close()
            finished = time.time()
            counts["all_ok"] += bool(ok)
            if window_start <= finished < window_end:
                counts["ok" if ok else "failed" if ok is False else "errors"] += 1

    greenlets = [gevent.spawn(worker, index) for index in range(spec.concurrency)]
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
        return logged_in(response, browser, spec.login_cookie.format(service=SERVICE))

    return closed_loop(spec, step)


def run_bare(spec: Spec) -> dict[str, Any]:
    """One ``GET /`` per person: what this client drives through a trivial route, people as in the flows."""
    return closed_loop(spec, lambda browser: browser.request("GET", "/").status == 200)


def run_session(spec: Spec) -> dict[str, Any]:
    """``spec.concurrency`` browsers, each with ``spec.services`` connected, asking ``spec.path`` again and again.

    Without services this is the bare route under the same load: ``GET /`` on kept-alive connections.
    """
    secret = bytes.fromhex(spec.secret)
    people = [Browser(spec.port, spec.timeout) for _ in range(spec.concurrency)]

    def connect_all(browser: Browser) -> None:
        for service in spec.services:
            start_app_login(browser, service)
            response = browser.request("GET", mint_login(browser, secret, service))
            if not app_logged_in(response, browser, spec.login_cookie.format(service=service)):
                raise HttpError(f"{service} was not connected")
            browser.connected.append(browser.user_uuid)
        browser.close()

    gevent.pool.Pool(spec.prepare_concurrency).map(connect_all, people)

    def step(browser: Browser) -> bool:
        if spec.services:
            return kept(browser, browser.connected)
        return browser.request("GET", spec.path).status == 200

    result = closed_loop(spec, step, people)
    result["probe_cookie"] = people[0].cookie_header()
    return result


def run_callbacks(spec: Spec) -> dict[str, Any]:
    """Prepare ``spec.users`` logins, mint their tokens at once, fire the callbacks, then check what was kept."""
    start, logged_in = FLOWS[spec.kind]
    browsers, prepare_failures, prepare_seconds = prepare(spec, start)
    cpu_before = sum(process_cpu_seconds(pid) for pid in spec.pids)
    results = fire(spec, browsers, logged_in)
    fire_cpu = sum(process_cpu_seconds(pid) for pid in spec.pids) - cpu_before
    not_kept = verify(spec, browsers, results) if spec.kind == "app" else 0
    return {
        "prepared": len(browsers),
        "prepare_failures": prepare_failures,
        "prepare_seconds": prepare_seconds,
        "fire_server_cpu_seconds": fire_cpu,
        "not_kept": not_kept,
        "callbacks": [[r.started, r.done, r.status, int(r.ok), r.error] for r in results],
    }


SCENARIOS = {"flow": run_flow, "bare": run_bare, "session": run_session, "callbacks": run_callbacks}


def main(argv: list[str]) -> int:
    spec = Spec(**json.loads(argv[0]))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before = time.perf_counter()
    result = SCENARIOS[spec.scenario](spec)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    result["client_cpu_seconds"] = cpu
    result["client_wall_seconds"] = time.perf_counter() - wall_before
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

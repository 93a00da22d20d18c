"""The pieces of a PaaS, played for real: honcho reading the Procfile, nginx routing, MusicAPI in its own process.

Every process starts in its own session, so stopping it (or killing it after a failed test) takes its
children along. Waits are on log lines or bounded readiness polls, never on fixed sleeps.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from werkzeug.wrappers import Request, Response

from tests.support.nginx import Nginx
from tests.support.servers import (
    STOP_TIMEOUT,
    GunicornApp,
    LogCollector,
    ThreadedServer,
    free_port,
    kill_group,
    start_logged,
    stop_process_group,
    wait_until,
)

_LISTENING = re.compile(r"simulator listening on (http://\S+)")
_STARTED = re.compile(r"web\.1 started \(pid=(\d+)\)")
_LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """The fields of one logfmt line, quoted values unquoted."""
    fields = {}
    for key, raw in _LOGFMT_PAIR.findall(line):
        quoted = raw.startswith('"')
        fields[key] = raw[1:-1].encode("ascii").decode("unicode_escape") if quoted else raw
    return fields


def access_lines(logs: LogCollector) -> list[dict[str, str]]:
    """The app's one-line-per-request records in a process's output (honcho prefixes allowed)."""
    records = []
    for line in logs.text().splitlines():
        start = line.find("at=info request_id=")
        if start >= 0:
            records.append(parse_logfmt(line[start:]))
    return records


def access_line(logs: LogCollector, request_id: str, timeout: float = 15.0) -> dict[str, str]:
    """The access line of one request, waiting for it: the app writes it once the response is sent."""
    needle = f"request_id={request_id} "
    assert logs.wait_for(lambda line: needle in line, timeout=timeout), f"no access line for {request_id}"
    [record] = [record for record in access_lines(logs) if record["request_id"] == request_id]
    return record


def python_environment(**extra: str) -> dict[str, str]:
    """A minimal environment with this venv's tools first on PATH, as a buildpack would set it up."""
    environ = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(Path.home()),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    environ.update(extra)
    return environ


class StandaloneSimulator:
    """``python -m callback_app.simulator`` in its own process: MusicAPI as a separate service."""

    def __init__(self, *arguments: str) -> None:
        self.process, self.logs = start_logged(
            [sys.executable, "-m", "callback_app.simulator", "--host", "127.0.0.1", "--port", "0", *arguments],
            python_environment(),
        )
        if not self.logs.wait_for(lambda line: _LISTENING.search(line) is not None):
            self.stop()
            raise RuntimeError(f"the simulator did not start:\n{self.logs.text()}")
        match = _LISTENING.search(self.logs.text())
        assert match is not None
        self.url = match.group(1)

    def control(self, **settings: object) -> None:
        """Set latency, fault, token_ttl, ... (``POST /_control``)."""
        response = requests.post(f"{self.url}/_control", json=settings, timeout=5)
        assert response.status_code == 204, response.text

    def calls(self) -> list[dict[str, Any]]:
        """Every exchange call the simulator has answered (``GET /_control/calls``)."""
        calls: list[dict[str, Any]] = requests.get(f"{self.url}/_control/calls", timeout=5).json()
        return calls

    def reset(self) -> None:
        assert requests.post(f"{self.url}/_control/reset", timeout=5).status_code == 204

    def stop(self) -> int:
        return stop_process_group(self.process)


class Wiretap:
    """A pass-through in front of MusicAPI's API that tells the test the moment an exchange has arrived.

    The simulator lists a call in ``/_control/calls`` only once it has answered it; a test that must act
    while the exchange is still in flight needs to know when it started.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.arrived = threading.Event()
        self.arrived_at: float | None = None
        self.server = ThreadedServer(self.relay)
        self.url = self.server.url

    def relay(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        self.arrived_at = time.time()
        self.arrived.set()
        headers = {name: request.headers[name] for name in ("Authorization", "Content-Type") if name in request.headers}
        upstream = requests.get(
            f"{self.upstream}{request.full_path.rstrip('?')}", headers=headers, timeout=30, allow_redirects=False
        )
        response = Response(upstream.content, upstream.status_code, content_type=upstream.headers.get("Content-Type"))
        return response(environ, start_response)

    def close(self) -> None:
        self.server.close()


class Honcho:
    """``honcho start`` in the repository root: the Procfile exactly as written, as a PaaS runs it."""

    def __init__(self, environ: Mapping[str, str], env_file: Path) -> None:
        self.environ = dict(environ)
        self.url = f"http://127.0.0.1:{self.environ['PORT']}"
        # An empty env file: a developer's .env must not leak into a production-like run.
        env_file.write_text("")
        self.process, self.logs = start_logged(
            [sys.executable, "-m", "honcho", "start", "--no-colour", "--env", str(env_file)], self.environ
        )

    def wait_until_ready(self, workers: int) -> None:
        if not self.logs.wait_for(lambda line: "event=startup" in line, count=workers):
            self.stop()
            raise RuntimeError(f"honcho did not start the web process:\n{self.logs.text()}")

    def web_process_group(self) -> int | None:
        """honcho starts each Procfile process in a session of its own; this is the web one's."""
        match = _STARTED.search(self.logs.text())
        return int(match.group(1)) if match else None

    def terminate(self) -> None:
        """What the PaaS does to stop a dyno: SIGTERM."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Stop everything honcho started, even if honcho itself is stuck."""
        web = self.web_process_group()
        stop_process_group(self.process)
        if web is not None:
            kill_group(web)


ROUTER_HTTP = """\
    log_format router '$request_id $request_method $uri $status upstream=$upstream_addr';
    access_log {directory}/access.log router;
    upstream callback_app {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://callback_app;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Request-ID $request_id;
            proxy_set_header X-Request-Start "t=${{msec}}";
        }}
    }}"""


class Router(Nginx):
    """nginx as the PaaS router: round robin over the given instances, config and logs in ``directory``."""

    def __init__(self, directory: Path, upstreams: list[str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"        server {upstream};" for upstream in upstreams)
        super().__init__(
            directory, ROUTER_HTTP.format(directory=directory, servers=servers, port=self.port), [self.port]
        )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Fleet:
    """App instances behind one round-robin router, all with PUBLIC_URL = the router's address."""

    router: Router
    instances: list[GunicornApp]

    def served_by(self, response: requests.Response) -> int:
        """Which instance answered: the one whose own log has the router's request id."""
        request_id = response.headers["X-Request-ID"]
        needle = f"request_id={request_id} "
        assert wait_until(lambda: any(needle in app.logs.text() for app in self.instances)), request_id
        [index] = [index for index, app in enumerate(self.instances) if needle in app.logs.text()]
        return index

    def describe(self) -> str:
        """Every instance's output, for a failure message."""
        return "\n".join(f"--- instance {index}:\n{app.logs.text()}" for index, app in enumerate(self.instances))

    def upstream_of(self, response: requests.Response) -> str:
        """Where the router says it sent the request (its access log)."""
        request_id = response.headers["X-Request-ID"]
        path = self.router.directory / "access.log"
        lines: list[str] = []

        def logged() -> bool:
            lines[:] = [line for line in path.read_text().splitlines() if line.startswith(f"{request_id} ")]
            return bool(lines)

        assert wait_until(logged), request_id
        return lines[0].rsplit("upstream=", 1)[1]

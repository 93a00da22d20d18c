"""Real local servers for tests: the app under gunicorn (as deployed) and WSGI apps in threads."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ThreadedServer:
    """A WSGI app on 127.0.0.1 in a background thread (the simulator, an upstream stub)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        # Headers and body leave in two writes: without this, each answer waits ~40 ms for a delayed ACK.
        self.server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LogCollector:
    """Reads a process's output line by line and lets tests wait for a line, without sleeping."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.condition = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self.condition:
                self.lines.append(line.rstrip("\n"))
                self.condition.notify_all()
        with self.condition:
            self.closed = True
            self.condition.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = STARTUP_TIMEOUT, count: int = 1) -> bool:
        """Block until ``count`` lines satisfy ``predicate`` (True) or the output ends (False)."""
        with self.condition:
            return (
                self.condition.wait_for(
                    lambda: sum(1 for line in self.lines if predicate(line)) >= count or self.closed, timeout
                )
                and sum(1 for line in self.lines if predicate(line)) >= count
            )

    def text(self) -> str:
        with self.condition:
            return "\n".join(self.lines)


def app_environment(musicapi_url: str, port: int, **overrides: str) -> dict[str, str]:
    """Production-like configuration for the app, pointed at a local MusicAPI."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "LANG": "C.UTF-8",
        "PORT": str(port),
        "SECRET_KEY": TEST_SECRET_KEY,
        "MUSICAPI_SLUG": "test-slug",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MUSICAPI_AUTH_URL": f"{musicapi_url}/auth",
        "MUSICAPI_API_URL": f"{musicapi_url}/api",
        "WEB_CONCURRENCY": "1",
    }
    environ.update(overrides)
    return {key: value for key, value in environ.items() if value != ""}


def start_logged(command: list[str], environ: Mapping[str, str]) -> tuple[subprocess.Popen[str], LogCollector]:
    """Start ``command`` in the repository root, in a session of its own, its output collected by line."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=dict(environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return process, LogCollector(process.stdout)


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False): a bounded readiness poll."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_process_group(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
    """Signal a session leader and wait; if it does not exit in time, kill its whole process group."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(process.pid)
        return process.wait()


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


class GunicornApp:
    """The app started exactly as the Procfile starts it, with the given environment."""

    def __init__(self, environ: Mapping[str, str], *, wait: bool = True) -> None:
        self.environ = dict(environ)
        self.port = int(self.environ["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process, self.logs = start_logged(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "callback_app.wsgi:app"], self.environ
        )
        if wait:
            self.wait_until_ready()

    def wait_until_ready(self) -> None:
        workers = int(self.environ.get("WEB_CONCURRENCY", "1"))
        if not self.logs.wait_for(lambda line: "event=startup" in line, count=workers):
            self.stop()
            raise RuntimeError(f"the app did not start:\n{self.logs.text()}")

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return stop_process_group(self.process, sig)

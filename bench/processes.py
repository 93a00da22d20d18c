"""The benchmark's servers, started and stopped through the test support, and what they cost read from /proc.

Each server runs in a session of its own (tests.support.servers.start_logged) and is stopped by its
process group, on exit, Ctrl-C and SIGTERM alike. What is the bench's own: the Procfile's web line run
through a shell, waiting for every worker, the fake MusicAPI, and CPU and memory from /proc.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callback_app.config import read_server_settings
from tests.support.processes import python_environment
from tests.support.servers import ROOT, app_environment, start_logged, stop_process_group

PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 60.0
_FAKE_LISTENING = re.compile(r"fake musicapi listening on (http://\S+)")


def procfile_line(process_type: str = "web") -> str:
    """The command the Procfile gives ``process_type``, as the PaaS hands it to a shell."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return command.strip()
    raise RuntimeError(f"the Procfile has no {process_type!r} process")


def server_environment(musicapi_url: str, port: int, **overrides: str) -> dict[str, str]:
    """Production-like configuration: PUBLIC_URL on this port, MusicAPI faked, no WEB_CONCURRENCY (its default)."""
    return app_environment(
        musicapi_url, port, PATH=python_environment()["PATH"], MUSICAPI_SLUG="bench", WEB_CONCURRENCY="", **overrides
    )


class Server:
    """One started process (for gunicorn, its master), its output collected line by line.

    Ready once ``marker`` was logged ``workers`` times and that many workers run.
    """

    def __init__(self, name: str, command: list[str], environ: Mapping[str, str], *, workers: int, marker: str) -> None:
        self.name = name
        self.port = int(environ.get("PORT", "0"))
        self.expected_workers = workers
        self.marker = marker
        self.process, self.logs = start_logged(command, environ)

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self) -> list[int]:
        return children(self.pid)

    def wait_ready(self) -> None:
        """Until every worker has started; raise with the end of the log if they do not."""
        lines = max(1, self.expected_workers)
        started = self.logs.wait_for(lambda line: self.marker in line, timeout=READY_TIMEOUT, count=lines)
        if not started or len(self.workers()) < self.expected_workers:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{self.logs.text()[-3000:]}")

    def stop(self) -> None:
        stop_process_group(self.process)

    def save_log(self, directory: Path) -> None:
        (directory / f"{self.name}.log").write_text(self.logs.text() + "\n")


def start_app(name: str, environ: Mapping[str, str]) -> Server:
    """The app as deployed: the Procfile's web line through a shell; each worker logs its startup."""
    return Server(
        name, ["sh", "-c", procfile_line("web")], environ, workers=expected_workers(environ), marker="event=startup"
    )


def start_gunicorn(name: str, arguments: list[str], environ: Mapping[str, str], workers: int) -> Server:
    """Another WSGI app under gunicorn; each worker logs its boot."""
    return Server(name, [PYTHON, "-m", "gunicorn", *arguments], environ, workers=workers, marker="Booting worker")


def expected_workers(environ: Mapping[str, str]) -> int:
    """As many workers as gunicorn.conf.py will start for this environment on this machine."""
    return read_server_settings(environ, cpu_count=os.cpu_count() or 1).workers


@dataclass
class FakeMusicApi:
    """bench/fake_musicapi.py in its own process; ``url`` is where it listens."""

    server: Server
    url: str

    def stop(self) -> None:
        self.server.stop()


def start_fake_musicapi(secret: str) -> FakeMusicApi:
    command = [PYTHON, "-m", "bench.fake_musicapi", "--port", "0", "--secret", secret]
    server = Server("fake_musicapi", command, python_environment(), workers=0, marker="fake musicapi listening")
    server.wait_ready()
    match = _FAKE_LISTENING.search(server.logs.text())
    assert match is not None
    return FakeMusicApi(server, match.group(1))


def run_json(command: list[str], *, timeout: float) -> dict[str, Any]:
    """Run a bench module to completion and return the JSON object on the last line of its output."""
    completed = subprocess.run(
        command, cwd=ROOT, env=python_environment(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# /proc readings


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds ``pid`` has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on this machine since boot (all cores, idle excluded)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    # Guest time is already counted in user time.
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class CpuWatch:
    """The CPU our servers used over one scenario, and the share of the machine everybody else used."""

    def __init__(self, servers: list[Server]) -> None:
        self.pids = [pid for server in servers for pid in (server.pid, *server.workers())]
        self.started = os.times().elapsed
        self.ours = sum(process_cpu_seconds(pid) for pid in self.pids)
        self.busy = machine_busy_seconds()

    def finish(self, client_cpu: float) -> dict[str, float]:
        wall = os.times().elapsed - self.started
        ours = sum(process_cpu_seconds(pid) for pid in self.pids) - self.ours
        busy = machine_busy_seconds() - self.busy
        capacity = wall * (os.cpu_count() or 1)
        return {
            "servers_cpu": ours,
            "client_cpu": client_cpu,
            "background_share": max(0.0, busy - ours - client_cpu) / capacity if capacity else 0.0,
            "wall": wall,
        }


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]

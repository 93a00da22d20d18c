"""Starting, watching and stopping the benchmark's servers; CPU and memory read from /proc.

Every process is started in a session of its own and stopped by its process group, on exit,
on Ctrl-C and on SIGTERM alike.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def procfile_command(process_type: str = "web") -> list[str]:
    """The command the Procfile gives ``process_type``, split like a shell would."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return shlex.split(command)
    raise RuntimeError(f"the Procfile has no {process_type!r} process")


class Server:
    """One started process (and, for gunicorn, its workers), with its output in a log file."""

    def __init__(
        self, name: str, command: list[str], environ: Mapping[str, str], log_dir: Path, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log: IO[bytes] = self.log_path.open("wb")
        executable = shutil.which(command[0], path=environ.get("PATH")) or command[0]
        self.process = subprocess.Popen(
            [executable, *command[1:]],
            cwd=cwd,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self) -> list[int]:
        """Child processes (gunicorn's workers)."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(child) for child in children]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, url: str, workers: int = 0, marker: str | None = None) -> None:
        """Until ``url`` answers 200, ``workers`` workers run and ``marker`` was logged once per worker."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log_text()[-3000:]}")
            answered = _answers(url)
            enough_workers = len(self.workers()) >= workers
            marked = marker is None or self.log_text().count(marker) >= max(1, workers)
            if answered and enough_workers and marked:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready within {READY_TIMEOUT} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.process.wait(5)
        # Workers left behind by a master that died first.
        _signal_group(self.pid, signal.SIGKILL)
        self.log.close()


def _signal_group(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, number)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a 127.0.0.1 URL we built
            return bool(response.status == 200)
    except OSError:
        return False


class Processes:
    """Everything this run started; ``stop_all`` is safe to call twice."""

    def __init__(self) -> None:
        self.servers: list[Server] = []

    def start(
        self, name: str, command: list[str], environ: Mapping[str, str], log_dir: Path, cwd: Path = ROOT
    ) -> Server:
        server = Server(name, command, environ, log_dir, cwd)
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on this machine since boot (all cores, idle excluded)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    # guest time is already counted in user time
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class CpuWatch:
    """Our servers' CPU, and everybody else's, over one scenario."""

    def __init__(self, servers: list[Server]) -> None:
        self.pids = [pid for server in servers for pid in (server.pid, *server.workers())]
        self.started = time.monotonic()
        self.ours = sum(process_cpu_seconds(pid) for pid in self.pids)
        self.busy = machine_busy_seconds()

    def finish(self, client_cpu: float) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        ours = sum(process_cpu_seconds(pid) for pid in self.pids) - self.ours
        busy = machine_busy_seconds() - self.busy
        capacity = wall * (os.cpu_count() or 1)
        return {
            "servers_cpu": ours,
            "client_cpu": client_cpu,
            "background_share": max(0.0, busy - ours - client_cpu) / capacity if capacity else 0.0,
            "wall": wall,
        }

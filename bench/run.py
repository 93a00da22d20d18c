"""``python -m bench``: the app (in cookie mode and in Redis mode), a naive peer and a bare Flask route,
side by side, driven by a load client in its own process; one table at the end (see bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench import scenarios
from bench.processes import (
    FakeMusicApi,
    Server,
    expected_workers,
    load_average,
    procfile_line,
    server_environment,
    start_app,
    start_fake_musicapi,
    start_gunicorn,
)
from bench.report import Report, print_report
from tests.support.redis import RedisServer
from tests.support.servers import free_port

NAIVE_WORKERS = 2


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--soak", type=float, default=60.0, help="seconds of the sustained run (300 for 5 minutes)")
    parser.add_argument("--users", type=int, default=2000, help="callbacks in each burst")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds MusicAPI takes to answer in the burst")
    parser.add_argument("--token-ttl", type=float, default=60.0, help="one-time token lifetime in seconds")
    parser.add_argument("--logs", type=Path, default=None, help="where server logs go (default: a temporary directory)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    log_dir = arguments.logs or Path(tempfile.mkdtemp(prefix="callback_app-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    try:
        report = run(arguments, log_dir)
    except KeyboardInterrupt:
        print("\ninterrupted: every server was stopped", file=sys.stderr)
        return 130
    print_report(report, time.monotonic() - began, str(log_dir))
    return 0 if report.all_met else 1


def _interrupt(number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass
class Servers:
    musicapi: FakeMusicApi
    redis: RedisServer
    app: Server
    app_redis: Server
    naive: Server
    bare: Server


def run(arguments: argparse.Namespace, log_dir: Path) -> Report:
    report = Report()
    report.notes.append(f"machine: {os.cpu_count()} CPUs, load average {load_average()} at the start")
    progress("a callback's own CPU, in-process")
    scenarios.callback_cpu(report)
    secret = secrets.token_hex(16)
    with contextlib.ExitStack() as running:
        progress("starting MusicAPI, Redis, the app in both modes, the naive peer and the bare route")
        servers = start_servers(running, secret, log_dir)
        report.notes.append(
            f"app: `{procfile_line('web')}` ({len(servers.app.workers())} gevent workers, in cookie mode and, "
            f"with REDIS_URL, in Redis mode); bare route: the same gunicorn.conf.py; "
            f"naive peer: gunicorn -w {NAIVE_WORKERS} (sync workers)"
        )
        scenarios.set_musicapi(servers.musicapi.url, latency=0.0, token_ttl=arguments.token_ttl)
        progress("whole-flow throughput, instant MusicAPI")
        scenarios.throughput(report, app=servers.app, naive=servers.naive, bare=servers.bare, secret=secret)
        progress("/api/session with three accounts")
        scenarios.session_reads(
            report, bare=servers.bare, app=servers.app, app_redis=servers.app_redis, redis=servers.redis, secret=secret
        )
        scenarios.set_musicapi(servers.musicapi.url, latency=arguments.latency)
        for label, kind, server, login_cookie in (
            ("app, cookies", "app", servers.app, scenarios.COOKIE_LOGIN),
            ("app, Redis", "app", servers.app_redis, scenarios.REDIS_LOGIN),
            ("naive peer", "naive", servers.naive, ""),
        ):
            progress(f"burst of {arguments.users} callbacks, {label}")
            scenarios.burst(
                report,
                server,
                label=label,
                kind=kind,
                login_cookie=login_cookie,
                secret=secret,
                musicapi_url=servers.musicapi.url,
                users=arguments.users,
                latency=arguments.latency,
                token_ttl=arguments.token_ttl,
            )
        scenarios.set_musicapi(servers.musicapi.url, latency=0.0)
        progress(f"sustained whole flow, {arguments.soak:.0f} s")
        scenarios.soak(report, servers.app, secret, arguments.soak)
    report.notes.append(f"load average at the end {load_average()}")
    return report


def start_servers(running: contextlib.ExitStack, secret: str, log_dir: Path) -> Servers:
    """Everything the scenarios talk to, each stopped (and its log saved) when ``running`` closes."""
    musicapi = start_fake_musicapi(secret)
    running.callback(stop, musicapi.server, log_dir)
    (log_dir / "redis").mkdir(exist_ok=True)
    redis = RedisServer(log_dir / "redis")
    running.callback(redis.stop)
    ports = {name: free_port() for name in ("app", "app_redis", "naive", "bare")}
    environ = {name: server_environment(musicapi.url, port) for name, port in ports.items()}
    environ["app_redis"]["REDIS_URL"] = redis.url
    started = {
        "app": start_app("app-cookies", environ["app"]),
        "app_redis": start_app("app-redis", environ["app_redis"]),
        # No gunicorn.conf.py for the naive peer: plain sync workers, as its tutorial runs it.
        "naive": start_gunicorn(
            "naive",
            [
                "--config",
                os.devnull,
                "-w",
                str(NAIVE_WORKERS),
                "-b",
                f"127.0.0.1:{ports['naive']}",
                "bench.naive_app:app",
            ],
            environ["naive"],
            NAIVE_WORKERS,
        ),
        "bare": start_gunicorn(
            "bare",
            ["--config", "gunicorn.conf.py", "bench.bare_app:app"],
            environ["bare"],
            expected_workers(environ["bare"]),
        ),
    }
    for server in started.values():
        running.callback(stop, server, log_dir)
    for server in started.values():
        server.wait_ready()
    return Servers(musicapi=musicapi, redis=redis, **started)


def stop(server: Server, log_dir: Path) -> None:
    server.stop()
    server.save_log(log_dir)


def progress(message: str) -> None:
    print(f"{message}...", file=sys.stderr, flush=True)

"""In-process micro-benchmarks: sealing and opening an account cookie, and one callback's own CPU.

``python -m bench.micro`` prints one JSON line; ``--profile`` also prints the cProfile top of
the callback loop to stderr (what to look at when a cost target is missed).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask
from werkzeug.wrappers import Response

from bench.tokens import SERVICE, new_login
from callback_app.app import EXTENSION, Parts, create_app
from callback_app.config import Settings
from callback_app.cookies import Sealer
from callback_app.musicapi import IntegrationUser, LoginResult
from callback_app.session import ACCOUNT_PREFIX, ACCOUNT_PURPOSE, IDLE_TIMEOUT, Account, _payload

SEAL_ITERATIONS = 5000
CALLBACK_ITERATIONS = 2000
WARMUP = 200


def realistic_user(service: str = SERVICE) -> IntegrationUser:
    """An account as MusicAPI hands over a Spotify login (token sizes as in the simulator)."""
    return IntegrationUser(
        integration_user_uuid="e75315f0-d1e1-4063-b801-181ad1a954e1",
        name="Zoë O'Brien",
        email="zoe.obrien@example.com",
        image_url="https://cdn.simulator.musicapi.example/avatars/0123456789abcdef.jpg",
        country="pl",
        auth_data={"accessToken": "BQ" + secrets.token_urlsafe(211)[:281], "refreshToken": "AQ" + "x" * 129},
        expires_at=int(time.time() * 1000) + 3_600_000,
    )


def per_call(function: Callable[[], Any], iterations: int, clock: Callable[[], int]) -> dict[str, float]:
    """Mean, median and p99 of one call, in microseconds."""
    for _ in range(WARMUP):
        function()
    samples = []
    for _ in range(iterations):
        started = clock()
        function()
        samples.append(clock() - started)
    samples.sort()
    return {
        "mean_us": statistics.fmean(samples) / 1000,
        "p50_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
    }


def seal_and_open() -> dict[str, Any]:
    sealer = Sealer([secrets.token_urlsafe(48)])
    name = f"{ACCOUNT_PREFIX}{SERVICE}"
    # The payload exactly as the session room builds it for its cookie.
    payload = _payload(Account(service=SERVICE, user=realistic_user(), connected_at=int(time.time())))
    sealed = sealer.seal(name, ACCOUNT_PURPOSE, payload)
    return {
        "cookie_bytes": len(name) + 1 + len(sealed),
        "seal": per_call(lambda: sealer.seal(name, ACCOUNT_PURPOSE, payload), SEAL_ITERATIONS, time.perf_counter_ns),
        "open": per_call(
            lambda: sealer.open(name, ACCOUNT_PURPOSE, sealed, max_age=IDLE_TIMEOUT),
            SEAL_ITERATIONS,
            time.perf_counter_ns,
        ),
    }


class InstantMusicApi:
    """The exchange, stubbed: answers at once with a realistic account."""

    def __init__(self) -> None:
        self.user = realistic_user()

    def exchange(self, login: LoginResult) -> IntegrationUser:
        return dataclasses.replace(self.user, integration_user_uuid=login.integration_user_uuid)


def callback_cpu(profile: bool) -> dict[str, Any]:
    """CPU of ``GET /callback`` through the Flask test client, exchange stubbed, per call."""
    settings = Settings(
        secret_key=secrets.token_urlsafe(48),
        musicapi_slug="bench",
        public_url="http://127.0.0.1:5000",
        musicapi_auth_url="http://127.0.0.1:9/auth",
        musicapi_api_url="http://127.0.0.1:9/api",
    )
    app = create_app(settings)
    # The access line is written as in production, but to /dev/null instead of stdout.
    app.wsgi_app.stream = open(os.devnull, "w")  # type: ignore[attr-defined]  # noqa: SIM115
    parts: Parts = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = dataclasses.replace(parts, musicapi=InstantMusicApi())
    client = app.test_client(use_cookies=False)
    secret = secrets.token_bytes(16)

    def prepared_callback() -> tuple[str, str]:
        response = Response()
        flow = parts.flows.start(response, SERVICE, "/")
        flow_cookie = response.headers.getlist("Set-Cookie")[0].split(";", 1)[0]
        _, data64 = new_login(secret)
        return f"/callback?state={quote(flow.state)}&data64={quote(data64, safe='')}", flow_cookie

    def measure(iterations: int, request: Callable[[str, str], int]) -> list[int]:
        prepared = [prepared_callback() for _ in range(iterations)]
        samples = []
        for path, cookie in prepared:
            started = time.process_time_ns()
            status = request(path, cookie)
            samples.append(time.process_time_ns() - started)
            if status != 303:
                raise RuntimeError(f"the stubbed callback answered {status}")
        return samples

    def callback(path: str, cookie: str) -> int:
        return client.get(path, headers={"Cookie": cookie}).status_code

    measure(WARMUP, callback)
    samples = sorted(measure(CALLBACK_ITERATIONS, callback))
    healthz = time_calls(lambda: client.get("/healthz").status_code, CALLBACK_ITERATIONS, time.process_time_ns)
    bare = Flask("bare")
    bare.add_url_rule("/", "ok", lambda: "ok")
    bare_client = bare.test_client(use_cookies=False)
    bare_flask = time_calls(lambda: bare_client.get("/").status_code, CALLBACK_ITERATIONS, time.process_time_ns)
    result: dict[str, Any] = {
        "mean_ms": statistics.fmean(samples) / 1e6,
        "p50_ms": samples[len(samples) // 2] / 1e6,
        "p99_ms": samples[int(len(samples) * 0.99)] / 1e6,
        "healthz_ms": statistics.median(healthz) / 1e6,
        "bare_flask_ms": statistics.median(bare_flask) / 1e6,
    }
    if profile:
        profiler = cProfile.Profile()
        prepared = [prepared_callback() for _ in range(500)]
        profiler.enable()
        for path, cookie in prepared:
            callback(path, cookie)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        print(text.getvalue(), file=sys.stderr)
    return result


def time_calls(function: Callable[[], Any], iterations: int, clock: Callable[[], int]) -> list[int]:
    samples = []
    for _ in range(iterations):
        started = clock()
        function()
        samples.append(clock() - started)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.add_argument("--profile", action="store_true")
    arguments = parser.parse_args(argv)
    print(json.dumps({"seal_open": seal_and_open(), "callback": callback_cpu(arguments.profile)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

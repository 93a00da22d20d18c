"""One callback's own CPU, in-process: ``create_app``, Flask's test client, and the exchange answered at
once by the fake MusicAPI in a process of its own (so its work is not counted here).

``python -m bench.micro`` prints one JSON line; ``--profile`` also prints the cProfile top of the
callback loop to stderr (what to look at when the target is missed).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask

from bench.processes import start_fake_musicapi
from bench.tokens import SERVICE, new_login
from callback_app.app import create_app
from callback_app.config import read_settings
from callback_app.musicapi.client import MusicApiClient
from callback_app.musicapi.protocol import decode_data64
from tests.support.inprocess import IN_PROCESS_URL, InProcessBrowser
from tests.support.pages import account_cookies_added

CALLBACKS = 1000
WARMUP = 100


class PreparedCallback:
    """A browser that pressed Connect, and the query MusicAPI sends it back with (minted when asked for)."""

    def __init__(self, app: Flask, secret: bytes) -> None:
        self.browser = InProcessBrowser(app)
        self.browser.open_home()
        self.return_query = urlsplit(self.browser.return_url(self.browser.start_login(SERVICE))).query
        self.secret = secret

    def query(self) -> str:
        _, data64 = new_login(self.secret)
        return f"{self.return_query}&data64={quote(data64, safe='')}"

    def come_back(self, query: str) -> None:
        response = self.browser.callback(query)
        if response.status_code != 303 or not account_cookies_added(response):
            raise RuntimeError(f"the callback was not logged in: {response.status_code}")


def cpu_per_call(calls: list[Callable[[], object]]) -> list[int]:
    """Nanoseconds of this process's CPU each call took."""
    samples = []
    for call in calls:
        started = time.process_time_ns()
        call()
        samples.append(time.process_time_ns() - started)
    return samples


def callbacks(app: Flask, secret: bytes, count: int) -> list[Callable[[], object]]:
    """``count`` callbacks ready to be sent, each from a browser of its own, their logins just minted."""
    prepared = [PreparedCallback(app, secret) for _ in range(count)]
    calls: list[Callable[[], object]] = []
    for callback in prepared:
        query = callback.query()
        calls.append(lambda callback=callback, query=query: callback.come_back(query))
    return calls


def exchanges(api_url: str, secret: bytes, count: int) -> list[Callable[[], object]]:
    """The exchange alone, as the callback sends it: the app's client, one pooled connection."""
    client = MusicApiClient(api_url)
    logins = [decode_data64(new_login(secret)[1]) for _ in range(count)]
    return [lambda login=login: client.exchange(login) for login in logins]


def bare_flask(count: int) -> list[int]:
    """The same test client on a Flask route returning "ok": what the harness costs before any app logic."""
    bare = Flask("bare")
    bare.add_url_rule("/", "ok", lambda: "ok")
    client = bare.test_client()
    return cpu_per_call([lambda: client.get("/", base_url=IN_PROCESS_URL) for _ in range(count)])


@contextlib.contextmanager
def access_lines_discarded() -> Iterator[None]:
    """The app writes its access line as in production, to /dev/null instead of stdout."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def milliseconds(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": ordered[len(ordered) // 2] / 1e6,
        "p99_ms": ordered[int(len(ordered) * 0.99)] / 1e6,
        "mean_ms": statistics.fmean(ordered) / 1e6,
    }


def measure(profile: bool) -> dict[str, Any]:
    secret = secrets.token_hex(16)
    fake = start_fake_musicapi(secret)
    try:
        environ = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "MUSICAPI_SLUG": "bench",
            "PUBLIC_URL": IN_PROCESS_URL,
            "MUSICAPI_AUTH_URL": f"{fake.url}/auth",
            "MUSICAPI_API_URL": f"{fake.url}/api",
        }
        with access_lines_discarded():
            app = create_app(read_settings(environ))
            cpu_per_call(callbacks(app, bytes.fromhex(secret), WARMUP))
            samples = cpu_per_call(callbacks(app, bytes.fromhex(secret), CALLBACKS))
            cpu_per_call(exchanges(environ["MUSICAPI_API_URL"], bytes.fromhex(secret), WARMUP))
            exchange = cpu_per_call(exchanges(environ["MUSICAPI_API_URL"], bytes.fromhex(secret), CALLBACKS))
            bare = bare_flask(CALLBACKS)
            if profile:
                profiler = cProfile.Profile()
                profiler.runcall(cpu_per_call, callbacks(app, bytes.fromhex(secret), WARMUP))
    finally:
        fake.stop()
    if profile:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        print(text.getvalue(), file=sys.stderr)
    return {
        "callback": milliseconds(samples),
        "exchange_ms": milliseconds(exchange)["p50_ms"],
        "bare_flask_ms": milliseconds(bare)["p50_ms"],
        "callbacks": CALLBACKS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.add_argument("--profile", action="store_true")
    arguments = parser.parse_args(argv)
    print(json.dumps(measure(arguments.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

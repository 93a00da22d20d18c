"""Fixtures for the Redis store: apps under gunicorn with REDIS_URL, Redis servers a test may stop, and
what a test reads from a browser (its Cookie header, its sealed ticket).

Apps started here are stopped with their module. Modules whose tests stop Redis start a server of
their own, so the session's shared ``redis_server`` never goes down under another test.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from callback_app.cookies import Sealer
from callback_app.session.base import ABSOLUTE_LIFETIME, TICKET_COOKIE, TICKET_PURPOSE
from callback_app.session.redis_backend import KEY_PREFIX, digest
from callback_app.simulator import Simulator
from tests.support.processes import Wiretap
from tests.support.redis import RedisServer
from tests.support.servers import TEST_SECRET_KEY, GunicornApp
from tests.support.user import User

StartApp = Callable[..., GunicornApp]


@pytest.fixture(scope="module")
def launch(start_app: StartApp) -> Iterator[StartApp]:
    """start_app, but the instances of a module are stopped when the module ends."""
    started: list[GunicornApp] = []

    def start(**overrides: str) -> GunicornApp:
        app = start_app(**overrides)
        started.append(app)
        return app

    yield start
    # Cleanup, not a test of shutdown: SIGQUIT stops at once, without draining keep-alive connections.
    for app in started:
        app.terminate(signal.SIGQUIT)
    for app in started:
        app.stop()


@pytest.fixture(scope="module")
def redis_app(launch: StartApp, redis_server: RedisServer) -> GunicornApp:
    """The app as deployed, keeping sessions in the session's shared Redis."""
    return launch(REDIS_URL=redis_server.url)


@pytest.fixture
def visitor(redis_app: GunicornApp, simulator: Simulator) -> User:
    return User(redis_app.url, simulator)


def cookie_header(user: User) -> str:
    """The Cookie header the browser sends to the app."""
    prepared = user.http.prepare_request(requests.Request("GET", user.app_url + "/"))
    return prepared.headers.get("Cookie", "")


def ticket_in(sealed: str | None) -> dict[str, Any]:
    """What a sealed ``sid`` cookie holds (the test knows SECRET_KEY): the session id, its secret, its start."""
    assert sealed is not None, "the browser holds no ticket"
    sealer = Sealer((TEST_SECRET_KEY,), clock=time.time)
    return sealer.open(TICKET_COOKIE, TICKET_PURPOSE, sealed, max_age=ABSOLUTE_LIFETIME).payload


def ticket_of(user: User) -> dict[str, Any]:
    return ticket_in(user.http.cookies.get(TICKET_COOKIE))


def session_key(ticket: dict[str, Any]) -> str:
    """The Redis key of a ticket's session record."""
    return KEY_PREFIX + "s:" + digest(ticket["i"])


def copy_of(user: User) -> User:
    """Another browser holding a copy of this one's cookies (a stolen cookie jar)."""
    thief = User(user.app_url, user.simulator)
    thief.http.cookies.update(user.http.cookies.copy())
    return thief


class HeldExchange(Wiretap):
    """A pass-through in front of MusicAPI's API that, once told to ``hold()``, keeps each exchange
    waiting until the test releases it: the test acts while the exchange is in flight."""

    def __init__(self, upstream: str) -> None:
        self.release = threading.Event()
        self.release.set()
        super().__init__(upstream)

    def hold(self) -> None:
        self.arrived.clear()
        self.release.clear()

    def relay(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.arrived.set()
        self.release.wait(30)
        return super().relay(environ, start_response)

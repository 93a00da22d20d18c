"""Fixtures: a MusicAPI simulator over real HTTP, the app under gunicorn or in process, a real Redis,
and users that click."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from callback_app.app import create_app
from callback_app.settings import Settings
from callback_app.simulator import Simulator, create_simulator_app
from tests.support.clock import FakeClock
from tests.support.inprocess import IN_PROCESS_URL
from tests.support.redis import RedisServer
from tests.support.servers import TEST_SECRET_KEY, GunicornApp, ThreadedServer, app_environment, free_port
from tests.support.user import User

MakeApp = Callable[..., tuple[Flask, FakeClock]]


@pytest.fixture(scope="session")
def musicapi_clock() -> FakeClock:
    """MusicAPI's clock: tests move it to expire one-time tokens."""
    return FakeClock()


@pytest.fixture(scope="session")
def simulator(musicapi_clock: FakeClock) -> Simulator:
    return Simulator(clock=musicapi_clock, slug="test-slug")


@pytest.fixture(scope="session")
def musicapi(simulator: Simulator) -> Iterator[ThreadedServer]:
    """The simulator served over HTTP on 127.0.0.1, playing MusicAPI for every test."""
    server = ThreadedServer(create_simulator_app(simulator))
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_simulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults, latency and recorded calls never leak from one test into the next."""
    simulator: Simulator | None = None
    if "simulator" in request.fixturenames:
        simulator = request.getfixturevalue("simulator")
    yield
    if simulator is not None:
        simulator.reset()


@pytest.fixture(scope="session")
def start_app(musicapi: ThreadedServer) -> Iterator[Callable[..., GunicornApp]]:
    """Start more app servers (each its own gunicorn) with configuration overrides."""
    started: list[GunicornApp] = []

    def start(**overrides: str) -> GunicornApp:
        port = free_port()
        app = GunicornApp(app_environment(musicapi.url, port, **overrides))
        started.append(app)
        return app

    yield start
    # Signal every server first, then wait: each drains its keep-alive connections in parallel.
    for app in started:
        app.terminate()
    for app in started:
        app.stop()


@pytest.fixture(scope="session")
def app_server(start_app: Callable[..., GunicornApp]) -> GunicornApp:
    """The app as deployed: Procfile command, gunicorn.conf.py, gevent worker."""
    return start_app()


@pytest.fixture
def user(app_server: GunicornApp, simulator: Simulator) -> User:
    return User(app_server.url, simulator)


@pytest.fixture
def make_user(app_server: GunicornApp, simulator: Simulator) -> Callable[..., User]:
    def make(**kwargs: object) -> User:
        return User(app_server.url, simulator, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def make_app(musicapi: ThreadedServer) -> MakeApp:
    """Build an in-process app (Flask test client speed) pointed at the HTTP simulator; returns it and its clock.

    Keyword arguments override Settings fields, e.g. ``secret_key_fallbacks=(...)``.
    """

    def make(**overrides: object) -> tuple[Flask, FakeClock]:
        clock = FakeClock()
        fields: dict[str, object] = {
            "secret_key": TEST_SECRET_KEY,
            "musicapi_slug": "test-slug",
            "public_url": IN_PROCESS_URL,
            "musicapi_auth_url": f"{musicapi.url}/auth",
            "musicapi_api_url": f"{musicapi.url}/api",
        }
        fields.update(overrides)
        return create_app(Settings(**fields), clock=clock), clock  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server for the Redis store, shared by the session (tests flush what they need)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()

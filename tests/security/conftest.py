"""Fixtures for the security suite: in-process apps for speed, a hostile MusicAPI, and an https front.

Hypothesis profiles: "ci" (the default, a few hundred examples) and "fuzz" (thousands), chosen
with HYPOTHESIS_PROFILE=fuzz; ``make fuzz`` runs ``pytest tests/security -k fuzz`` with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings

from tests.conftest import MakeApp
from tests.support.inprocess import InProcessBrowser
from tests.support.musicapi import HostileUpstream
from tests.support.servers import GunicornApp, ThreadedServer, free_port
from tests.support.tls import NginxFront

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "fuzz",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PRODUCTION_AUTH_URL = "https://app.musicapi.com"
OTHER_SECRET_KEY = "another-secret-key-abcdefghijklmnopqrstuvwxyz-0123"


@pytest.fixture(scope="module")
def fast_app(make_app: MakeApp) -> Flask:
    """One in-process app per module, shared by table-driven and fuzz tests (each with a fresh browser)."""
    app, _ = make_app()
    return app


@pytest.fixture
def browser(fast_app: Flask) -> InProcessBrowser:
    return InProcessBrowser(fast_app)


@pytest.fixture(scope="session")
def _hostile_server() -> Iterator[tuple[HostileUpstream, ThreadedServer]]:
    upstream = HostileUpstream()
    server = ThreadedServer(upstream.wsgi)
    yield upstream, server
    server.close()


@pytest.fixture
def hostile_upstream(
    _hostile_server: tuple[HostileUpstream, ThreadedServer],
) -> tuple[HostileUpstream, ThreadedServer]:
    """A MusicAPI the test scripts: its exchange answers whatever JSON the test sets (fresh for each test)."""
    upstream, server = _hostile_server
    upstream.reset()
    return upstream, server


class HttpsDeployment:
    """The app behind nginx as behind a PaaS router: https on one port, plain http on another."""

    def __init__(self, app: GunicornApp, front: NginxFront) -> None:
        self.app = app
        self.front = front

    @property
    def url(self) -> str:
        return self.front.https_url

    @property
    def http_url(self) -> str:
        return self.front.http_url

    @property
    def ca_bundle(self) -> str:
        return str(self.front.cert)


@pytest.fixture(scope="session")
def https_deployment(
    start_app: Callable[..., GunicornApp], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpsDeployment]:
    """The app with PUBLIC_URL=https://localhost:Q behind nginx (TLS on Q, plain http on P)."""
    directory: Path = tmp_path_factory.mktemp("nginx")
    directory.chmod(0o755)
    http_port, https_port = free_port(), free_port()
    # MusicAPI's real login host: only the Location of a login redirect uses it, and the CSP names it.
    app = start_app(PUBLIC_URL=f"https://localhost:{https_port}", MUSICAPI_AUTH_URL=PRODUCTION_AUTH_URL)
    front = NginxFront(directory, http_port=http_port, https_port=https_port, app_port=app.port)
    yield HttpsDeployment(app, front)
    front.stop()

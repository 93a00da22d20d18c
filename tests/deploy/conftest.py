"""Fixtures for the deployment suite: app instances under gunicorn, MusicAPI as its own process, a visitor.

Every server a test starts is stopped at teardown, failed test or not; instances are stopped all at
once (each gunicorn takes about a second to drain), so restarts and fleets stay cheap.
"""

from __future__ import annotations

import html
import re
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from urllib.parse import urljoin

import pytest
import requests

from tests.support.processes import Fleet, Router, StandaloneSimulator
from tests.support.servers import STOP_TIMEOUT, GunicornApp, app_environment, free_port, kill_group
from tests.support.user import User

_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
_HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Launcher:
    """Starts app instances (each its own gunicorn, as the Procfile runs it) and stops them all at the end."""

    def __init__(self) -> None:
        self.started: list[GunicornApp] = []

    def start(self, musicapi_url: str, *, port: int | None = None, **overrides: str) -> GunicornApp:
        app = GunicornApp(app_environment(musicapi_url, port or free_port(), **overrides))
        self.started.append(app)
        return app

    def retire(self, app: GunicornApp) -> None:
        """SIGTERM without waiting, as a PaaS retires the old dynos of a restart."""
        if app.process.poll() is None:
            app.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        # Cleanup, not a test of shutdown: SIGQUIT stops at once, without waiting for keep-alive connections.
        for app in self.started:
            if app.process.poll() is None:
                app.process.send_signal(signal.SIGQUIT)
        for app in self.started:
            try:
                app.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                kill_group(app.process.pid)
                app.process.wait()


@pytest.fixture
def launcher() -> Iterator[Launcher]:
    launcher = Launcher()
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def module_launcher() -> Iterator[Launcher]:
    launcher = Launcher()
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def start_fleet(tmp_path_factory: pytest.TempPathFactory, module_launcher: Launcher) -> Iterator[Callable[..., Fleet]]:
    """Start one instance per configuration override, then nginx in front of them (all stopped with the module)."""
    routers: list[Router] = []

    def start(musicapi_url: str, configurations: Sequence[Mapping[str, str]]) -> Fleet:
        router_port = free_port()
        public_url = f"http://127.0.0.1:{router_port}"
        instances = [module_launcher.start(musicapi_url, PUBLIC_URL=public_url, **dict(c)) for c in configurations]
        directory = tmp_path_factory.mktemp("router")
        router = Router(directory, [f"127.0.0.1:{app.port}" for app in instances], port=router_port)
        routers.append(router)
        return Fleet(router, instances)

    yield start
    for router in routers:
        router.stop()


@pytest.fixture(scope="module")
def standalone_musicapi() -> Iterator[StandaloneSimulator]:
    """MusicAPI played by ``python -m callback_app.simulator`` (gevent), in a process of its own."""
    simulator = StandaloneSimulator("--server", "gevent", "--slug", "test-slug")
    yield simulator
    simulator.stop()


@pytest.fixture
def musicapi_process(standalone_musicapi: StandaloneSimulator) -> Iterator[StandaloneSimulator]:
    """The standalone simulator, back to normal behaviour after each test."""
    yield standalone_musicapi
    standalone_musicapi.reset()


class Visitor(User):
    """A person who logs in on MusicAPI's real (simulated) login pages, not through an in-process shortcut."""

    def __init__(self, app_url: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(app_url, simulator=None, headers=headers)  # type: ignore[arg-type]

    def log_in_at_musicapi(self, login_response: requests.Response, choice: str = "login") -> str:
        """Open MusicAPI's login page, press a button; return where MusicAPI sends the browser back."""
        assert login_response.status_code == 303, login_response.text[:500]
        page_url = login_response.headers["Location"]
        # Whatever the visitor asks of the app, MusicAPI's pages are an ordinary keep-alive site.
        keep_alive = {"Connection": "keep-alive"}
        page = self.http.get(page_url, headers=keep_alive, timeout=30)
        assert page.status_code == 200, page.text[:500]
        action = _FORM_ACTION.search(page.text)
        assert action, "the login page has no form"
        form = {name: html.unescape(value) for name, value in _HIDDEN_FIELD.findall(page.text)}
        form["choice"] = choice
        action_url = urljoin(page_url, html.unescape(action.group(1)))
        answer = self.http.post(action_url, data=form, headers=keep_alive, allow_redirects=False, timeout=30)
        assert answer.status_code == 302, answer.text[:500]
        location: str = answer.headers["Location"]
        return location

    def connect_through_pages(self, service: str = "spotify") -> requests.Response:
        """The whole login over HTTP: home, Connect, MusicAPI's page and form, back to the callback."""
        self.open_home()
        callback_url = self.log_in_at_musicapi(self.start_login(service))
        return self.come_back(callback_url)

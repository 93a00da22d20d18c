"""The app run as a PaaS runs it: honcho reads the Procfile, PORT comes from outside, SIGTERM stops it gently.

Production configuration (no MUSICAPI_SIMULATOR, DYNO set); MusicAPI is the simulator in a process of
its own, and the person logs in on its HTML pages over HTTP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support.processes import Honcho, StandaloneSimulator, Wiretap, access_lines, group_alive, python_environment
from tests.support.servers import TEST_SECRET_KEY, free_port, wait_until

from .conftest import Visitor

pytestmark = pytest.mark.deploy

WORKERS = 2
# The simulator's answer to the exchange takes this long: SIGTERM lands while the app waits for it.
EXCHANGE_LATENCY = 3.0
# honcho's exit code after it was stopped by SIGTERM (128 + 15); its children's own codes are logged.
HONCHO_STOPPED_BY_SIGTERM = 143
# The app's exit code for a configuration it cannot run with (honcho passes its process's code on).
CONFIGURATION_ERROR = 3
# A draining gevent worker also waits for idle keep-alive connections to time out (gunicorn.conf.py
# keepalive, 5 s): harmless within the PaaS's 30 s, but the tests need not pay for it.
CLOSE_AFTER_EACH_REQUEST = {"Connection": "close"}


@pytest.fixture
def run_procfile(tmp_path: Path, musicapi_process: StandaloneSimulator) -> Iterator[Callable[..., Honcho]]:
    """``honcho start`` with a production environment; MUSICAPI_API_URL may go through a wiretap.

    Keyword arguments override variables; with ``ready=False`` the test waits for what happens itself.
    """
    started: list[Honcho] = []

    def run(api_base: str | None = None, *, ready: bool = True, **overrides: str) -> Honcho:
        port = free_port()
        production = {
            "PORT": str(port),
            "DYNO": "web.1",
            "WEB_CONCURRENCY": str(WORKERS),
            "SECRET_KEY": TEST_SECRET_KEY,
            "MUSICAPI_SLUG": "test-slug",
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "MUSICAPI_AUTH_URL": f"{musicapi_process.url}/auth",
            "MUSICAPI_API_URL": f"{api_base or musicapi_process.url}/api",
        }
        environ = python_environment(**{**production, **overrides})
        honcho = Honcho(environ, tmp_path / f"empty-{len(started)}.env")
        started.append(honcho)
        if ready:
            honcho.wait_until_ready(WORKERS)
        return honcho

    yield run
    for honcho in started:
        honcho.stop()


def assert_stopped_cleanly(app: Honcho) -> None:
    """honcho exits by itself once gunicorn has drained: no timeout, no SIGKILL, no process left."""
    web_group = app.web_process_group()
    assert web_group is not None
    assert app.wait() == HONCHO_STOPPED_BY_SIGTERM
    output = app.logs.text()
    assert "Shutting down: Master" in output
    # The Procfile execs gunicorn, so the SIGTERM reaches gunicorn itself (not a shell) and it exits 0.
    assert "web.1 stopped (rc=0)" in output, output
    for sign_of_trouble in ("graceful timeout", "SIGKILL", "Reason:", "Traceback"):
        assert sign_of_trouble not in output
    # The orphaned gunicorn master is reaped by init a moment after honcho has seen its output end.
    assert wait_until(lambda: not group_alive(web_group), timeout=5), "processes of the web dyno outlived honcho"


def test_honcho_runs_the_procfile_on_the_given_port_and_a_person_logs_in(
    run_procfile: Callable[..., Honcho], musicapi_process: StandaloneSimulator
) -> None:
    app = run_procfile()
    port = app.environ["PORT"]
    assert f"Listening at: http://0.0.0.0:{port}" in app.logs.text()
    assert "simulator=off" in app.logs.text()
    visitor = Visitor(app.url, headers=CLOSE_AFTER_EACH_REQUEST)

    response = visitor.connect_through_pages("spotify")

    assert response.status_code == 303, response.text[:500]
    assert response.headers["Location"] == "/"
    assert "acct-spotify" in response.cookies
    [account] = visitor.accounts()
    assert account["service"] == "spotify"
    [exchange] = musicapi_process.calls()
    assert (exchange["authorization_scheme"], exchange["status"]) == ("Token", 200)
    assert exchange["integration_user_uuid"] == account["integrationUserUUID"]

    app.terminate()
    assert_stopped_cleanly(app)


def test_sigterm_lets_an_exchange_in_flight_finish_before_the_app_exits(
    run_procfile: Callable[..., Honcho], musicapi_process: StandaloneSimulator
) -> None:
    wiretap = Wiretap(musicapi_process.url)
    try:
        app = run_procfile(api_base=wiretap.url)
        visitor = Visitor(app.url, headers=CLOSE_AFTER_EACH_REQUEST)
        visitor.open_home()
        callback_url = visitor.log_in_at_musicapi(visitor.start_login("spotify"))
        musicapi_process.control(latency=EXCHANGE_LATENCY)
        answers: list[requests.Response] = []
        person = threading.Thread(target=lambda: answers.append(visitor.come_back(callback_url)), daemon=True)
        person.start()

        assert wiretap.arrived.wait(15), "the app never called MusicAPI's exchange"
        terminated_at = time.time()
        app.terminate()
        person.join(30)
    finally:
        wiretap.close()

    [response] = answers
    assert response.status_code == 303, response.text[:500]
    assert "acct-spotify" in response.cookies
    [exchange] = musicapi_process.calls()
    assert exchange["status"] == 200
    # The app had sent the exchange before the SIGTERM, and MusicAPI answered it after: it was in flight.
    assert wiretap.arrived_at is not None
    assert wiretap.arrived_at <= terminated_at < exchange["at"] + EXCHANGE_LATENCY
    assert_stopped_cleanly(app)
    output = app.logs.text()
    [callback] = [record for record in access_lines(app.logs) if record["path"] == "/callback"]
    assert (callback["status"], callback["outcome"]) == ("303", "connected")
    assert output.index("Handling signal: term") < output.index(f"request_id={callback['request_id']}")


@pytest.mark.parametrize("value", ["abc", "0", "2.5"])
def test_a_bad_web_concurrency_stops_the_dyno_with_the_apps_one_line_error(
    run_procfile: Callable[..., Honcho], value: str
) -> None:
    app = run_procfile(ready=False, WEB_CONCURRENCY=value)

    assert app.wait() == CONFIGURATION_ERROR
    output = app.logs.text()
    [line] = [line for line in output.splitlines() if "configuration error" in line]
    assert line.endswith("callback_app: configuration error: WEB_CONCURRENCY must be a number between 1 and 64")
    assert f"web.1 stopped (rc={CONFIGURATION_ERROR})" in output
    # The check in the Procfile stops the dyno before gunicorn parses anything itself.
    for sign_of_gunicorn in ("Traceback", "Starting gunicorn", "Listening at", "Booting worker"):
        assert sign_of_gunicorn not in output

"""Operations, read from the gunicorn process's own output: startup configuration, health, one line per request."""

from __future__ import annotations

import re
import time

import pytest

from callback_app.settings import EXCHANGE_DEADLINE
from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.processes import access_line, access_lines, parse_logfmt
from tests.support.servers import TEST_SECRET_KEY, GunicornApp, ThreadedServer, app_environment, free_port
from tests.support.user import User

from .conftest import Launcher

pytestmark = pytest.mark.deploy

CLIENT_ID = "ops-client"
CLIENT_SECRET = "ops-client-secret-never-logged"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
# Longer than the exchange's whole deadline: the app gives up first.
HANG_SECONDS = EXCHANGE_DEADLINE + 5


@pytest.fixture(scope="module")
def app(module_launcher: Launcher, musicapi: ThreadedServer) -> GunicornApp:
    return module_launcher.start(musicapi.url, MUSICAPI_CLIENT_ID=CLIENT_ID, MUSICAPI_CLIENT_SECRET=CLIENT_SECRET)


@pytest.fixture
def user(app: GunicornApp, simulator: Simulator) -> User:
    return User(app.url, simulator)


def test_startup_logs_the_effective_configuration_with_secrets_masked(app: GunicornApp) -> None:
    [line] = [line for line in app.logs.text().splitlines() if "event=startup" in line]
    startup = parse_logfmt(line)

    assert startup["public_url"] == app.url
    assert startup["musicapi_slug"] == "test-slug"
    assert startup["musicapi_api_url"].endswith("/api")
    assert startup["client_id"] == CLIENT_ID
    assert startup["simulator"] == "off"
    # Masked values show only their length.
    for name, secret in (("secret_key", TEST_SECRET_KEY), ("client_secret", CLIENT_SECRET)):
        assert startup[name].startswith("***"), line
        assert str(len(secret)) in startup[name], line
    assert TEST_SECRET_KEY not in app.logs.text()
    assert CLIENT_SECRET not in app.logs.text()


def test_a_bad_configuration_stops_startup_with_one_line_naming_every_problem() -> None:
    environ = app_environment("http://127.0.0.1:9", free_port(), SECRET_KEY="", PUBLIC_URL="", MUSICAPI_SLUG="")
    app = GunicornApp(environ, wait=False)

    assert app.process.wait(30) == 3
    [line] = [line for line in app.logs.text().splitlines() if "configuration error" in line]
    for name in ("SECRET_KEY", "PUBLIC_URL", "MUSICAPI_SLUG"):
        assert name in line


def test_health_and_readiness_answer_json(user: User) -> None:
    health = user.get("/healthz")
    ready = user.get("/readyz")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["store"] == "cookies"


def test_every_request_is_one_logfmt_line_with_the_routers_request_id_and_queue_time(
    app: GunicornApp, user: User
) -> None:
    queued_since_ms = int(time.time() * 1000) - 250
    response = user.get(
        "/healthz?probe=from-the-router",
        headers={"X-Request-ID": "router-7f3a-0001", "X-Request-Start": f"t={queued_since_ms}"},
    )

    assert response.headers["X-Request-ID"] == "router-7f3a-0001"
    record = access_line(app.logs, "router-7f3a-0001")
    assert record["at"] == "info"
    assert (record["method"], record["path"], record["status"]) == ("GET", "/healthz", "200")
    assert float(record["duration_ms"]) >= 0
    assert 250 <= int(record["queue_ms"]) < 60_000
    assert "probe" not in app.logs.text()


@pytest.mark.parametrize("incoming", [None, "two words", "x" * 200], ids=["none", "unsafe", "too-long"])
def test_without_a_usable_router_request_id_one_is_generated(
    app: GunicornApp, user: User, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    response = user.get("/readyz", headers=headers)

    request_id = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(request_id)
    record = access_line(app.logs, request_id)
    assert "queue_ms" not in record
    assert "outcome" not in record


def test_callbacks_log_their_outcome_and_never_their_query(app: GunicornApp, user: User, simulator: Simulator) -> None:
    connected = user.connect("spotify")
    first, second = user.start_login("deezer"), user.start_login("deezer")
    mismatched = user.come_back(user.callback_url(first, encode_data64(simulator.issue_login("deezer"))))
    simulator.hang_seconds = HANG_SECONDS
    simulator.fault = "hang"
    login = simulator.issue_login("deezer")
    timed_out = user.come_back(user.callback_url(second, encode_data64(login)))

    outcomes = {}
    for response in (connected, mismatched, timed_out):
        record = access_line(app.logs, response.headers["X-Request-ID"])
        assert record["path"] == "/callback"
        outcomes[record["outcome"]] = int(record["status"])
    assert outcomes == {"connected": 303, "state_mismatch": 400, "upstream_timeout": 504}
    assert [response.status_code for response in (connected, mismatched, timed_out)] == [303, 400, 504]
    output = app.logs.text()
    for secret in ("data64", "state=", login["oneTimeToken"], login["integrationUserUUID"]):
        assert secret not in output
    assert all(set(record) <= LOGGED_FIELDS for record in access_lines(app.logs))


LOGGED_FIELDS = {
    "at",
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "queue_ms",
    "outcome",
    "exchange_wait_ms",
}

"""Fresh tokens: an expired account is refreshed with the client credentials when /api/session is read.

The app runs in its own process on real time, so the tokens are made to expire at MusicAPI's end: this
module's simulator has its own clock, set back while it issues tokens, and MusicAPI gives every token an
hour from its own clock.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from callback_app.cookies import Sealer
from callback_app.session.base import ACCOUNT_PURPOSE, IDLE_TIMEOUT
from callback_app.simulator import Simulator, create_simulator_app
from callback_app.simulator.state import AUTH_DATA_LIFETIME_MS
from tests.support.clock import FakeClock
from tests.support.servers import TEST_SECRET_KEY, GunicornApp, ThreadedServer
from tests.support.user import User

from .conftest import Launcher

pytestmark = pytest.mark.deploy

ACCOUNT_COOKIE = "acct-spotify"
CLIENT_ID = "simulator-client"
CLIENT_SECRET = "simulator-secret"
ALREADY_EXPIRED = -120
WITHIN_THE_LAST_MINUTE = 30
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.DOTALL)


@pytest.fixture(scope="module")
def token_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def token_simulator(token_clock: FakeClock) -> Simulator:
    return Simulator(clock=token_clock, slug="test-slug", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture(scope="module")
def token_musicapi(token_simulator: Simulator) -> Iterator[ThreadedServer]:
    server = ThreadedServer(create_simulator_app(token_simulator))
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _musicapi_back_to_normal(token_simulator: Simulator, token_clock: FakeClock) -> Iterator[None]:
    token_clock.now = time.time()
    yield
    token_simulator.reset()


@pytest.fixture(scope="module")
def refreshing_app(module_launcher: Launcher, token_musicapi: ThreadedServer) -> GunicornApp:
    return module_launcher.start(token_musicapi.url, MUSICAPI_CLIENT_ID=CLIENT_ID, MUSICAPI_CLIENT_SECRET=CLIENT_SECRET)


@pytest.fixture(scope="module")
def plain_app(module_launcher: Launcher, token_musicapi: ThreadedServer) -> GunicornApp:
    return module_launcher.start(token_musicapi.url)


@pytest.fixture(scope="module")
def misconfigured_app(module_launcher: Launcher, token_musicapi: ThreadedServer) -> GunicornApp:
    return module_launcher.start(
        token_musicapi.url, MUSICAPI_CLIENT_ID=CLIENT_ID, MUSICAPI_CLIENT_SECRET="not-the-client-secret"
    )


def connect_with_tokens_expiring_in(user: User, clock: FakeClock, seconds: float, service: str = "spotify") -> None:
    """Log in while MusicAPI's clock is set back, so the tokens it issues die ``seconds`` from now."""
    clock.now = time.time() - AUTH_DATA_LIFETIME_MS / 1000 + seconds
    response = user.connect(service)
    clock.now = time.time()
    assert response.status_code == 303, response.text[:500]


def opened_account(value: str) -> dict[str, Any]:
    """The account cookie's sealed payload (the test holds SECRET_KEY, as the app does)."""
    payload: dict[str, Any] = (
        Sealer([TEST_SECRET_KEY], clock=time.time)
        .open(ACCOUNT_COOKIE, ACCOUNT_PURPOSE, value, max_age=IDLE_TIMEOUT)
        .payload
    )
    return payload


def read_session(user: User) -> tuple[requests.Response, dict[str, Any]]:
    response = user.get("/api/session")
    assert response.status_code == 200, response.text
    [account] = response.json()["accounts"]
    return response, account


def basic_calls(simulator: Simulator) -> list[str]:
    return [call.integration_user_uuid for call in simulator.calls() if call.authorization_scheme == "Basic"]


@pytest.mark.parametrize("seconds_left", [ALREADY_EXPIRED, WITHIN_THE_LAST_MINUTE], ids=["expired", "expiring"])
def test_an_expired_account_is_refreshed_when_the_session_is_read(
    refreshing_app: GunicornApp, token_simulator: Simulator, token_clock: FakeClock, seconds_left: int
) -> None:
    user = User(refreshing_app.url, token_simulator)
    connect_with_tokens_expiring_in(user, token_clock, seconds_left)
    stale = opened_account(user.http.cookies[ACCOUNT_COOKIE])
    assert stale["x"] / 1000 < time.time() + 60

    response, account = read_session(user)

    assert account["expired"] is False
    assert "refreshError" not in account
    assert account["expiresAt"] / 1000 > time.time() + 3000
    assert account["authData"]["accessToken"] != stale["a"]["accessToken"]
    assert basic_calls(token_simulator) == [stale["u"]]
    resealed = opened_account(response.cookies[ACCOUNT_COOKIE])
    assert (resealed["u"], resealed["x"], resealed["a"]) == (stale["u"], account["expiresAt"], account["authData"])
    assert resealed["r"] is not None
    # Fresh now: reading again asks MusicAPI nothing.
    _, again = read_session(user)
    assert again["expiresAt"] == account["expiresAt"]
    assert len(basic_calls(token_simulator)) == 1


def test_the_refreshed_user_comes_only_from_the_sealed_cookie(
    refreshing_app: GunicornApp, token_simulator: Simulator, token_clock: FakeClock
) -> None:
    someone_else = User(refreshing_app.url, token_simulator)
    assert someone_else.connect("spotify").status_code == 303
    [their_account] = someone_else.accounts()
    their_uuid = their_account["integrationUserUUID"]
    user = User(refreshing_app.url, token_simulator)
    connect_with_tokens_expiring_in(user, token_clock, ALREADY_EXPIRED)
    my_uuid = opened_account(user.http.cookies[ACCOUNT_COOKIE])["u"]

    response = user.get(
        f"/api/session?integrationUserUUID={their_uuid}&uuid={their_uuid}",
        headers={"X-Integration-User-UUID": their_uuid, "X-User-UUID": str(uuid.uuid4())},
    )

    assert response.status_code == 200, response.text
    [account] = response.json()["accounts"]
    assert account["integrationUserUUID"] == my_uuid
    assert basic_calls(token_simulator) == [my_uuid]


def test_without_client_credentials_an_account_in_its_last_minute_is_still_connected(
    plain_app: GunicornApp, token_simulator: Simulator, token_clock: FakeClock
) -> None:
    user = User(plain_app.url, token_simulator)
    connect_with_tokens_expiring_in(user, token_clock, WITHIN_THE_LAST_MINUTE)

    page = user.get("/")
    _, account = read_session(user)

    assert page.status_code == 200
    assert "Connected · Valid for" in page.text
    assert "Expired" not in page.text
    assert not any("Reconnect" in form for form in FORM.findall(page.text))
    assert account["expired"] is False
    assert "refreshError" not in account
    assert basic_calls(token_simulator) == []


def assert_resealed_with_the_old_tokens(response: requests.Response, stale: dict[str, Any], code: str) -> None:
    """The account cookie keeps its tokens and records the failed try, so the next minute asks nothing."""
    resealed = opened_account(response.cookies[ACCOUNT_COOKIE])
    assert (resealed["a"], resealed["x"], resealed["re"]) == (stale["a"], stale["x"], code)
    assert abs(resealed["rt"] - time.time()) < 60


@pytest.mark.parametrize(
    "case",
    [("refreshing_app", "http_500", "upstream_error"), ("misconfigured_app", None, "upstream_refused")],
    ids=["musicapi-broken", "wrong-client-secret"],
)
def test_a_failed_refresh_is_reported_and_not_retried_within_the_minute(
    request: pytest.FixtureRequest,
    token_simulator: Simulator,
    token_clock: FakeClock,
    case: tuple[str, str | None, str],
) -> None:
    app_name, fault, code = case
    app: GunicornApp = request.getfixturevalue(app_name)
    user = User(app.url, token_simulator)
    connect_with_tokens_expiring_in(user, token_clock, ALREADY_EXPIRED)
    stale = opened_account(user.http.cookies[ACCOUNT_COOKIE])
    token_simulator.fault = fault

    response, account = read_session(user)

    assert (account["expired"], account["refreshError"]) == (True, code)
    assert_resealed_with_the_old_tokens(response, stale, code)
    assert len(basic_calls(token_simulator)) == 1
    page = user.get("/")
    assert page.status_code == 200
    assert "Expired — reconnect to keep using it" in page.text
    assert "renew this connection just now" in page.text
    # MusicAPI is back, but the account was tried a moment ago: the page does not wait for another try.
    token_simulator.fault = None
    _, again = read_session(user)
    assert (again["expired"], again["refreshError"]) == (True, code)
    assert len(basic_calls(token_simulator)) == 1


@pytest.mark.parametrize(
    "case",
    [("refreshing_app", "http_500", "upstream_error", 1), ("misconfigured_app", None, "upstream_refused", 2)],
    ids=["musicapi-broken-asked-once", "refused-asked-for-each"],
)
def test_a_failing_musicapi_is_asked_once_per_page_however_many_accounts_expired(
    request: pytest.FixtureRequest,
    token_simulator: Simulator,
    token_clock: FakeClock,
    case: tuple[str, str | None, str, int],
) -> None:
    app_name, fault, code, calls = case
    app: GunicornApp = request.getfixturevalue(app_name)
    user = User(app.url, token_simulator)
    for service in ("spotify", "deezer"):
        connect_with_tokens_expiring_in(user, token_clock, ALREADY_EXPIRED, service)
    stale = opened_account(user.http.cookies[ACCOUNT_COOKIE])
    token_simulator.fault = fault

    response = user.get("/api/session")

    assert response.status_code == 200, response.text
    accounts = response.json()["accounts"]
    assert sorted((a["service"], a["expired"], a["refreshError"]) for a in accounts) == [
        ("deezer", True, code),
        ("spotify", True, code),
    ]
    # A broken MusicAPI would make every further try wait too; a refusal is about one account.
    assert len(basic_calls(token_simulator)) == calls
    assert_resealed_with_the_old_tokens(response, stale, code)

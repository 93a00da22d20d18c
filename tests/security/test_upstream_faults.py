"""Upstream faults: whatever MusicAPI does, the person gets a clear page with the contract's status, in bounded time,
and a spent one-time token is never sent twice."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from callback_app.errors import UpstreamError, UpstreamTimeout
from callback_app.musicapi import LoginResult, MusicApiClient
from callback_app.simulator import Simulator
from tests.support.servers import GunicornApp, ThreadedServer, free_port
from tests.support.user import User, encode_data64

from .helpers import HostileUpstream, account_cookies_added, profile

FAULT_PAGES = {
    "http_500": (502, "MusicAPI had a problem"),
    "http_401": (502, "MusicAPI did not accept the login"),
    "http_404": (502, "MusicAPI did not accept the login"),
    "non_json": (502, "MusicAPI had a problem"),
    "huge_body": (502, "MusicAPI had a problem"),
    "wrong_shape": (502, "MusicAPI had a problem"),
    "redirect": (502, "MusicAPI had a problem"),
    "empty_body": (502, "MusicAPI had a problem"),
}


def log_in_and_come_back(user: User, service: str = "spotify") -> tuple[float, object, str]:
    login = user.start_login(service)
    document = user.simulator.issue_login(service)
    data64 = encode_data64(document)
    started = time.monotonic()
    response = user.come_back(user.callback_url(login, data64))
    return time.monotonic() - started, response, str(document["oneTimeToken"])


@pytest.mark.parametrize("fault", FAULT_PAGES)
def test_a_broken_musicapi_gets_a_clear_page_and_one_exchange_call(
    user: User, simulator: Simulator, fault: str
) -> None:
    simulator.fault = fault
    elapsed, response, token = log_in_and_come_back(user)
    status, title = FAULT_PAGES[fault]

    assert response.status_code == status  # type: ignore[attr-defined]
    assert title in response.text  # type: ignore[attr-defined]
    assert "Try again" in response.text  # type: ignore[attr-defined]
    assert token not in response.text  # type: ignore[attr-defined]
    assert not account_cookies_added(response)
    assert elapsed < 5
    assert len(simulator.calls()) == 1, "a spent token is never retried"
    assert user.accounts() == []


def test_after_a_fault_a_new_login_works(user: User, simulator: Simulator) -> None:
    simulator.fault = "http_500"
    log_in_and_come_back(user)
    simulator.fault = None

    assert user.connect("spotify").status_code == 303
    assert user.connected_services() == ["spotify"]


def test_musicapi_down_gets_a_clear_502(start_app: Callable[..., GunicornApp], simulator: Simulator) -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}/api"
    app = start_app(MUSICAPI_API_URL=nobody_listens)
    user = User(app.url, simulator)

    elapsed, response, _ = log_in_and_come_back(user)

    assert response.status_code == 502  # type: ignore[attr-defined]
    assert "reach MusicAPI" in response.text  # type: ignore[attr-defined]
    assert elapsed < 5


def deadline_client(api_url: str) -> MusicApiClient:
    """A client with a 1 s deadline whose reads may each wait 0.8 s.

    That is longer than the simulator's 0.5 s trickle, so only the total deadline stops it.
    """
    client = MusicApiClient(api_url)
    client.connect_timeout = 0.2
    client.total_timeout = 1.0
    return client


class TestTheExchangeClientHasATotalDeadline:
    """MusicApiClient unit tests with a short deadline, against the simulator's slow faults."""

    @pytest.fixture
    def client(self, musicapi: ThreadedServer) -> MusicApiClient:
        return deadline_client(f"{musicapi.url}/api")

    def login(self, simulator: Simulator) -> LoginResult:
        document = simulator.issue_login("spotify")
        return LoginResult("spotify", document["integrationUserUUID"], document["oneTimeToken"])

    def test_a_hanging_musicapi_times_out(self, client: MusicApiClient, simulator: Simulator) -> None:
        simulator.fault = "hang"
        simulator.hang_seconds = client.total_timeout + 0.5
        started = time.monotonic()

        with pytest.raises(UpstreamTimeout):
            client.exchange(self.login(simulator))

        assert time.monotonic() - started < client.total_timeout + 0.5
        assert len(simulator.calls()) == 1

    def test_a_body_trickling_forever_times_out(self, client: MusicApiClient, simulator: Simulator) -> None:
        simulator.fault = "slow_body"
        simulator.slow_body_seconds = 2.0
        started = time.monotonic()

        with pytest.raises(UpstreamTimeout):
            client.exchange(self.login(simulator))

        assert time.monotonic() - started < client.total_timeout + 0.6
        assert len(simulator.calls()) == 1

    def test_a_body_that_stalls_mid_way_is_a_timeout(
        self, client: MusicApiClient, hostile_upstream: tuple[HostileUpstream, ThreadedServer]
    ) -> None:
        upstream, server = hostile_upstream
        upstream.answer(profile())
        upstream.stall_seconds = 5.0
        client = deadline_client(f"{server.url}/api")
        started = time.monotonic()

        with pytest.raises(UpstreamError) as raised:
            client.exchange(LoginResult("spotify", str(uuid.uuid4()), str(uuid.uuid4())))

        assert time.monotonic() - started < client.total_timeout + 0.5
        assert upstream.calls == 1
        assert isinstance(raised.value, UpstreamTimeout), f"got {type(raised.value).__name__}"

    def test_a_huge_body_is_cut_off(self, client: MusicApiClient, simulator: Simulator) -> None:
        simulator.fault = "huge_body"

        with pytest.raises(UpstreamError):
            client.exchange(self.login(simulator))


def test_a_hanging_musicapi_gets_a_504_within_the_apps_deadline(user: User, simulator: Simulator) -> None:
    # The one test that waits the app's real deadline (MusicApiClient.total_timeout, 10 s).
    simulator.fault = "hang"
    # Longer than the app waits, short enough not to hold the simulator's thread for long after.
    simulator.hang_seconds = MusicApiClient.total_timeout

    elapsed, response, _ = log_in_and_come_back(user)

    assert response.status_code == 504  # type: ignore[attr-defined]
    assert "too slow" in response.text  # type: ignore[attr-defined]
    assert elapsed < MusicApiClient.total_timeout + 1
    assert len(simulator.calls()) == 1

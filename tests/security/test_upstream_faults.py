"""Upstream faults: whatever MusicAPI does, the person gets a clear page with the contract's status, in bounded time,
and a spent one-time token is never sent twice."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
import requests

from callback_app.errors import UpstreamError, UpstreamTimeout
from callback_app.musicapi.client import MusicApiClient
from callback_app.musicapi.protocol import IntegrationUser, token_authorization
from callback_app.simulator import Simulator
from tests.support.musicapi import HostileUpstream, encode_data64, profile
from tests.support.pages import account_cookies_added, error_code_in
from tests.support.servers import GunicornApp, ThreadedServer, free_port
from tests.support.user import User

FAULT_PAGES = {
    "http_500": (502, "upstream_error"),
    "http_401": (502, "upstream_refused"),
    "http_404": (502, "upstream_refused"),
    "non_json": (502, "upstream_error"),
    "huge_body": (502, "upstream_error"),
    "wrong_shape": (502, "upstream_error"),
    "redirect": (502, "upstream_error"),
    "empty_body": (502, "upstream_error"),
}


def log_in_and_come_back(user: User, service: str = "spotify") -> tuple[float, requests.Response, str]:
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
    status, code = FAULT_PAGES[fault]

    assert response.status_code == status
    assert error_code_in(response.text) == code
    assert "Try again" in response.text
    assert token not in response.text
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

    assert response.status_code == 502
    assert error_code_in(response.text) == "upstream_unreachable"
    assert "reach MusicAPI" in response.text
    assert elapsed < 5


SHORT_DEADLINE = 1.0


class TestTheExchangeClientStopsWaiting:
    """MusicApiClient on its own, with a short deadline: every read gives up within it.

    (The wall-clock deadline over many reads needs gevent, so it is tested under gunicorn:
    test_exchange_deadline.py.)
    """

    @pytest.fixture
    def client(self, musicapi: ThreadedServer) -> MusicApiClient:
        return MusicApiClient(f"{musicapi.url}/api")

    def exchange(self, client: MusicApiClient, user_uuid: str, token: str) -> IntegrationUser:
        return client.fetch_user(user_uuid, token_authorization(token), SHORT_DEADLINE)

    def genuine_exchange(self, client: MusicApiClient, simulator: Simulator) -> IntegrationUser:
        document = simulator.issue_login("spotify")
        return self.exchange(client, document["integrationUserUUID"], document["oneTimeToken"])

    def test_a_hanging_musicapi_times_out(self, client: MusicApiClient, simulator: Simulator) -> None:
        simulator.fault = "hang"
        simulator.hang_seconds = SHORT_DEADLINE + 0.5
        started = time.monotonic()

        with pytest.raises(UpstreamTimeout):
            self.genuine_exchange(client, simulator)

        assert time.monotonic() - started < SHORT_DEADLINE + 0.5
        assert len(simulator.calls()) == 1

    def test_a_body_that_stalls_mid_way_is_a_timeout(
        self, hostile_upstream: tuple[HostileUpstream, ThreadedServer]
    ) -> None:
        upstream, server = hostile_upstream
        upstream.answer(profile())
        upstream.stall_seconds = 5.0
        client = MusicApiClient(f"{server.url}/api")
        started = time.monotonic()

        with pytest.raises(UpstreamError) as raised:
            self.exchange(client, str(uuid.uuid4()), str(uuid.uuid4()))

        assert time.monotonic() - started < SHORT_DEADLINE + 0.5
        assert upstream.calls == 1
        assert isinstance(raised.value, UpstreamTimeout), f"got {type(raised.value).__name__}"

    def test_a_huge_body_is_cut_off(self, client: MusicApiClient, simulator: Simulator) -> None:
        simulator.fault = "huge_body"

        with pytest.raises(UpstreamError):
            self.genuine_exchange(client, simulator)

    def test_a_healthy_musicapi_hands_over_the_account(self, client: MusicApiClient, simulator: Simulator) -> None:
        user = self.genuine_exchange(client, simulator)

        assert user.auth_data["accessToken"]
        assert len(simulator.calls()) == 1

"""Two instances behind the router, sharing one Redis: a login starts on one and finishes on the
other, a callback sent to both at once is exchanged once, a replay at the other instance is refused,
and an account due for refresh is refreshed once however many instances are asked at the same moment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from callback_app.simulator import Simulator
from callback_app.simulator.state import AUTH_DATA_LIFETIME_MS
from tests.support.clock import FakeClock
from tests.support.musicapi import encode_data64
from tests.support.pages import error_code_in
from tests.support.processes import Fleet, Router
from tests.support.redis import RedisServer
from tests.support.servers import GunicornApp, free_port
from tests.support.user import User

from .conftest import StartApp

CLIENT_ID = "simulator-client"
CLIENT_SECRET = "simulator-secret"
# Long enough for a copy sent to the other instance at the same moment to arrive while the first is at MusicAPI.
MUSICAPI_LATENCY = 1.0
EXPIRES_SOON = 30


@pytest.fixture(scope="module")
def fleet(launch: StartApp, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    router_port = free_port()
    configuration = {
        "PUBLIC_URL": f"http://127.0.0.1:{router_port}",
        "REDIS_URL": redis_server.url,
        "MUSICAPI_CLIENT_ID": CLIENT_ID,
        "MUSICAPI_CLIENT_SECRET": CLIENT_SECRET,
    }
    instances = [launch(**configuration) for _ in range(2)]
    router = Router(tmp_path_factory.mktemp("router"), [f"127.0.0.1:{app.port}" for app in instances], router_port)
    yield Fleet(router, instances)
    router.stop()


@pytest.fixture
def musicapi_time(musicapi_clock: FakeClock) -> Iterator[FakeClock]:
    """MusicAPI's clock on real time, for tokens this test makes expire at MusicAPI's end; put back after."""
    before = musicapi_clock.now
    musicapi_clock.now = time.time()
    yield musicapi_clock
    musicapi_clock.now = before


def send_to(fleet: Fleet, instance: GunicornApp, user: User, url: str) -> requests.Response:
    """Send ``url`` (a router URL) with the browser's cookies straight to one instance, as the router would."""
    return requests.get(
        url.replace(fleet.router.url, instance.url, 1),
        headers={"Host": urlsplit(fleet.router.url).netloc},
        cookies=user.http.cookies.copy(),
        allow_redirects=False,
        timeout=30,
    )


def at_each_instance(fleet: Fleet, user: User, url: str) -> list[requests.Response]:
    """Send ``url`` to every instance at the same moment."""
    with ThreadPoolExecutor(len(fleet.instances)) as pool:
        return list(pool.map(lambda instance: send_to(fleet, instance, user, url), fleet.instances))


def exchanges_for(simulator: Simulator, integration_user_uuid: str, scheme: str) -> int:
    return sum(
        1
        for call in simulator.calls()
        if call.integration_user_uuid == integration_user_uuid and call.authorization_scheme == scheme
    )


def test_a_login_started_on_one_instance_finishes_on_the_other(fleet: Fleet, simulator: Simulator) -> None:
    user = User(fleet.router.url, simulator)

    user.open_home()
    login = user.start_login("spotify")
    callback = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("spotify"))))

    assert callback.status_code == 303, callback.text[:500]
    assert fleet.served_by(login) != fleet.served_by(callback)
    readers = set()
    for _ in fleet.instances:
        session = user.get("/api/session")
        assert session.status_code == 200
        assert [account["service"] for account in session.json()["accounts"]] == ["spotify"]
        readers.add(fleet.served_by(session))
    assert readers == {0, 1}


def test_the_same_callback_at_both_instances_at_once_is_exchanged_once(fleet: Fleet, simulator: Simulator) -> None:
    user = User(fleet.router.url, simulator)
    login = user.start_login("deezer")
    document = simulator.issue_login("deezer")
    callback_url = user.callback_url(login, encode_data64(document))
    simulator.latency = MUSICAPI_LATENCY

    answers = at_each_instance(fleet, user, callback_url)

    assert [answer.status_code for answer in answers] == [303, 303], [answer.text[:300] for answer in answers]
    assert [answer.headers["Location"] for answer in answers] == ["/", "/"]
    assert exchanges_for(simulator, document["integrationUserUUID"], "Token") == 1
    assert user.connected_services() == ["deezer"]


def test_a_restored_flow_cookie_replayed_at_the_other_instance_is_refused(fleet: Fleet, simulator: Simulator) -> None:
    user = User(fleet.router.url, simulator)
    login = user.start_login("spotify")
    flow_cookie = user.http.cookies.get("flow")
    document = simulator.issue_login("spotify")
    callback_url = user.callback_url(login, encode_data64(document))
    callback = user.come_back(callback_url)
    assert callback.status_code == 303
    other = fleet.instances[1 - fleet.served_by(callback)]

    user.http.cookies.set("flow", flow_cookie)
    replay = send_to(fleet, other, user, callback_url)

    assert replay.status_code == 400
    assert error_code_in(replay.text) in ("flow_replayed", "already_connected")
    assert exchanges_for(simulator, document["integrationUserUUID"], "Token") == 1


def test_an_account_due_for_refresh_is_refreshed_once_across_instances(
    fleet: Fleet, simulator: Simulator, musicapi_time: FakeClock
) -> None:
    user = User(fleet.router.url, simulator)
    musicapi_time.now = time.time() - AUTH_DATA_LIFETIME_MS / 1000 + EXPIRES_SOON
    assert user.connect("spotify").status_code == 303
    musicapi_time.now = time.time()
    simulator.latency = MUSICAPI_LATENCY

    answers = at_each_instance(fleet, user, f"{fleet.router.url}/api/session")

    assert [answer.status_code for answer in answers] == [200, 200]
    [account_a], [account_b] = (answer.json()["accounts"] for answer in answers)
    assert exchanges_for(simulator, account_a["integrationUserUUID"], "Basic") == 1
    seen = sorted(how_shown(account) for account in (account_a, account_b))
    assert seen in (["fresh", "fresh"], ["fresh", "old, refresh in progress"]), (account_a, account_b)


def how_shown(account: dict[str, Any]) -> str:
    """Whether an instance answered with the refreshed account, or with the old one while another refreshes it."""
    expires_in = account["expiresAt"] / 1000 - time.time()
    if expires_in > AUTH_DATA_LIFETIME_MS / 1000 / 2 and "refreshError" not in account:
        return "fresh"
    if expires_in <= EXPIRES_SOON and account.get("refreshError") == "refresh_in_progress":
        return "old, refresh in progress"
    return f"unexpected: expires in {expires_in:.0f} s, refreshError={account.get('refreshError')}"

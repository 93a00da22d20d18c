"""Redis down, and back: a login is refused before its one-time token is spent, an exchange that
cannot be stored leaves nothing behind, the health checks tell the platform, and everything works
again once Redis returns, without restarting the app.

This module's Redis is its own (the tests stop it) and keeps its data across a restart, as a managed
Redis does, so what is found afterwards is what was written before the outage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from callback_app.settings import REDIS_TIMEOUT
from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import error_code_in
from tests.support.redis import RedisServer
from tests.support.servers import GunicornApp, ThreadedServer, wait_until
from tests.support.user import User

from .conftest import HeldExchange, StartApp, copy_of, session_key, ticket_of


@pytest.fixture(scope="module")
def outage_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("outage-redis"), persistent=True)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _redis_back_up(outage_redis: RedisServer) -> Iterator[None]:
    yield
    if outage_redis.process is None:
        outage_redis.start()
    else:
        outage_redis.thaw()


@pytest.fixture(scope="module")
def exchange_tap(musicapi: ThreadedServer) -> Iterator[HeldExchange]:
    tap = HeldExchange(musicapi.url)
    yield tap
    tap.release.set()
    tap.close()


@pytest.fixture(scope="module")
def outage_app(launch: StartApp, outage_redis: RedisServer, exchange_tap: HeldExchange) -> GunicornApp:
    return launch(REDIS_URL=outage_redis.url, MUSICAPI_API_URL=f"{exchange_tap.url}/api")


@pytest.fixture
def person(outage_app: GunicornApp, simulator: Simulator) -> User:
    """Someone with Spotify connected before anything goes wrong."""
    user = User(outage_app.url, simulator)
    assert user.connect("spotify").status_code == 303
    return user


def exchanges_for(simulator: Simulator, document: dict[str, str]) -> int:
    return sum(1 for call in simulator.calls() if call.integration_user_uuid == document["integrationUserUUID"])


def assert_the_platform_is_told(user: User) -> None:
    """While Redis is down: the session API says so, /readyz takes the instance out, /healthz keeps it alive."""
    session = user.get("/api/session")
    assert session.status_code == 503
    assert session.json() == {"error": "unavailable"}
    assert user.get("/readyz").status_code == 503
    health = user.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


def session_fields(redis: RedisServer, user: User) -> set[bytes]:
    """The fields of this browser's session record in Redis."""
    fields: set[bytes] = set(redis.client().hkeys(session_key(ticket_of(user))))
    return fields


def test_redis_down_before_the_exchange_refuses_the_login_and_spends_no_token(
    person: User, outage_redis: RedisServer, simulator: Simulator
) -> None:
    login = person.start_login("deezer")
    document = simulator.issue_login("deezer")
    callback_url = person.callback_url(login, encode_data64(document))

    outage_redis.stop()
    answer = person.come_back(callback_url)

    assert answer.status_code == 503
    assert error_code_in(answer.text) == "unavailable"
    assert 'action="/connect/deezer"' in answer.text, "no way to try again"
    assert document["oneTimeToken"] not in answer.text
    assert exchanges_for(simulator, document) == 0
    unspent = simulator.exchange(document["integrationUserUUID"], f"Token {document['oneTimeToken']}")
    assert unspent.status == 200
    assert_the_platform_is_told(person)
    refused = person.start_login("deezer")
    assert refused.status_code == 503
    assert "Location" not in refused.headers

    outage_redis.start()

    assert person.get("/readyz").status_code == 200
    assert person.connected_services() == ["spotify"]
    # "Try again": a new login, on the same app process.
    assert person.connect("deezer").status_code == 303
    assert person.connected_services() == ["spotify", "deezer"]


def lose_redis_during_the_exchange(
    person: User, outage_redis: RedisServer, exchange_tap: HeldExchange, simulator: Simulator
) -> tuple[requests.Response, str, dict[str, str]]:
    """Log in to Deezer, and stop Redis while the one-time token is at MusicAPI: the callback's answer,
    its URL and what MusicAPI sent back."""
    login = person.start_login("deezer")
    document = simulator.issue_login("deezer")
    callback_url = person.callback_url(login, encode_data64(document))
    exchange_tap.hold()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(person.come_back, callback_url)
        assert exchange_tap.arrived.wait(15), "the exchange never reached MusicAPI"
        outage_redis.stop()
        exchange_tap.release.set()
        answer: requests.Response = pending.result(30)
    return answer, callback_url, document


def test_redis_lost_during_the_exchange_gives_a_clear_error_and_nothing_half_written(
    person: User, outage_redis: RedisServer, exchange_tap: HeldExchange, simulator: Simulator
) -> None:
    answer, _, document = lose_redis_during_the_exchange(person, outage_redis, exchange_tap, simulator)

    assert answer.status_code == 503
    assert error_code_in(answer.text) == "unavailable"
    assert document["oneTimeToken"] not in answer.text
    assert exchanges_for(simulator, document) == 1
    assert_the_platform_is_told(person)

    outage_redis.start()

    assert person.connected_services() == ["spotify"]
    assert session_fields(outage_redis, person) == {b"spotify", b"_seen"}
    assert person.connect("deezer").status_code == 303
    assert person.connected_services() == ["spotify", "deezer"]


def test_reloading_a_callback_lost_with_redis_names_the_spent_login_once_redis_is_back(
    person: User, outage_redis: RedisServer, exchange_tap: HeldExchange, simulator: Simulator
) -> None:
    _, callback_url, document = lose_redis_during_the_exchange(person, outage_redis, exchange_tap, simulator)
    outage_redis.start()

    reload = person.come_back(callback_url)

    assert error_code_in(reload.text) != "unavailable", "Redis is back, yet the page says it is unavailable"
    assert reload.status_code == 400
    assert error_code_in(reload.text) == "flow_replayed"
    assert exchanges_for(simulator, document) == 1


def test_a_redis_that_stops_answering_is_given_half_a_second_and_asked_once(
    person: User, outage_redis: RedisServer
) -> None:
    reads_before = outage_redis.calls_of("evalsha")
    connections_before = outage_redis.connections_received()

    outage_redis.freeze()
    started = time.monotonic()
    answer = person.get("/api/session")
    waited = time.monotonic() - started
    outage_redis.thaw()

    assert answer.status_code == 503
    assert answer.json() == {"error": "unavailable"}
    assert waited < REDIS_TIMEOUT + 1.5, f"a frozen Redis held the page {waited:.1f} s"
    # What the app sent meanwhile runs now: its read arrives once, and was never resent on a new connection.
    assert wait_until(lambda: outage_redis.calls_of("evalsha") > reads_before)
    assert outage_redis.calls_of("evalsha") == reads_before + 1
    assert outage_redis.connections_received() == connections_before
    assert person.connected_services() == ["spotify"]


def test_a_logout_redis_cannot_record_is_refused_and_can_be_repeated(person: User, outage_redis: RedisServer) -> None:
    thief = copy_of(person)
    person.open_home()

    outage_redis.stop()
    answer = person.post("/logout", {"csrf_token": person.csrf_token or ""})

    assert answer.status_code == 503
    assert error_code_in(answer.text) == "unavailable"
    outage_redis.start()
    assert thief.connected_services() == ["spotify"]
    person.open_home()
    assert person.post("/logout", {"csrf_token": person.csrf_token or ""}).status_code == 303
    assert thief.get("/api/session").status_code == 401

"""The Redis store as a person meets it: every service at once in a small cookie, Redis unreadable
without the cookie, revocation that reaches copied cookies, replays refused, one round trip a page."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.session.redis_backend import KEY_PREFIX
from callback_app.simulator import Simulator
from callback_app.simulator.fake_data import AUTH_DATA_SIZES
from tests.support.musicapi import encode_data64
from tests.support.pages import error_code_in
from tests.support.redis import RedisServer, round_trips
from tests.support.user import User

from .conftest import cookie_header, copy_of, ticket_of

COOKIE_BUDGET = 1500
# The names the store uses: a kind (session, flow, outcome, refresh lock) and a SHA-256 digest, nothing else.
KEY_NAME = re.compile(re.escape(KEY_PREFIX) + r"[sfor]:[0-9a-f]{64}")


def connect_recording(user: User, service: str) -> dict[str, str]:
    """Connect ``service``; return what MusicAPI sent back (the state, data64 and its one-time token)."""
    login = user.start_login(service)
    document = user.simulator.issue_login(service)
    data64 = encode_data64(document)
    callback = user.come_back(user.callback_url(login, data64))
    assert callback.status_code == 303, callback.text[:500]
    state = parse_qs(urlsplit(user.return_url(login)).query)["state"][0]
    return {"state": state, "data64": data64, "one_time_token": document["oneTimeToken"]}


def log_out(user: User) -> None:
    """Press "Log out" on the start page, and land on it again."""
    user.open_home()
    assert user.post("/logout", {"csrf_token": user.csrf_token or ""}).status_code == 303
    user.open_home()


def secrets_of(account: dict[str, Any]) -> list[str]:
    """What a copy of Redis must not give away about an account: its tokens (whole or in part) and its person."""
    tokens = [str(value) for value in account["authData"].values()]
    texts = [part for token in tokens for part in (token, token[:20], token[-20:])]
    return [*texts, account["integrationUserUUID"], account["name"], account["email"], account["imageUrl"]]


def everything_in(keyspace: dict[bytes, Any]) -> bytes:
    """Every key and value of a keyspace as one byte string, to search in."""

    def flatten(value: Any) -> list[bytes]:
        if isinstance(value, bytes):
            return [value]
        if isinstance(value, dict):
            return [part for key, item in value.items() for part in flatten(key) + flatten(item)]
        if isinstance(value, (list, tuple, set)):
            return [part for item in value for part in flatten(item)]
        return [str(value).encode()]

    return b"\n".join(part for key, value in keyspace.items() for part in [key, *flatten(value)])


def test_every_service_is_connected_at_once_and_the_cookies_stay_small(visitor: User) -> None:
    for service in KNOWN_SERVICES:
        connect_recording(visitor, service)

    accounts = {account["service"]: account for account in visitor.accounts()}

    assert list(accounts) == list(KNOWN_SERVICES)
    for service, account in accounts.items():
        sizes = {field: len(token) for field, token in account["authData"].items()}
        assert sizes == AUTH_DATA_SIZES[service], service
    assert len(accounts["appleMusic"]["authData"]["musicUserToken"]) > 1000
    header = cookie_header(visitor)
    assert len(header.encode()) < COOKIE_BUDGET, header
    assert not any(name.startswith("acct-") for name in visitor.cookie_names())


def test_redis_alone_reads_no_token_no_person_and_names_no_session(visitor: User, redis_server: RedisServer) -> None:
    redis_server.flush()
    logins = [connect_recording(visitor, service) for service in ("appleMusic", "tidal", "spotify")]
    accounts = visitor.accounts()
    ticket = ticket_of(visitor)

    keyspace = redis_server.keyspace()
    stored = everything_in(keyspace)

    for account in accounts:
        for text in secrets_of(account):
            assert text.encode() not in stored, f"Redis holds {account['service']}'s {text[:12]}..."
    for login in logins:
        for text in (login["state"], login["state"].split(".")[0], login["data64"], login["one_time_token"]):
            assert text.encode() not in stored
    secret = base64.b64decode(ticket["k"])
    for text in (ticket["i"].encode(), ticket["k"].encode(), secret):
        assert text not in stored
    for key in keyspace:
        assert KEY_NAME.fullmatch(key.decode()), key


def test_a_copy_of_the_cookies_loses_what_the_browser_disconnects(visitor: User) -> None:
    for service in ("spotify", "deezer"):
        connect_recording(visitor, service)
    thief = copy_of(visitor)
    assert thief.connected_services() == ["spotify", "deezer"]

    visitor.open_home()
    assert visitor.post("/disconnect/deezer", {"csrf_token": visitor.csrf_token or ""}).status_code == 303

    assert thief.connected_services() == ["spotify"]
    assert visitor.connected_services() == ["spotify"]


def test_a_copy_of_the_cookies_gets_nothing_after_logout_even_after_a_new_login(visitor: User) -> None:
    connect_recording(visitor, "spotify")
    thief = copy_of(visitor)

    log_out(visitor)
    assert thief.get("/api/session").status_code == 401
    connect_recording(visitor, "deezer")

    assert visitor.connected_services() == ["deezer"]
    answer = thief.get("/api/session")
    assert answer.status_code == 401
    assert answer.json() == {"error": "not_connected"}


def connect_keeping_the_flow_cookie(user: User, service: str) -> tuple[str, str]:
    """Connect ``service`` and return what a replay needs: the flow cookie as it was, and the callback URL."""
    login = user.start_login(service)
    flow_cookie = user.http.cookies.get("flow")
    assert flow_cookie is not None
    callback_url = user.callback_url(login, encode_data64(user.simulator.issue_login(service)))
    assert user.come_back(callback_url).status_code == 303
    assert user.http.cookies.get("flow") is None
    return flow_cookie, callback_url


def test_a_restored_flow_cookie_cannot_replay_a_login(visitor: User, simulator: Simulator) -> None:
    flow_cookie, callback_url = connect_keeping_the_flow_cookie(visitor, "spotify")

    visitor.http.cookies.set("flow", flow_cookie)
    replay = visitor.come_back(callback_url)

    assert replay.status_code == 400, replay.headers
    assert error_code_in(replay.text) in ("flow_replayed", "already_connected")
    assert len(simulator.calls()) == 1
    assert visitor.connected_services() == ["spotify"]


def test_a_restored_flow_cookie_does_not_bring_back_an_account_after_logout(
    visitor: User, simulator: Simulator
) -> None:
    flow_cookie, callback_url = connect_keeping_the_flow_cookie(visitor, "spotify")
    log_out(visitor)

    visitor.http.cookies.set("flow", flow_cookie)
    replay = visitor.come_back(callback_url)

    assert visitor.connected_services() == []
    assert replay.status_code == 400, replay.headers
    assert error_code_in(replay.text) == "flow_replayed"
    assert len(simulator.calls()) == 1


def test_reading_the_session_costs_one_redis_round_trip(visitor: User, redis_server: RedisServer) -> None:
    for service in ("spotify", "appleMusic", "tidal"):
        connect_recording(visitor, service)
    assert len(visitor.accounts()) == 3  # the first read also loads the server-side script

    answers = []
    commands = redis_server.commands_during(lambda: answers.append(visitor.get("/api/session")))

    assert answers[0].status_code == 200
    assert len(answers[0].json()["accounts"]) == 3
    assert commands, "MONITOR saw no command"
    assert round_trips(commands) <= 1, [command["command"] for command in commands]

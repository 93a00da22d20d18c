"""The MusicAPI simulator plays MusicAPI's login pages and exchange endpoint faithfully, faults included."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from callback_app.simulator import (
    AUTH_DATA_SIZES,
    FAULTS,
    Simulator,
    create_simulator_app,
    fake_auth_data,
)
from tests.support.clock import FakeClock

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
RETURN_URL = "https://app.example/callback?flow=abc&next=%2Fhome"


@pytest.fixture
def simulator(clock: FakeClock) -> Simulator:
    simulator = Simulator(clock=clock)
    simulator.hang_seconds = 0.0
    simulator.slow_body_seconds = 0.2
    return simulator


@pytest.fixture
def client(simulator: Simulator) -> FlaskClient:
    return create_simulator_app(simulator).test_client()


def log_in(client: FlaskClient, service: str = "spotify", **form: str) -> dict[str, Any]:
    """Press "Log in" on the service's login page and return the decoded data64 from the redirect."""
    fields = {"choice": "login", "returnUrl": RETURN_URL, "requestOneTimeToken": "true", **form}
    response = client.post(f"/auth/simulator/{service}/auth", data=fields)
    assert response.status_code == 302
    return decode_data64(response.headers["Location"])


def decode_data64(location: str) -> dict[str, Any]:
    [data64] = parse_qs(urlsplit(location).query)["data64"]
    result: dict[str, Any] = json.loads(base64.b64decode(data64, validate=True))
    return result


def exchange(client: FlaskClient, user_uuid: str, authorization: str) -> Any:
    return client.get(f"/api/public/integrations/user/{user_uuid}", headers={"Authorization": authorization})


def exchange_token(client: FlaskClient, login: dict[str, Any]) -> Any:
    return exchange(client, login["integrationUserUUID"], f"Token {login['oneTimeToken']}")


def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


# Login pages


def test_login_redirects_to_return_url_keeping_its_query_and_adding_data64(client: FlaskClient) -> None:
    response = client.post(
        "/auth/simulator/spotify/auth",
        data={"choice": "login", "returnUrl": RETURN_URL, "requestOneTimeToken": "true"},
    )

    location = response.headers["Location"]
    assert location.startswith("https://app.example/callback?flow=abc&next=%2Fhome&data64=")
    result = decode_data64(location)
    assert result["integration"] == {"type": "spotify", "returnUrl": "https://api.musicapi.com/callback/spotify"}
    assert result["authModel"]["status"] == "success"
    assert result["authModel"]["error"] is None
    assert set(result) == {"integration", "authModel", "integrationUserUUID", "oneTimeToken"}


def test_return_url_without_query_gets_data64_as_its_only_parameter(client: FlaskClient) -> None:
    response = client.post(
        "/auth/simulator/deezer/auth", data={"choice": "login", "returnUrl": "http://localhost:5000/callback"}
    )

    assert response.headers["Location"].startswith("http://localhost:5000/callback?data64=")


def test_one_time_token_only_when_requested(client: FlaskClient) -> None:
    response = client.post("/auth/simulator/spotify/auth", data={"choice": "login", "returnUrl": RETURN_URL})

    result = decode_data64(response.headers["Location"])
    assert "oneTimeToken" not in result
    assert "integrationUserUUID" in result


def test_cancel_with_forward_failures_redirects_with_a_failed_result(client: FlaskClient) -> None:
    response = client.post(
        "/auth/simulator/tidal/auth", data={"choice": "fail", "returnUrl": RETURN_URL, "forwardFailures": "true"}
    )

    result = decode_data64(response.headers["Location"])
    assert result["authModel"]["status"] == "failed"
    assert result["authModel"]["error"] == "User cancelled the login"
    assert "integrationUserUUID" not in result
    assert "oneTimeToken" not in result


def test_cancel_without_forward_failures_stays_on_a_failure_page(client: FlaskClient) -> None:
    response = client.post("/auth/simulator/tidal/auth", data={"choice": "fail", "returnUrl": RETURN_URL})

    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "Login cancelled" in response.text


def test_chooser_lists_every_service_and_carries_the_flags(client: FlaskClient) -> None:
    response = client.get(f"/auth/simulator?returnUrl={RETURN_URL.replace('&', '%26')}&requestOneTimeToken=true")

    assert response.status_code == 200
    assert "MusicAPI simulator — not the real MusicAPI" in response.text
    assert "Apple Music" in response.text
    assert "YouTube Music" in response.text
    assert "/auth/simulator/appleMusic/auth?returnUrl=" in response.text
    assert "requestOneTimeToken=true" in response.text


def test_login_page_shows_both_buttons_and_keeps_the_flags_in_the_form(client: FlaskClient) -> None:
    response = client.get("/auth/simulator/amazonMusic/auth?returnUrl=https://app.example/cb&forwardFailures=true")

    assert response.status_code == 200
    page = response.text
    assert "MusicAPI simulator — not the real MusicAPI" in page
    assert "Log in to Amazon Music" in page
    assert "Cancel (simulate a failed login)" in page
    assert '<input type="hidden" name="forwardFailures" value="true">' in page
    assert 'name="requestOneTimeToken"' not in page
    assert "<script" not in page
    assert "style=" not in page


def test_login_page_explains_what_the_name_field_does(client: FlaskClient) -> None:
    page = client.get("/auth/simulator/spotify/auth?returnUrl=https://app.example/cb").text

    assert '<label for="user_key">Simulated account</label>' in page
    assert 'aria-describedby="user_key_help"' in page
    assert 'id="user_key_help"' in page
    assert "not a real account and needs no password" in page
    assert "same made-up person" in page


def test_the_name_field_logs_in_as_the_same_user_again(client: FlaskClient) -> None:
    first = log_in(client, user_key="ada")
    again = log_in(client, user_key="  ada  ")
    someone_new = log_in(client, user_key="")

    assert first["integrationUserUUID"] == again["integrationUserUUID"]
    assert someone_new["integrationUserUUID"] != first["integrationUserUUID"]


def test_unknown_service_type_shows_its_raw_name(client: FlaskClient) -> None:
    response = client.get("/auth/simulator/newService/auth?returnUrl=https://app.example/cb")

    assert "Log in to newService" in response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/auth/other-slug?returnUrl=https://app.example/cb", 404),
        ("/auth/other-slug/spotify/auth?returnUrl=https://app.example/cb", 404),
        ("/auth/simulator/not%3Ca%3Eservice/auth?returnUrl=https://app.example/cb", 404),
        ("/auth/simulator", 400),
        ("/auth/simulator/spotify/auth", 400),
        ("/auth/simulator/spotify/auth?returnUrl=/relative/path", 400),
        ("/auth/simulator/spotify/auth?returnUrl=javascript:alert(1)", 400),
        ("/auth/simulator/spotify/auth?returnUrl=https://", 400),
    ],
)
def test_bad_login_links_get_an_error_page(client: FlaskClient, path: str, status: int) -> None:
    response = client.get(path)

    assert response.status_code == status
    assert "MusicAPI simulator — not the real MusicAPI" in response.text


def test_unknown_choice_is_refused(client: FlaskClient) -> None:
    response = client.post("/auth/simulator/spotify/auth", data={"choice": "maybe", "returnUrl": RETURN_URL})

    assert response.status_code == 400


def test_stylesheet_is_served(client: FlaskClient) -> None:
    response = client.get("/static/simulator.css")

    assert response.status_code == 200
    assert "prefers-color-scheme: dark" in response.text
    response.close()


# Exchange


def test_token_exchange_returns_the_user_with_auth_data(client: FlaskClient, clock: FakeClock) -> None:
    login = log_in(client)

    response = exchange_token(client, login)

    assert response.status_code == 200
    user = response.json["integrationUser"]
    assert set(user) == {
        "integrationUserId",
        "userUUID",
        "name",
        "email",
        "imageUrl",
        "country",
        "authData",
        "authDataExpiresAt",
    }
    assert user["imageUrl"].startswith("https://")
    assert user["email"].endswith("@example.com")
    assert user["authData"]["accessToken"].startswith("BQ")
    assert user["authData"]["refreshToken"].startswith("AQ")
    assert user["authDataExpiresAt"] == int(clock.now * 1000) + 3_600_000


def test_token_works_once(client: FlaskClient) -> None:
    login = log_in(client)

    assert exchange_token(client, login).status_code == 200
    second = exchange_token(client, login)

    assert second.status_code == 401
    assert second.json == {"error": "invalid_token"}


@pytest.mark.parametrize(("age", "status"), [(59.999, 200), (60.0, 401), (3600.0, 401)])
def test_token_expires_token_ttl_after_issue(client: FlaskClient, clock: FakeClock, age: float, status: int) -> None:
    login = log_in(client)
    clock.advance(age)

    assert exchange_token(client, login).status_code == status


def test_token_ttl_is_adjustable(client: FlaskClient, simulator: Simulator, clock: FakeClock) -> None:
    simulator.token_ttl = 5.0
    login = log_in(client)
    clock.advance(5.0)

    assert exchange_token(client, login).status_code == 401


def test_token_is_only_good_for_its_own_user(client: FlaskClient) -> None:
    mine, other = log_in(client), log_in(client)

    assert exchange(client, other["integrationUserUUID"], f"Token {mine['oneTimeToken']}").status_code == 401
    assert exchange_token(client, mine).status_code == 200


def test_unknown_user_is_404(client: FlaskClient) -> None:
    login = log_in(client)

    response = exchange(client, "00000000-0000-4000-8000-000000000000", f"Token {login['oneTimeToken']}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization", ["", "Token", "Token not-a-token", "Bearer abc", basic("simulator-client", "wrong-secret")]
)
def test_bad_credentials_are_401(client: FlaskClient, authorization: str) -> None:
    login = log_in(client)

    assert exchange(client, login["integrationUserUUID"], authorization).status_code == 401


def test_client_credentials_fetch_fresh_auth_data(client: FlaskClient, clock: FakeClock) -> None:
    login = log_in(client)
    first = exchange_token(client, login).json["integrationUser"]
    clock.advance(7200)

    response = exchange(client, login["integrationUserUUID"], basic("simulator-client", "simulator-secret"))

    assert response.status_code == 200
    fresh = response.json["integrationUser"]
    assert fresh["userUUID"] == first["userUUID"]
    assert fresh["authData"]["accessToken"] != first["authData"]["accessToken"]
    assert fresh["authData"]["refreshToken"] != first["authData"]["refreshToken"]
    assert fresh["authDataExpiresAt"] == first["authDataExpiresAt"] + 7_200_000


def test_client_credentials_for_an_unknown_user_are_404(client: FlaskClient) -> None:
    response = exchange(client, "00000000-0000-4000-8000-000000000000", basic("simulator-client", "simulator-secret"))

    assert response.status_code == 404


def test_the_same_user_key_is_the_same_user_with_a_repeatable_profile(simulator: Simulator) -> None:
    first = simulator.issue_login("spotify", user_key="ada")
    again = simulator.issue_login("spotify", user_key="ada")
    other_simulator = Simulator()
    elsewhere = other_simulator.issue_login("spotify", user_key="ada")

    assert first["integrationUserUUID"] == again["integrationUserUUID"]
    assert first["oneTimeToken"] != again["oneTimeToken"]
    profile = simulator.exchange(first["integrationUserUUID"], f"Token {first['oneTimeToken']}")
    other_profile = other_simulator.exchange(elsewhere["integrationUserUUID"], f"Token {elsewhere['oneTimeToken']}")
    assert profile.body["integrationUser"]["name"] == other_profile.body["integrationUser"]["name"]
    assert profile.body["integrationUser"]["email"] == other_profile.body["integrationUser"]["email"]


def test_exchange_calls_are_recorded_without_credentials(client: FlaskClient, simulator: Simulator) -> None:
    login = log_in(client)
    exchange_token(client, login)
    exchange_token(client, login)
    exchange(client, login["integrationUserUUID"], basic("simulator-client", "simulator-secret"))
    exchange(client, login["integrationUserUUID"], "")

    calls = simulator.exchange_calls
    assert [(call.authorization_scheme, call.status) for call in calls] == [
        ("Token", 200),
        ("Token", 401),
        ("Basic", 200),
        ("", 401),
    ]
    assert all(call.integration_user_uuid == login["integrationUserUUID"] for call in calls)
    recorded = repr(calls) + client.get("/_control/calls").text
    assert login["oneTimeToken"] not in recorded
    assert "simulator-secret" not in recorded


def test_latency_delays_the_answer(client: FlaskClient, simulator: Simulator) -> None:
    login = log_in(client)
    simulator.latency = 0.2

    started = time.monotonic()
    response = exchange_token(client, login)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


# Faults


FAULT_EXPECTATIONS: dict[str, tuple[int, str, Callable[[bytes], bool]]] = {
    "http_500": (500, "application/json", lambda body: b"error" in body),
    "http_401": (401, "application/json", lambda body: json.loads(body) == {"error": "invalid_token"}),
    "http_404": (404, "application/json", lambda body: b"error" in body),
    "non_json": (200, "text/html", lambda body: body.startswith(b"<!doctype html>")),
    "huge_body": (200, "application/json", lambda body: len(body) == 5 * 1024 * 1024),
    "wrong_shape": (200, "application/json", lambda body: json.loads(body)["integrationUser"]["userUUID"] == 42),
    "hang": (504, "application/json", lambda body: b"error" in body),
    "redirect": (302, "", lambda body: body == b""),
    "empty_body": (200, "application/json", lambda body: body == b""),
    "slow_body": (200, "application/json", lambda body: json.loads(body) == {"error": "slow_body"}),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_answers_and_leaves_the_token_unspent(client: FlaskClient, simulator: Simulator, fault: str) -> None:
    status, content_type, body_is_expected = FAULT_EXPECTATIONS[fault]
    login = log_in(client)
    simulator.fault = fault

    response = exchange_token(client, login)

    assert response.status_code == status
    assert response.headers.get("Content-Type", "").startswith(content_type)
    assert body_is_expected(response.get_data())
    assert simulator.exchange_calls[-1].status == status
    simulator.fault = None
    assert exchange_token(client, login).status_code == 200


def test_redirect_fault_points_somewhere_without_a_user(client: FlaskClient, simulator: Simulator) -> None:
    simulator.fault = "redirect"

    response = client.get("/api/public/integrations/user/x", follow_redirects=True)

    assert response.status_code == 200
    assert response.get_json() == {"error": "redirected"}


def test_slow_body_trickles_for_the_configured_time(client: FlaskClient, simulator: Simulator) -> None:
    simulator.fault = "slow_body"
    simulator.slow_body_seconds = 0.3

    started = time.monotonic()
    response = client.get("/api/public/integrations/user/x", buffered=False)
    chunks = list(response.response)

    assert time.monotonic() - started >= 0.3
    assert len(chunks) > 1


def test_hang_waits_before_answering(client: FlaskClient, simulator: Simulator) -> None:
    simulator.fault = "hang"
    simulator.hang_seconds = 0.2

    started = time.monotonic()
    response = client.get("/api/public/integrations/user/x")

    assert response.status_code == 504
    assert time.monotonic() - started >= 0.2


def test_unknown_fault_is_refused(simulator: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        simulator.fault = "gremlins"


# Control endpoints


def test_control_sets_latency_fault_and_ttl(client: FlaskClient, simulator: Simulator) -> None:
    response = client.post("/_control", json={"latency": 0.5, "fault": "http_500", "token_ttl": 10})

    assert response.status_code == 204
    assert (simulator.latency, simulator.fault, simulator.token_ttl) == (0.5, "http_500", 10.0)
    assert client.post("/_control", json={"fault": None}).status_code == 204
    assert simulator.fault is None
    assert simulator.latency == 0.5


@pytest.mark.parametrize(
    "settings", [{"fault": "gremlins"}, {"latency": -1}, {"latency": "slow"}, {"token_ttl": True}, {"colour": 1}, []]
)
def test_control_refuses_bad_settings_and_changes_nothing(
    client: FlaskClient, simulator: Simulator, settings: Any
) -> None:
    response = client.post("/_control", json=settings)

    assert response.status_code == 400
    assert (simulator.latency, simulator.fault, simulator.token_ttl) == (0.0, None, 60.0)


def test_control_lists_calls_and_resets(client: FlaskClient, simulator: Simulator) -> None:
    login = log_in(client)
    exchange_token(client, login)
    client.post("/_control", json={"fault": "http_500", "latency": 0.1, "token_ttl": 1})

    calls = client.get("/_control/calls").json
    assert calls == [
        {
            "integration_user_uuid": login["integrationUserUUID"],
            "authorization_scheme": "Token",
            "at": 1_700_000_000.0,
            "status": 200,
        }
    ]
    assert client.post("/_control/reset").status_code == 204
    assert client.get("/_control/calls").json == []
    assert (simulator.latency, simulator.fault, simulator.token_ttl) == (0.0, None, 60.0)


def test_reset_forgets_tokens(client: FlaskClient, simulator: Simulator) -> None:
    login = log_in(client)

    simulator.reset()

    assert exchange_token(client, login).status_code == 401


# Realistic auth data


def test_auth_data_sizes_are_realistic() -> None:
    assert AUTH_DATA_SIZES["appleMusic"]["musicUserToken"] >= 1000
    assert AUTH_DATA_SIZES["tidal"]["accessToken"] >= 900
    assert 230 <= AUTH_DATA_SIZES["spotify"]["accessToken"] <= 300
    assert set(AUTH_DATA_SIZES) >= {"spotify", "appleMusic", "youtube", "tidal", "amazonMusic", "yandex"}


@pytest.mark.parametrize("service", sorted(AUTH_DATA_SIZES))
def test_generated_auth_data_has_the_advertised_sizes(service: str) -> None:
    auth_data = fake_auth_data(service, now=1_700_000_000.0)

    assert {field: len(value) for field, value in auth_data.items()} == AUTH_DATA_SIZES[service]


def test_tidal_tokens_are_decodable_jwts() -> None:
    access_token = fake_auth_data("tidal", now=1_700_000_000.0)["accessToken"]

    header, payload, signature = access_token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==="))["alg"] == "RS256"
    assert json.loads(base64.urlsafe_b64decode(payload + "==="))["exp"] == 1_700_086_400
    assert len(signature) >= 300


def test_unknown_service_gets_a_generic_access_token() -> None:
    auth_data = fake_auth_data("newService", now=0.0)

    assert list(auth_data) == ["accessToken"]
    assert len(auth_data["accessToken"]) == 200


def test_auth_data_is_random() -> None:
    assert fake_auth_data("spotify", now=0.0) != fake_auth_data("spotify", now=0.0)


# Standalone server over real HTTP


@pytest.fixture(params=["gevent", "threaded"])
def running_simulator(request: pytest.FixtureRequest) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start `python -m callback_app.simulator` on a free port; yield its base URL once it says it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "callback_app.simulator", "--port", "0", "--server", request.param],
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    # Guards the blocking readline below: a simulator that never starts is killed rather than hanging the run.
    watchdog = threading.Timer(30, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("simulator listening on http://127.0.0.1:"), line
        yield line.removeprefix("simulator listening on ").strip(), process
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_standalone_server_logs_in_exchanges_and_stops_on_sigterm(
    running_simulator: tuple[str, subprocess.Popen[str]],
) -> None:
    base_url, process = running_simulator

    login_page = requests.get(f"{base_url}/auth/simulator/spotify/auth", params={"returnUrl": RETURN_URL}, timeout=5)
    assert login_page.status_code == 200
    assert requests.get(f"{base_url}/static/simulator.css", timeout=5).status_code == 200
    redirect = requests.post(
        f"{base_url}/auth/simulator/spotify/auth",
        data={"choice": "login", "returnUrl": RETURN_URL, "requestOneTimeToken": "true"},
        allow_redirects=False,
        timeout=5,
    )
    login = decode_data64(redirect.headers["Location"])
    response = requests.get(
        f"{base_url}/api/public/integrations/user/{login['integrationUserUUID']}",
        headers={"Authorization": f"Token {login['oneTimeToken']}", "Content-Type": "application/json; charset=utf-8"},
        timeout=5,
    )
    assert response.status_code == 200
    assert (
        len(response.json()["integrationUser"]["authData"]["accessToken"]) == AUTH_DATA_SIZES["spotify"]["accessToken"]
    )

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0
    assert process.stdout is not None
    assert process.stdout.read() == ""

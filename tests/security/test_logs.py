"""Logs: no token, data64, cookie or Authorization header in any line; every request carries its request id."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
import requests

from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import set_cookies
from tests.support.servers import GunicornApp
from tests.support.user import User

SECRET_BEARER = "Bearer sk_live_do-not-log-me-0123456789"


@pytest.fixture
def logged_app(app_server: GunicornApp) -> GunicornApp:
    """The app as deployed; requests here carry unique request ids, so their lines can be found and awaited."""
    return app_server


class StampingSession(requests.Session):
    """A browser session that gives every request a fresh X-Request-ID, so each log line can be awaited."""

    def __init__(self) -> None:
        super().__init__()
        self.request_ids: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        request_id = f"scan-{len(self.request_ids) + 1:03d}"
        self.request_ids.append(request_id)
        kwargs["headers"] = {"X-Request-ID": request_id, **(kwargs.get("headers") or {})}
        return super().request(method, url, *args, **kwargs)


class Recorder:
    """A user who sends an Authorization header on every request and remembers every secret it saw."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.secrets: set[str] = {SECRET_BEARER}
        self.session = StampingSession()
        user.http = self.session
        user.http.headers["Authorization"] = SECRET_BEARER
        user.http.hooks["response"].append(self._remember)

    @property
    def request_ids(self) -> list[str]:
        return self.session.request_ids

    def _remember(self, response: object, **_: object) -> None:
        for header in set_cookies(response):
            value = header.split(";", 1)[0].split("=", 1)[1]
            if len(value) > 8:
                self.secrets.add(value)
        if self.user.csrf_token:
            self.secrets.add(self.user.csrf_token)

    def login_secrets(self, document: dict[str, object], data64: str) -> None:
        self.secrets.update({str(document["oneTimeToken"]), data64, quote(data64, safe="")})


def test_no_secret_reaches_any_log_line(logged_app: GunicornApp, simulator: Simulator) -> None:
    user = User(logged_app.url, simulator)
    recorder = Recorder(user)

    user.open_home()
    for service in ("spotify", "tidal"):
        login = user.start_login(service)
        document = simulator.issue_login(service)
        data64 = encode_data64(document)
        recorder.login_secrets(document, data64)
        url = user.callback_url(login, data64)
        assert user.come_back(url).status_code == 303
        assert user.come_back(url).status_code == 400, "replayed"
    failed = encode_data64(simulator.failed_login("deezer"))
    recorder.secrets.add(failed)
    assert user.come_back(user.callback_url(user.start_login("deezer"), failed)).status_code == 400
    simulator.fault = "http_500"
    document = simulator.issue_login("spotify")
    broken = encode_data64(document)
    recorder.login_secrets(document, broken)
    assert user.come_back(user.callback_url(user.start_login("spotify"), broken)).status_code == 502
    simulator.fault = None

    accounts = user.accounts()
    for account in accounts:
        recorder.secrets.update(str(value) for value in account["authData"].values())
    access_token = accounts[0]["authData"]["accessToken"]
    assert user.get(f"/no/such/page?access_token={access_token}&data64={broken}").status_code == 404
    assert user.get(f"/callback?data64={broken}&oneTimeToken={document['oneTimeToken']}").status_code == 400
    assert user.post("/connect/spotify", {"csrf_token": access_token, "data64": broken}).status_code == 400
    assert user.post("/disconnect/tidal", {"csrf_token": user.csrf_token or ""}).status_code == 303
    assert user.post("/logout", {"csrf_token": user.csrf_token or ""}).status_code == 303
    last = recorder.request_ids[-1]
    assert logged_app.logs.wait_for(lambda line: f"request_id={last}" in line, timeout=10)

    log = logged_app.logs.text()
    leaks = sorted({secret[:24] + "…" for secret in recorder.secrets if secret in log})
    assert leaks == [], f"secrets in the log: {leaks}"
    assert "Authorization" not in log
    assert "sk_live" not in log
    access_lines = [line for line in log.splitlines() if "request_id=scan-" in line]
    assert len(access_lines) == len(recorder.request_ids), "one access line per request"
    for line in access_lines:
        path = re.search(r" path=(\S+)", line)
        assert path, line
        assert "?" not in path.group(1), line
    print(f"\nscanned {len(log.splitlines())} log lines for {len(recorder.secrets)} secrets: none found")


def test_the_routers_request_id_is_echoed_and_logged(logged_app: GunicornApp, simulator: Simulator) -> None:
    user = User(logged_app.url, simulator)

    response = user.get("/healthz", headers={"X-Request-ID": "router-id-7f3a"})

    assert response.headers["X-Request-ID"] == "router-id-7f3a"
    assert logged_app.logs.wait_for(lambda line: "request_id=router-id-7f3a" in line and "path=/healthz" in line)


@pytest.mark.parametrize(
    "incoming",
    [None, "", "has space", "x" * 200, "inject\tat=error", "ünïcode", "a,b"],
    ids=["absent", "empty", "space", "too long", "tab", "non-ascii", "comma"],
)
def test_a_missing_or_hostile_request_id_is_replaced_by_a_new_one(
    logged_app: GunicornApp, simulator: Simulator, incoming: str | None
) -> None:
    user = User(logged_app.url, simulator)
    headers = {} if incoming is None else {"X-Request-ID": incoming.encode().decode("latin-1")}

    response = user.get("/healthz", headers=headers)

    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert logged_app.logs.wait_for(lambda line: f"request_id={request_id}" in line)


def test_a_path_cannot_forge_a_log_line(logged_app: GunicornApp, simulator: Simulator) -> None:
    user = User(logged_app.url, simulator)

    response = user.get("/x%0Aat=error%20event=forged%20request_id=forged", headers={"X-Request-ID": "forge-test"})

    assert response.status_code == 404
    assert logged_app.logs.wait_for(lambda line: "request_id=forge-test" in line)
    assert not any(line.startswith("at=error event=forged") for line in logged_app.logs.text().splitlines())

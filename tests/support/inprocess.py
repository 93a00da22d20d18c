"""A browser talking to an in-process app through Flask's test client: fast, for tables and fuzzing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.pages import csrf_token_in

IN_PROCESS_URL = "http://localhost"


class InProcessBrowser:
    def __init__(self, app: Flask, *, base_url: str = IN_PROCESS_URL) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.base_url = base_url
        self.csrf_token: str | None = None

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, base_url=self.base_url, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        return self.client.post(path, data=data or {}, base_url=self.base_url, **kwargs)

    def open_home(self) -> TestResponse:
        response = self.get("/")
        self.csrf_token = csrf_token_in(response.get_data(as_text=True))
        return response

    def start_login(self, service: str | None = "spotify", *, next_path: str | None = None) -> TestResponse:
        if self.csrf_token is None:
            self.open_home()
        form = {"csrf_token": self.csrf_token or ""}
        if next_path is not None:
            form["next"] = next_path
        return self.post(f"/connect/{service}" if service else "/connect", form)

    def return_url(self, login: TestResponse) -> str:
        assert login.status_code == 303, login.get_data(as_text=True)[:300]
        return parse_qs(urlsplit(login.headers["Location"]).query)["returnUrl"][0]

    def state(self, login: TestResponse) -> str:
        return parse_qs(urlsplit(self.return_url(login)).query)["state"][0]

    def callback(self, query: dict[str, str] | str) -> TestResponse:
        text = query if isinstance(query, str) else urlencode(query)
        return self.get(f"/callback?{text}")

    def cookie(self, name: str) -> str | None:
        found = self.client.get_cookie(name)
        return found.value if found is not None else None

    def set_cookie(self, name: str, value: str) -> None:
        self.client.set_cookie(name, value)

    def accounts(self) -> list[dict[str, Any]]:
        response = self.get("/api/session")
        if response.status_code == 401:
            return []
        assert response.status_code == 200, response.get_data(as_text=True)
        accounts: list[dict[str, Any]] = response.get_json()["accounts"]
        return accounts

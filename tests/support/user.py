"""A person's browser, as a requests session: methods read like what the person does."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import csrf_token_in


class User:
    """One browser talking to the app (and, through the simulator, to MusicAPI)."""

    def __init__(self, app_url: str, simulator: Simulator, *, headers: dict[str, str] | None = None) -> None:
        self.app_url = app_url
        self.simulator = simulator
        self.http = requests.Session()
        self.http.headers.update(headers or {})
        self.csrf_token: str | None = None

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.app_url + path, allow_redirects=False, timeout=30, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.app_url + path, data=data or {}, allow_redirects=False, timeout=30, **kwargs)

    def open_home(self) -> requests.Response:
        response = self.get("/")
        self.csrf_token = csrf_token_in(response.text)
        return response

    def start_login(self, service: str | None = "spotify", *, next_path: str | None = None) -> requests.Response:
        """Press a Connect button: the answer is a 303 to MusicAPI's login page."""
        if self.csrf_token is None:
            self.open_home()
        assert self.csrf_token is not None
        form = {"csrf_token": self.csrf_token}
        if next_path is not None:
            form["next"] = next_path
        return self.post(f"/connect/{service}" if service else "/connect", form)

    def return_url(self, login_response: requests.Response) -> str:
        assert login_response.status_code == 303, login_response.text[:500]
        query = parse_qs(urlsplit(login_response.headers["Location"]).query)
        return query["returnUrl"][0]

    def callback_url(self, login_response: requests.Response, data64: str) -> str:
        """Where MusicAPI sends the browser back: returnUrl plus data64."""
        return_url = self.return_url(login_response)
        separator = "&" if "?" in return_url else "?"
        return f"{return_url}{separator}{urlencode({'data64': data64})}"

    def come_back(self, url: str) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=30)

    def connect(
        self, service: str = "spotify", *, next_path: str | None = None, **data64_options: Any
    ) -> requests.Response:
        """The whole login: start it, log in at MusicAPI, come back; the callback's answer."""
        login = self.start_login(service, next_path=next_path)
        data64 = encode_data64(self.simulator.issue_login(service), **data64_options)
        return self.come_back(self.callback_url(login, data64))

    def accounts(self) -> list[dict[str, Any]]:
        response = self.get("/api/session")
        if response.status_code == 401:
            return []
        assert response.status_code == 200, response.text
        accounts: list[dict[str, Any]] = response.json()["accounts"]
        return accounts

    def connected_services(self) -> list[str]:
        return [account["service"] for account in self.accounts()]

    def cookie_names(self) -> set[str]:
        return {cookie.name for cookie in self.http.cookies}

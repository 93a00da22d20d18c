"""The HTTP client that talks to MusicAPI: one pooled ``requests.Session`` per worker process.

A one-time token works once, so a request that may have reached MusicAPI is never sent again:
only failures to connect are retried. The whole exchange (connect, headers and body) has one
wall-clock deadline, kept by gevent's Timeout in the gunicorn worker; each socket read also
has requests' own timeout, so the deadline holds per read wherever gevent does not run.
"""

from __future__ import annotations

import gevent
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from callback_app.errors import UpstreamError, UpstreamRefused, UpstreamTimeout, UpstreamUnreachable
from callback_app.musicapi.protocol import (
    MAX_RESPONSE_BYTES,
    IntegrationUser,
    LoginResult,
    basic_authorization,
    exchange_path,
    parse_integration_user,
    token_authorization,
)
from callback_app.settings import EXCHANGE_CONNECT_TIMEOUT, EXCHANGE_DEADLINE, REFRESH_DEADLINE, WORKER_CONNECTIONS

# What MusicAPI answers for a token or credentials it does not accept.
REFUSALS = frozenset({400, 401, 403, 404, 410})
# read=False: a failure after the request was sent is raised as it is, never retried.
NO_RESEND = Retry(total=None, connect=2, read=False, redirect=0, status=0, other=0, backoff_factor=0)


class MusicApiClient:
    """Exchanges one-time tokens (and client credentials) for a user's streaming tokens."""

    def __init__(self, api_url: str, *, pool_size: int = WORKER_CONNECTIONS) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = requests.Session()
        # Proxies, netrc and CA bundles from the environment never get a say in where a token goes.
        self.http.trust_env = False
        self.http.headers = requests.structures.CaseInsensitiveDict(
            {"User-Agent": "callback_app/2", "Accept": "application/json"}
        )
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=NO_RESEND)
        self.http.mount(f"{self.api_url}/", adapter)

    def exchange(self, login: LoginResult) -> IntegrationUser:
        """Spend the one-time token of ``login`` for the account and its tokens."""
        return self.fetch_user(
            login.integration_user_uuid, token_authorization(login.one_time_token), EXCHANGE_DEADLINE
        )

    def fetch_fresh(self, integration_user_uuid: str, client_id: str, client_secret: str) -> IntegrationUser:
        """Fetch current tokens for a known user with the account's client credentials."""
        return self.fetch_user(integration_user_uuid, basic_authorization(client_id, client_secret), REFRESH_DEADLINE)

    def fetch_user(self, integration_user_uuid: str, authorization: str, deadline: float) -> IntegrationUser:
        url = self.api_url + exchange_path(integration_user_uuid)
        headers = {"Authorization": authorization, "Content-Type": "application/json; charset=utf-8"}
        try:
            with (
                gevent.Timeout(deadline),
                self.http.get(
                    url,
                    headers=headers,
                    timeout=(min(EXCHANGE_CONNECT_TIMEOUT, deadline), deadline),
                    allow_redirects=False,
                    stream=True,
                ) as response,
            ):
                status = response.status_code
                body = read_body(response)
        except gevent.Timeout as error:
            raise UpstreamTimeout() from error
        except requests.RequestException as error:
            raise transport_error(error) from error
        if status in REFUSALS:
            raise UpstreamRefused()
        if status != 200:
            raise UpstreamError()
        return parse_integration_user(body, integration_user_uuid)


def read_body(response: requests.Response) -> bytes:
    """The whole body, refusing one larger than MusicAPI ever sends."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise UpstreamError()
    body = bytearray()
    for chunk in response.iter_content(16384):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise UpstreamError()
    return bytes(body)


def transport_error(error: requests.RequestException) -> UpstreamError:
    """What a transport failure means for the person waiting: too slow, unreachable, or broken."""
    if isinstance(error, requests.Timeout):
        return UpstreamTimeout()
    # requests reports a read timeout in the middle of a body as a ConnectionError around it.
    if isinstance(error, requests.ConnectionError) and any(isinstance(arg, ReadTimeoutError) for arg in error.args):
        return UpstreamTimeout()
    if isinstance(error, requests.ConnectionError):
        return UpstreamUnreachable()
    return UpstreamError()

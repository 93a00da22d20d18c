"""rediss://: a Redis behind TLS with a self-signed certificate, as Heroku's Key-Value Store presents.

Without verification (REDIS_TLS_VERIFY=0, Heroku's documented setting) logins work; with it (the
default for any other host) an untrusted certificate takes the instance out of rotation and refuses
logins plainly; a certificate trusted through the platform's SSL_CERT_FILE works.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callback_app.simulator import Simulator
from tests.support.pages import error_code_in
from tests.support.redis import RedisServer
from tests.support.user import User

from .conftest import StartApp


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("tls-redis"), tls=True)
    yield server
    server.stop()


def test_heroku_setting_connects_to_a_self_signed_redis(
    launch: StartApp, tls_redis: RedisServer, simulator: Simulator
) -> None:
    app = launch(REDIS_URL=tls_redis.url, REDIS_TLS_VERIFY="0")
    user = User(app.url, simulator)

    assert user.get("/readyz").status_code == 200
    assert user.connect("tidal").status_code == 303
    assert user.connected_services() == ["tidal"]
    assert len(tls_redis.keyspace()) > 0


def test_verification_refuses_an_untrusted_certificate(
    launch: StartApp, tls_redis: RedisServer, simulator: Simulator
) -> None:
    app = launch(REDIS_URL=tls_redis.url)
    user = User(app.url, simulator)

    assert user.get("/readyz").status_code == 503
    assert user.get("/healthz").status_code == 200
    user.open_home()
    refused = user.start_login("tidal")
    assert refused.status_code == 503
    assert error_code_in(refused.text) == "unavailable"
    assert "Location" not in refused.headers


def test_verification_accepts_a_certificate_the_platform_trusts(
    launch: StartApp, tls_redis: RedisServer, simulator: Simulator
) -> None:
    assert tls_redis.cert is not None
    app = launch(REDIS_URL=tls_redis.url, SSL_CERT_FILE=str(tls_redis.cert))
    user = User(app.url, simulator)

    assert user.get("/readyz").status_code == 200
    assert user.connect("tidal").status_code == 303
    assert user.connected_services() == ["tidal"]

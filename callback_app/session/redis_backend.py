"""The Redis connection every Redis-backed part shares: one redis-py client per worker, short
timeouts, no retries (a retried command could spend a login twice), and the Lua scripts that
make each step one atomic round trip. A failure of any call is ``Unavailable``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from callback_app.errors import Unavailable
from callback_app.settings import REDIS_CONNECTIONS, REDIS_POOL_WAIT, REDIS_TIMEOUT

T = TypeVar("T")
KEY_PREFIX = "callback_app:"

# One round trip per page: read the session, and slide its idle window unless it has passed.
_LOAD_SESSION = """
local seen = redis.call('HGET', KEYS[1], '_seen')
if not seen then return {} end
if tonumber(ARGV[1]) - tonumber(seen) > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return {}
end
local data = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], '_seen', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return data
"""
# A login's state is spent atomically: exactly one callback moves it from pending to in flight.
_CLAIM_FLOW = """
local state = redis.call('GET', KEYS[1])
if state == 'pending' then
  redis.call('SET', KEYS[1], 'inflight', 'EX', ARGV[1])
  return 'claimed'
end
return state
"""


def digest(text: str) -> str:
    """Redis names never hold the id, state or user they stand for."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RedisBackend:
    """One redis-py client per worker (its pool is shared by every request of the worker)."""

    def __init__(self, url: str, *, tls_verify: bool) -> None:
        options: dict[str, Any] = {
            "socket_timeout": REDIS_TIMEOUT,
            "socket_connect_timeout": REDIS_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
        }
        if url.startswith("rediss://") and not tls_verify:
            # Heroku Key-Value Store presents a self-signed certificate: Heroku documents this setting.
            options["ssl_cert_reqs"] = None
        # A few connections, waited for when all are busy: redis-py's default pool refuses the 101st
        # concurrent call outright (a burst of callbacks would lose logins whose tokens are spent),
        # and small plans cap how many clients a Redis accepts.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_POOL_WAIT, **options
        )
        self.client = redis.Redis(connection_pool=pool)
        self.load_session = self.client.register_script(_LOAD_SESSION)
        self.claim_flow = self.client.register_script(_CLAIM_FLOW)

    def call(self, command: Callable[[], T]) -> T:
        with unavailable_on_error():
            return command()

    def ready(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


@contextmanager
def unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as error:
        raise Unavailable() from error

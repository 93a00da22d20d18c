"""Debian's redis-server, started by a test: on a free port, optionally with TLS or persistence, stoppable
and restartable; and what the tests read from it (the whole keyspace, the commands clients send)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.support.nginx import listening
from tests.support.servers import free_port, stop_process_group, wait_until
from tests.support.tls import make_self_signed_certificate

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# A command a script runs inside the server is listed by MONITOR with this client type: no round trip.
SCRIPT_CLIENT = "lua"


class RedisServer:
    """A real Redis for the store's tests; ``stop()`` and ``start()`` play an outage and a recovery.

    ``persistent`` keeps the data across a restart (an append-only file written on every command), as a
    managed Redis does: what a test finds after the restart is what was written before the outage.
    """

    def __init__(self, directory: Path, *, tls: bool = False, persistent: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.tls = tls
        self.persistent = persistent
        self.cert: Path | None = None
        self.key: Path | None = None
        if tls:
            self.cert, self.key = make_self_signed_certificate(directory, "localhost")
        self.process: subprocess.Popen[bytes] | None = None
        self._counters: redis.Redis | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def arguments(self) -> list[str]:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        common = ["--bind", "127.0.0.1", "--save", "", *persistence, "--dir", str(self.directory)]
        if not self.tls:
            return [REDIS_SERVER, "--port", str(self.port), *common]
        return [
            REDIS_SERVER,
            "--port",
            "0",
            "--tls-port",
            str(self.port),
            "--tls-cert-file",
            str(self.cert),
            "--tls-key-file",
            str(self.key),
            "--tls-auth-clients",
            "no",
            *common,
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.arguments(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        if not wait_until(lambda: listening(self.port)):
            self.stop()
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            stop_process_group(self.process)
            self.process = None
        wait_until(lambda: not listening(self.port))

    def freeze(self) -> None:
        """Stop answering without closing anything (SIGSTOP): connections are accepted, nothing is replied."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Answer again (SIGCONT): the commands sent meanwhile are run now."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def calls_of(self, command: str) -> int:
        """How many times ``command`` has run since the server started (INFO commandstats)."""
        stats = self._watcher().info("commandstats").get(f"cmdstat_{command.lower()}", {})
        calls: int = stats.get("calls", 0)
        return calls

    def connections_received(self) -> int:
        """How many connections the server has accepted since it started."""
        received: int = self._watcher().info("stats")["total_connections_received"]
        return received

    def _watcher(self) -> redis.Redis:
        # One kept connection for the counters, so reading them adds no connection of its own.
        if self._counters is None:
            self._counters = self.client()
        return self._counters

    def client(self) -> redis.Redis:
        """A client for the test itself (TLS without verification: the test trusts its own server)."""
        if self.tls:
            return redis.Redis.from_url(self.url, ssl_cert_reqs=None)
        return redis.Redis.from_url(self.url)

    def flush(self) -> None:
        self.client().flushall()

    def keyspace(self) -> dict[bytes, Any]:
        """Every key and everything it holds, whatever its type: strings, hashes, streams, lists, sets."""
        client = self.client()
        readers: dict[bytes, Callable[[bytes], Any]] = {
            b"string": client.get,
            b"hash": client.hgetall,
            b"stream": client.xrange,
            b"list": lambda key: client.lrange(key, 0, -1),
            b"set": client.smembers,
            b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        }
        contents = {}
        for key in client.scan_iter(count=1000):
            contents[key] = readers[client.type(key)](key)
        return contents

    def commands_during(self, action: Callable[[], object]) -> list[dict[str, Any]]:
        """The commands clients sent while ``action`` ran, as MONITOR lists them (those scripts run excluded).

        A marker sent after the action ends the listing, so nothing is waited for by time.
        """
        marker = f"end-of-action-{uuid.uuid4()}"
        sender = self.client()
        # Connected before listening: the marker's own connection handshake is not the action's.
        sender.ping()
        commands = []
        with self.client().monitor() as monitor:
            action()
            sender.echo(marker)
            while True:
                command = monitor.next_command()
                if marker in command["command"]:
                    break
                if command["client_type"] != SCRIPT_CLIENT:
                    commands.append(command)
        return commands


def round_trips(commands: list[dict[str, Any]]) -> int:
    """How many times a client waited for Redis: a MULTI ... EXEC block is sent as one."""
    trips = 0
    in_transaction = False
    for command in commands:
        name = command["command"].split(" ", 1)[0].upper()
        if name == "MULTI":
            in_transaction = True
            trips += 1
        elif name in ("EXEC", "DISCARD"):
            in_transaction = False
        elif not in_transaction:
            trips += 1
    return trips

"""A minimal MusicAPI for benchmarks: the exchange endpoint on bare gevent, no Flask.

Why not the simulator: it answers through Flask with per-user fake data, so during a throughput run it
would take a good share of the two cores the app is measured on. This fake costs a fraction of that and
holds thousands of slow requests (one greenlet each). Logins are minted by the load client (bench/tokens.py).

    python -m bench.fake_musicapi --port 0 --latency 0.5 --token-ttl 60 --secret HEX

``POST /_control`` takes JSON ``{"latency": s, "token_ttl": s}``; ``GET /_control/stats`` returns the
counts of exchanges answered, by outcome.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import string
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent
import gevent.socket
from gevent.pywsgi import WSGIServer

from bench.tokens import token_issued_at

EXCHANGE_PREFIX = "/api/public/integrations/user/"
LISTEN_BACKLOG = 4096
PRUNE_SPENT_ABOVE = 20_000
ALPHABET = string.ascii_letters + string.digits + "-_"

StartResponse = Callable[..., Any]


class FakeMusicApi:
    def __init__(self, secret: bytes, latency: float, token_ttl: float) -> None:
        self.secret = secret
        self.latency = latency
        self.token_ttl = token_ttl
        self.spent: dict[str, float] = {}
        self.stats = {"ok": 0, "expired": 0, "replayed": 0, "invalid": 0}
        # Not security sensitive: fake tokens of Spotify's sizes, made once.
        generator = random.Random(4)
        self.auth_data = [
            {
                "accessToken": "BQ" + "".join(generator.choice(ALPHABET) for _ in range(281)),
                "refreshToken": "AQ" + "".join(generator.choice(ALPHABET) for _ in range(129)),
            }
            for _ in range(16)
        ]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(EXCHANGE_PREFIX):
            return self.exchange(path[len(EXCHANGE_PREFIX) :], environ, start_response)
        if path == "/_control" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            settings = json.loads(environ["wsgi.input"].read(length) or b"{}")
            self.latency = float(settings.get("latency", self.latency))
            self.token_ttl = float(settings.get("token_ttl", self.token_ttl))
            return respond(start_response, 200, {"latency": self.latency, "token_ttl": self.token_ttl})
        if path == "/_control/stats":
            return respond(start_response, 200, self.stats)
        return respond(start_response, 404, {"error": "not_found"})

    def exchange(self, user_uuid: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.latency > 0:
            gevent.sleep(self.latency)
        return self.answer(user_uuid, environ.get("HTTP_AUTHORIZATION", ""), start_response)

    def answer(self, user_uuid: str, authorization: str, start_response: StartResponse) -> Iterable[bytes]:
        # Checked after the latency, as the simulator does: the token must still be alive when answered.
        scheme, _, token = authorization.partition(" ")
        issued_at = token_issued_at(self.secret, user_uuid, token) if scheme == "Token" else None
        now = time.time()
        if issued_at is None:
            return self.refuse(start_response, "invalid")
        if token in self.spent:
            return self.refuse(start_response, "replayed")
        if now - issued_at >= self.token_ttl:
            return self.refuse(start_response, "expired")
        self.spent[token] = issued_at
        if len(self.spent) > PRUNE_SPENT_ABOVE:
            # A token past its life is refused as expired anyway: forget it, so a soak stays flat.
            self.spent = {key: at for key, at in self.spent.items() if now - at < self.token_ttl}
        self.stats["ok"] += 1
        user = {
            "integrationUserId": str(1_000_000_000 + hash(user_uuid) % 1_000_000_000),
            "userUUID": user_uuid,
            "name": "Zoë O'Brien",
            "email": "zoe.obrien@example.com",
            "imageUrl": "https://cdn.simulator.musicapi.example/avatars/0123456789abcdef.jpg",
            "country": "pl",
            "authData": self.auth_data[hash(user_uuid) % len(self.auth_data)],
            "authDataExpiresAt": int(now * 1000) + 3_600_000,
        }
        return respond(start_response, 200, {"integrationUser": user})

    def refuse(self, start_response: StartResponse, reason: str) -> Iterable[bytes]:
        self.stats[reason] += 1
        return respond(start_response, 401, {"error": "invalid_token"})


def respond(start_response: StartResponse, status: int, body: object) -> list[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def listener(port: int) -> gevent.socket.socket:
    """A loopback listener whose connections skip Nagle's algorithm.

    gevent's pywsgi sends the head and the body of a response in two writes; with Nagle on,
    the body waits for the client's delayed ACK on every answer. Accepted sockets inherit
    TCP_NODELAY from the listener.
    """
    sock = gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_STREAM)
    sock.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_REUSEADDR, 1)
    sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(LISTEN_BACKLOG)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_musicapi", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token-ttl", type=float, default=60.0)
    parser.add_argument("--secret", required=True, help="hex; shared with the load client")
    arguments = parser.parse_args(argv)
    app = FakeMusicApi(bytes.fromhex(arguments.secret), arguments.latency, arguments.token_ttl)
    server = WSGIServer(listener(arguments.port), app, log=None)
    server.start()
    gevent.signal_handler(signal.SIGTERM, server.stop)
    gevent.signal_handler(signal.SIGINT, server.stop)
    print(f"fake musicapi listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

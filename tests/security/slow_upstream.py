"""A MusicAPI that is slow on purpose, played on a raw socket: status line, headers and body at a trickle.

Each exchange picks its behaviour by the integration user in its path, so several slow callbacks
can wait on one server at once. Every wait ends when the app hangs up or the server closes.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections import Counter
from typing import Any

SILENT = "silent"
HEADER_LINES = "a header line at a time"
HEADER_BYTES = "a header byte at a time"
PARTIAL_HEADERS = "partial headers, then silence"
BODY_BYTES = "a body byte at a time"
SLOW_BUT_IN_TIME = "slow, but finished in time"
BEHAVIOURS = (SILENT, HEADER_LINES, HEADER_BYTES, PARTIAL_HEADERS, BODY_BYTES, SLOW_BUT_IN_TIME)
# How many ticks the answer that finishes in time takes, header line by header line.
IN_TIME_TICKS = 2
MAX_REQUEST_BYTES = 65536


class SlowUpstream:
    """The exchange endpoint of MusicAPI, answering each integration user as the test chose."""

    def __init__(self, *, tick: float = 3.0) -> None:
        self.tick = tick
        self.behaviours: dict[str, str] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.closing = threading.Event()
        upstream = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                upstream.serve(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def behave(self, user_uuid: str, behaviour: str, answer: dict[str, Any] | None = None) -> None:
        """Answer the exchange for ``user_uuid`` this way (with ``answer`` as the JSON, if it ever finishes)."""
        with self.lock:
            self.behaviours[user_uuid] = behaviour
            self.answers[user_uuid] = answer or {}

    def calls_for(self, user_uuid: str) -> int:
        with self.lock:
            return self.calls[user_uuid]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def serve(self, connection: socket.socket) -> None:
        user_uuid = self.read_request(connection)
        with self.lock:
            self.calls[user_uuid] += 1
            behaviour = self.behaviours.get(user_uuid, SILENT)
            answer = json.dumps(self.answers.get(user_uuid, {})).encode()
        try:
            self.play(connection, behaviour, answer)
        except OSError:
            return  # the app hung up: what a deadline is for

    def read_request(self, connection: socket.socket) -> str:
        """The integration user of the exchange request (the path's last segment)."""
        connection.settimeout(self.tick * 4)
        received = b""
        while b"\r\n\r\n" not in received and len(received) < MAX_REQUEST_BYTES:
            chunk = connection.recv(4096)
            if not chunk:
                break
            received += chunk
        request_line = received.split(b"\r\n", 1)[0].decode("latin-1")
        target = request_line.split(" ")[1] if request_line.count(" ") >= 2 else ""
        return target.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]

    def play(self, connection: socket.socket, behaviour: str, answer: bytes) -> None:
        if behaviour == SILENT:
            self.hold(connection)
            return
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        if behaviour == PARTIAL_HEADERS:
            connection.sendall(b"Content-Type: application/json\r\n")
            self.hold(connection)
        elif behaviour == HEADER_LINES:
            self.trickle(connection, (b"X-Slow-%d: %d\r\n" % (n, n) for n in range(1_000_000)))
        elif behaviour == HEADER_BYTES:
            connection.sendall(b"X-Slow: ")
            self.trickle(connection, (b"a" for _ in range(1_000_000)))
        elif behaviour == BODY_BYTES:
            connection.sendall(b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            self.trickle(connection, (b" " for _ in range(1_000_000)))
        elif behaviour == SLOW_BUT_IN_TIME:
            self.trickle(connection, (b"X-Slow-%d: %d\r\n" % (n, n) for n in range(IN_TIME_TICKS)))
            connection.sendall(
                b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(answer)
                + answer
            )

    def trickle(self, connection: socket.socket, pieces: Any) -> None:
        """Send one piece per tick, until the pieces run out, the app hangs up or the server closes."""
        for piece in pieces:
            if self.closing.wait(self.tick):
                return
            connection.sendall(piece)

    def hold(self, connection: socket.socket) -> None:
        """Say nothing more until the app hangs up or the server closes."""
        connection.settimeout(self.tick)
        while not self.closing.is_set():
            try:
                if not connection.recv(1024):
                    return
            except TimeoutError:
                continue

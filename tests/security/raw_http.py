"""HTTP requests written byte by byte on a socket (plain or TLS), for what an HTTP library refuses to send.

The answer is read with the standard library's parser, so chunked and length-delimited bodies both work.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass, field

ANSWER_TIMEOUT = 10.0
# The status of an answer without a status line: HTTP/0.9's, to a request line without a version.
NO_STATUS_LINE = 0


@dataclass(frozen=True)
class RawAnswer:
    """A server's answer: status, every header as sent (repeated ones kept), and the body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class Endpoint:
    """Where raw requests go: a host and port, over TLS when ``tls`` holds a client context."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    server_name: str = "localhost"

    def connect(self, timeout: float) -> socket.socket:
        connection = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.tls is None:
            return connection
        return self.tls.wrap_socket(connection, server_hostname=self.server_name)


def tls_trusting(ca_bundle: str) -> ssl.SSLContext:
    """A client context that trusts only the test's own certificate authority."""
    return ssl.create_default_context(cafile=ca_bundle)


def request_bytes(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"", version: bytes = b"HTTP/1.1"
) -> bytes:
    """One request exactly as given (nothing checked, nothing escaped), asking the server to close after it."""
    lines = [b" ".join(part for part in (method, target, version) if part)]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def send_raw(
    endpoint: Endpoint, data: bytes, *, head: bool = False, timeout: float = ANSWER_TIMEOUT
) -> RawAnswer | None:
    """Send ``data`` and read the answer; None when the server closed the connection without one."""
    with endpoint.connect(timeout) as connection:
        connection.sendall(data)
        response = http.client.HTTPResponse(connection, method="HEAD" if head else "GET")
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        except http.client.BadStatusLine as answer:
            return RawAnswer(NO_STATUS_LINE, [], str(answer.line).encode("latin-1", "replace"))
        try:
            body = response.read()
        except http.client.IncompleteRead as cut:
            body = cut.partial
        return RawAnswer(response.status, list(response.getheaders()), body)

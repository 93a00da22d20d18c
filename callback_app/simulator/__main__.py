"""Command line: serve the MusicAPI simulator on its own, with gevent (thousands of slow requests) or threads."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType

import gevent
from flask import Flask
from gevent import monkey
from gevent.pywsgi import WSGIServer
from werkzeug.serving import make_server

from callback_app.simulator.server import create_simulator_app
from callback_app.simulator.state import Simulator

# Benchmarks open thousands of connections at once; the kernel caps this at net.core.somaxconn.
LISTEN_BACKLOG = 4096


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m callback_app.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001, help="0 picks a free port (printed when ready)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each exchange answer")
    parser.add_argument("--token-ttl", type=float, default=60.0, help="one-time token lifetime in seconds")
    parser.add_argument("--slug", default="simulator")
    parser.add_argument("--client-id", default="simulator-client")
    parser.add_argument("--client-secret", default="simulator-secret")
    parser.add_argument("--server", choices=("gevent", "threaded"), default="gevent")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then exit 0."""
    arguments = parse_arguments(argv)
    if arguments.server == "gevent":
        # Before anything builds a lock or a socket, so the simulator's waits and lock are cooperative.
        # ssl stays unpatched: the simulator speaks plain HTTP and the package imported ssl already.
        monkey.patch_all(ssl=False)
        serve_with_gevent(build_app(arguments), arguments.host, arguments.port)
    else:
        serve_threaded(build_app(arguments), arguments.host, arguments.port)
    return 0


def build_app(arguments: argparse.Namespace) -> Flask:
    """The standalone simulator app configured from the command line."""
    simulator = Simulator(
        token_ttl=arguments.token_ttl,
        client_id=arguments.client_id,
        client_secret=arguments.client_secret,
        slug=arguments.slug,
    )
    simulator.latency = arguments.latency
    return create_simulator_app(simulator)


def announce(host: str, port: int) -> None:
    """The one line a parent process waits for."""
    print(f"simulator listening on http://{host}:{port}", flush=True)


def listener(host: str, port: int) -> socket.socket:
    """A listening socket whose connections send small writes at once.

    Responses leave in two writes (headers, then body); with Nagle's algorithm on, the second
    waits ~40 ms for the client's delayed ACK, which would slow every simulated exchange.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def serve_with_gevent(app: Flask, host: str, port: int) -> None:
    """One greenlet per request, no access log: logging thousands of lines would cost more than serving them."""
    server = WSGIServer(listener(host, port), app, log=None)
    server.start()
    gevent.signal_handler(signal.SIGTERM, server.stop)
    gevent.signal_handler(signal.SIGINT, server.stop)
    announce(host, server.server_port)
    server.serve_forever()


def serve_threaded(app: Flask, host: str, port: int) -> None:
    """One thread per request with werkzeug's server; access logs off, errors still logged."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, app, threaded=True)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    announce(host, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _raise_keyboard_interrupt(signal_number: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())

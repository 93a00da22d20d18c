"""Type aliases shared by several rooms: the clock and the WSGI callables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# Seconds since the epoch; injected everywhere so that tests move time instead of waiting for it.
Clock = Callable[[], float]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

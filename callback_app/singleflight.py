"""One call in flight per key: concurrent callers for the same key wait for the first one's result.

Used for what must happen once however often it is asked for at the same moment: spending a
one-time token (a double click, a reload) and refreshing an account's tokens. A finished
result can be kept for a while, for callers that arrive just after it was produced.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Calls ``work`` once per key at a time; keeps finished results ``keep_for`` seconds."""

    def __init__(self, *, keep_for: float = 0.0, max_kept: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.keep_for = keep_for
        self.max_kept = max_kept
        self.clock = clock
        # Under gunicorn's gevent worker, threading is patched: the lock and the futures are cooperative.
        self._lock = threading.Lock()
        self._in_flight: dict[Hashable, Future[T]] = {}
        # Oldest first, so forgetting stops at the first result still worth keeping.
        self._finished: OrderedDict[Hashable, tuple[Future[T], float]] = OrderedDict()

    def run(self, key: Hashable, work: Callable[[], T], *, wait: float | None = None) -> T:
        """``work()``'s result, or the result of the call already in flight (or just finished) for ``key``.

        A waiter gives up after ``wait`` seconds with TimeoutError.
        """
        with self._lock:
            self._forget_finished()
            known = self._in_flight.get(key)
            if known is None and key in self._finished:
                known = self._finished[key][0]
            if known is None:
                future: Future[T] = Future()
                self._in_flight[key] = future
        if known is not None:
            return known.result(timeout=wait)
        try:
            future.set_result(work())
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._in_flight[key]
                if self.keep_for > 0:
                    self._finished[key] = (future, self.clock())
                    self._finished.move_to_end(key)
        return future.result()

    def _forget_finished(self) -> None:
        now = self.clock()
        while self._finished:
            _, finished_at = next(iter(self._finished.values()))
            if len(self._finished) <= self.max_kept and now - finished_at <= self.keep_for:
                break
            self._finished.popitem(last=False)

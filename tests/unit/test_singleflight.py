"""One call in flight per key: whoever asks for the same key at the same moment shares the first caller's outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from callback_app.singleflight import SingleFlight
from tests.support.clock import FakeClock
from tests.support.servers import wait_until

CALLERS = 8


class CountingClock(FakeClock):
    """A fake clock that counts its readings: every caller of ``run`` reads it once on the way in."""

    def __init__(self) -> None:
        super().__init__(1_000.0)
        self.readings = 0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.readings += 1
        return super().__call__()


class HeldWork:
    """Work that blocks until released, counting how often it was started."""

    def __init__(self, result: object = "result", error: BaseException | None = None) -> None:
        self.result = result
        self.error = error
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> object:
        self.calls += 1
        self.started.set()
        assert self.release.wait(10), "the test never released the work"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=CALLERS) as executor:
        yield executor


def callers_waiting(
    pool: ThreadPoolExecutor, flights: SingleFlight[object], clock: CountingClock, work: HeldWork, key: str = "k"
) -> list[Future[object]]:
    """CALLERS concurrent calls for ``key``, returned once every one of them is inside ``run``."""
    futures = [pool.submit(flights.run, key, work) for _ in range(CALLERS)]
    # Each caller reads the clock under the lock where it looks the key up: once all have read it,
    # all have found the call in flight (it cannot finish before the test releases it).
    assert wait_until(lambda: clock.readings >= CALLERS), "the callers never arrived"
    return futures


def test_concurrent_callers_of_one_key_make_one_call_and_share_its_result(pool: ThreadPoolExecutor) -> None:
    clock = CountingClock()
    flights: SingleFlight[object] = SingleFlight(clock=clock)
    work = HeldWork(result={"account": "spotify"})

    futures = callers_waiting(pool, flights, clock, work)
    work.release.set()
    results = [future.result(timeout=10) for future in futures]

    assert work.calls == 1
    assert all(result is work.result for result in results)


def test_concurrent_callers_share_the_first_callers_exception(pool: ThreadPoolExecutor) -> None:
    clock = CountingClock()
    flights: SingleFlight[object] = SingleFlight(clock=clock)
    failure = ValueError("MusicAPI broke")
    work = HeldWork(error=failure)

    futures = callers_waiting(pool, flights, clock, work)
    work.release.set()
    errors = [future.exception(timeout=10) for future in futures]

    assert work.calls == 1
    assert all(error is failure for error in errors)


def test_without_keeping_the_next_call_after_a_finished_one_runs_again() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls: list[int] = []

    first = flights.run("k", lambda: calls.append(1) or 1)
    second = flights.run("k", lambda: calls.append(2) or 2)

    assert (first, second, calls) == (1, 2, [1, 2])


def test_after_an_exception_the_next_caller_tries_again() -> None:
    flights: SingleFlight[str] = SingleFlight()

    def broken() -> str:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        flights.run("k", broken)
    assert flights.run("k", lambda: "back") == "back"


@pytest.mark.parametrize(("elapsed", "kept"), [(0, True), (59, True), (60, True), (61, False)])
def test_a_result_is_kept_for_keep_for_seconds(elapsed: int, kept: bool) -> None:
    clock = FakeClock(1_000.0)
    flights: SingleFlight[str] = SingleFlight(keep_for=60, clock=clock)
    flights.run("k", lambda: "first")
    clock.advance(elapsed)

    again = flights.run("k", lambda: "second")

    assert again == ("first" if kept else "second")


def test_keys_are_kept_apart() -> None:
    flights: SingleFlight[str] = SingleFlight(keep_for=60, clock=FakeClock())

    assert flights.run("spotify", lambda: "a") == "a"
    assert flights.run("tidal", lambda: "b") == "b"
    assert flights.run("spotify", lambda: "c") == "a"


def test_a_key_in_flight_holds_up_no_other_key(pool: ThreadPoolExecutor) -> None:
    flights: SingleFlight[object] = SingleFlight()
    work = HeldWork()
    held = pool.submit(flights.run, "slow", work)
    assert work.started.wait(10)

    try:
        assert flights.run("other", lambda: "at once") == "at once"
    finally:
        work.release.set()
    assert held.result(timeout=10) == "result"


def test_a_waiter_gives_up_after_wait_seconds(pool: ThreadPoolExecutor) -> None:
    flights: SingleFlight[object] = SingleFlight()
    work = HeldWork()
    held = pool.submit(flights.run, "k", work)
    assert work.started.wait(10)

    try:
        with pytest.raises(TimeoutError):
            flights.run("k", work, wait=0.05)
    finally:
        work.release.set()
    assert held.result(timeout=10) == "result"
    assert work.calls == 1


def test_only_the_newest_max_kept_results_are_kept() -> None:
    flights: SingleFlight[str] = SingleFlight(keep_for=60, max_kept=2, clock=FakeClock())
    calls: list[str] = []

    def work(name: str) -> Callable[[], str]:
        return lambda: calls.append(name) or name

    for key in ("a", "b", "c"):
        flights.run(key, work(key))
    again = [flights.run(key, work(key + "'")) for key in ("c", "a")]

    assert again == ["c", "a'"]
    assert calls == ["a", "b", "c", "a'"]

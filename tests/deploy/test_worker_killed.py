"""A worker killed with callbacks waiting on a slow MusicAPI: who loses the login, what they see, how they recover.

Two gevent workers hold 200 callbacks whose exchange MusicAPI answers slowly; one worker gets SIGKILL
(the platform's out-of-memory killer, a crash). Its people lose their login: the test measures how
many and what their browsers saw, then has each reload the callback URL, as a person would, and
follows the page's "Try again" through MusicAPI's login pages to a connected account.
Run with ``-s`` to see the numbers.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.pages import csrf_token_in, error_code_in
from tests.support.processes import StandaloneSimulator, Wiretap
from tests.support.servers import GunicornApp, wait_until

from .conftest import Launcher, Visitor

pytestmark = pytest.mark.deploy

WORKERS = 2
CALLBACKS = 200
# MusicAPI answers every exchange this slowly: all callbacks are waiting on it when the worker dies.
EXCHANGE_LATENCY = 2.0
# Each request on a connection of its own, as 200 different browsers would send them.
NEW_CONNECTION_EACH_TIME = {"Connection": "close"}
_BOOTED = re.compile(r"Booting worker with pid: (\d+)")
_RETRY_FORM = re.compile(r'<form class="js-connect" method="post" action="([^"]+)"')
# The contract's statuses for a callback that could not connect an account.
FAILED_CALLBACK = {400, 502, 504}


class CountingWiretap(Wiretap):
    """The wiretap, also counting the exchanges that have reached it."""

    def __init__(self, upstream: str) -> None:
        self.arrivals = 0
        self.counted = threading.Condition()
        super().__init__(upstream)

    def relay(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self.counted:
            self.arrivals += 1
            self.counted.notify_all()
        return super().relay(environ, start_response)

    def wait_for(self, arrivals: int, timeout: float) -> bool:
        with self.counted:
            return self.counted.wait_for(lambda: self.arrivals >= arrivals, timeout)


@dataclass
class Person:
    """One browser with a login under way: where MusicAPI sent it back, and what it got."""

    visitor: Visitor
    callback_url: str
    answer: requests.Response | None = None
    saw: str = ""


@pytest.fixture
def wiretap(musicapi_process: StandaloneSimulator) -> Iterator[CountingWiretap]:
    tap = CountingWiretap(musicapi_process.url)
    yield tap
    tap.close()


@pytest.fixture
def two_workers(launcher: Launcher, musicapi_process: StandaloneSimulator, wiretap: CountingWiretap) -> GunicornApp:
    return launcher.start(musicapi_process.url, WEB_CONCURRENCY=str(WORKERS), MUSICAPI_API_URL=f"{wiretap.url}/api")


def worker_pids(app: GunicornApp) -> list[int]:
    """The workers gunicorn says it booted, still alive."""
    pids = [int(pid) for pid in _BOOTED.findall(app.logs.text())]
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}")]


def open_sockets(pid: int) -> int:
    """How many sockets a process holds: two per waiting callback (the browser's and MusicAPI's)."""
    fds = f"/proc/{pid}/fd"
    return sum(1 for fd in os.listdir(fds) if os.readlink(f"{fds}/{fd}").startswith("socket:"))


def what_the_browser_saw(error: requests.ConnectionError) -> str:
    text = repr(error)
    if "RemoteDisconnected" in text:
        return "empty response"
    if "ConnectionResetError" in text or "Connection reset" in text:
        return "connection reset"
    return type(error).__name__


def one_time_token(callback_url: str) -> str:
    """The one-time token MusicAPI put in the callback URL's data64."""
    [data64] = parse_qs(urlsplit(callback_url).query)["data64"]
    token: str = json.loads(base64.b64decode(data64))["oneTimeToken"]
    return token


def start_logins(app: GunicornApp, count: int) -> list[Person]:
    """``count`` people, each in a browser of their own, logged in at MusicAPI and about to come back."""

    def start(_: int) -> Person:
        visitor = Visitor(app.url, headers=NEW_CONNECTION_EACH_TIME)
        visitor.open_home()
        return Person(visitor, visitor.log_in_at_musicapi(visitor.start_login("spotify")))

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(start, range(count)))


def come_back(person: Person) -> None:
    try:
        person.answer = person.visitor.come_back(person.callback_url)
        person.saw = str(person.answer.status_code)
    except requests.ConnectionError as error:
        person.saw = what_the_browser_saw(error)


def in_parallel(work: Callable[[Person], Any], people: Iterable[Person], threads: int) -> list[Any]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, people))


def retry_from_the_page(person: Person, page: requests.Response) -> list[str]:
    """Press the page's "Try again", log in at MusicAPI, come back: the services connected after."""
    action = _RETRY_FORM.search(page.text)
    assert action, "the page offers no Try again"
    # The callback's page is no-referrer: the browser sends its form with "Origin: null".
    login = person.visitor.post(action.group(1), {"csrf_token": csrf_token_in(page.text)}, headers={"Origin": "null"})
    connected = person.visitor.come_back(person.visitor.log_in_at_musicapi(login))
    assert connected.status_code == 303, connected.text[:300]
    return person.visitor.connected_services()


def test_a_killed_worker_loses_its_waiting_logins_and_a_reload_leads_to_a_working_retry(
    two_workers: GunicornApp, musicapi_process: StandaloneSimulator, wiretap: CountingWiretap
) -> None:
    people = start_logins(two_workers, CALLBACKS)
    musicapi_process.control(latency=EXCHANGE_LATENCY)
    waiting = threading.Thread(target=in_parallel, args=(come_back, people, CALLBACKS), daemon=True)
    waiting.start()
    assert wiretap.wait_for(CALLBACKS, timeout=30), f"only {wiretap.arrivals} exchanges reached MusicAPI"

    pids = worker_pids(two_workers)
    assert len(pids) == WORKERS, two_workers.logs.text()
    victim = max(pids, key=open_sockets)
    holding = {pid: open_sockets(pid) for pid in pids}
    os.kill(victim, signal.SIGKILL)
    waiting.join(60)

    assert not waiting.is_alive(), "some browsers never got an answer"
    connected = [person for person in people if person.saw == "303"]
    lost = [person for person in people if person.saw != "303"]
    seen = Counter(person.saw for person in lost)
    # Every token reached MusicAPI, the lost ones too: it spent them after the worker had died.
    assert wait_until(lambda: len(musicapi_process.calls()) >= CALLBACKS, timeout=15, interval=0.2)
    musicapi_process.control(latency=0)

    reloads = in_parallel(lambda person: person.visitor.come_back(person.callback_url), lost, 16)
    reload_outcomes = Counter((page.status_code, error_code_in(page.text)) for page in reloads)
    retried = in_parallel(lambda pair: retry_from_the_page(*pair), zip(lost, reloads, strict=True), 16)

    print(
        f"\nworker killed: {CALLBACKS} callbacks waiting, sockets per worker {holding}, killed {victim}\n"
        f"  connected at once: {len(connected)}, lost: {len(lost)}\n"
        f"  what the lost browsers saw: {dict(seen)}\n"
        f"  what a reload showed them: {dict(reload_outcomes)}\n"
        f"  connected after Try again: {sum(services == ['spotify'] for services in retried)} of {len(lost)}"
    )
    assert lost, "the killed worker held no callback"
    assert set(seen) <= {"empty response", "connection reset"}, seen
    for person in connected:
        assert person.answer is not None
        assert "acct-spotify" in person.answer.cookies
    for page in reloads:
        assert page.status_code in FAILED_CALLBACK, page.text[:300]
        assert page.headers["Content-Type"].startswith("text/html")
        assert error_code_in(page.text) is not None
        assert 'action="/connect/spotify"' in page.text
    assert retried == [["spotify"]] * len(lost)
    output = two_workers.logs.text()
    assert "data64" not in output
    assert not any(one_time_token(person.callback_url) in output for person in people)

"""Many dynos: two app instances behind a real round-robin nginx share nothing but SECRET_KEY.

A login started on one instance finishes on the other, and either reads the session: nothing lives in
an instance's memory between requests. Which instance served a request is read from that instance's own
log (the router's request id), and cross-checked against the router's access log.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from markupsafe import escape

from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.processes import Fleet, access_line
from tests.support.servers import ThreadedServer
from tests.support.user import User

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def fleet(start_fleet: Callable[..., Fleet], musicapi: ThreadedServer) -> Fleet:
    return start_fleet(musicapi.url, [{}, {}])


def test_a_login_started_on_one_instance_finishes_on_the_other(fleet: Fleet, simulator: Simulator) -> None:
    user = User(fleet.router.url, simulator)

    home = user.open_home()
    login = user.start_login("spotify")
    data64 = encode_data64(simulator.issue_login("spotify"))
    callback = user.come_back(user.callback_url(login, data64))

    assert callback.status_code == 303, callback.text[:500]
    assert user.return_url(login).startswith(f"{fleet.router.url}/callback?")
    # The CSRF token came from one instance and was accepted by the other; the flow cookie likewise.
    assert fleet.served_by(home) != fleet.served_by(login)
    assert fleet.served_by(login) != fleet.served_by(callback)
    finished_on = fleet.instances[fleet.served_by(callback)]
    assert fleet.upstream_of(callback) == f"127.0.0.1:{finished_on.port}"
    record = access_line(finished_on.logs, callback.headers["X-Request-ID"])
    assert (record["path"], record["status"], record["outcome"]) == ("/callback", "303", "connected")
    # The router's X-Request-Start reaches the app as queue time.
    assert int(record["queue_ms"]) >= 0


def test_either_instance_reads_the_session(fleet: Fleet, simulator: Simulator) -> None:
    user = User(fleet.router.url, simulator)
    assert user.connect("spotify").status_code == 303

    sessions: dict[int, object] = {}
    for _ in range(2):
        response = user.get("/api/session")
        assert response.status_code == 200, response.text
        sessions[fleet.served_by(response)] = response.json()

    assert set(sessions) == {0, 1}
    assert sessions[0] == sessions[1]
    pages = {}
    for _ in range(2):
        page = user.get("/")
        pages[fleet.served_by(page)] = page
    assert set(pages) == {0, 1}
    [account] = user.accounts()
    shown_name = str(escape(account["name"]))
    assert all(shown_name in page.text for page in pages.values())

"""Rotating SECRET_KEY without logging anyone out, across real restarts.

The procedure (README, "Key rotation"): the new key becomes SECRET_KEY and the old one moves to
SECRET_KEY_FALLBACKS; every cookie read in that window is re-sealed under the new key; once no cookie
sealed under the old key can still be valid, the old key is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from callback_app.cookies import Sealer
from callback_app.errors import CookieError
from callback_app.session.base import ACCOUNT_PURPOSE, IDLE_TIMEOUT
from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.processes import Fleet
from tests.support.servers import TEST_SECRET_KEY, ThreadedServer
from tests.support.user import User

from .conftest import Launcher

pytestmark = pytest.mark.deploy

OLD_KEY = TEST_SECRET_KEY
NEW_KEY = "rotated-secret-key-zyxwvutsrqponmlkjihgfedcba-9876543210"
ACCOUNT_COOKIE = "acct-spotify"


def sealed_under(key: str, value: str) -> bool:
    """Whether ``value`` is an account cookie sealed with ``key``."""
    try:
        Sealer([key], clock=time.time).open(ACCOUNT_COOKIE, ACCOUNT_PURPOSE, value, max_age=IDLE_TIMEOUT)
    except CookieError:
        return False
    return True


def test_rotating_the_secret_key_keeps_people_connected(
    launcher: Launcher, musicapi: ThreadedServer, simulator: Simulator
) -> None:
    before = launcher.start(musicapi.url, SECRET_KEY=OLD_KEY)
    user = User(before.url, simulator)
    assert user.connect("spotify").status_code == 303
    accounts = user.accounts()
    cookie_under_old_key = user.http.cookies[ACCOUNT_COOKIE]
    assert sealed_under(OLD_KEY, cookie_under_old_key)

    # Step 1: restart with the new key first and the old one as a fallback.
    launcher.retire(before)
    during = launcher.start(musicapi.url, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=OLD_KEY)
    user.app_url = during.url
    response = user.get("/api/session")

    assert response.status_code == 200, response.text
    assert response.json()["accounts"] == accounts
    resealed = response.cookies[ACCOUNT_COOKIE]
    assert sealed_under(NEW_KEY, resealed)
    assert not sealed_under(OLD_KEY, resealed)
    assert "secret_key_fallbacks=1" in during.logs.text()

    # Step 2: the old key is dropped; the re-sealed cookie still works.
    launcher.retire(during)
    after = launcher.start(musicapi.url, SECRET_KEY=NEW_KEY)
    user.app_url = after.url
    assert user.accounts() == accounts

    # A browser that never came back while the old key was a fallback is simply not connected.
    absent = User(after.url, simulator)
    response = absent.get("/api/session", headers={"Cookie": f"{ACCOUNT_COOKIE}={cookie_under_old_key}"})
    assert response.status_code == 401
    assert response.json() == {"error": "not_connected"}
    assert ACCOUNT_COOKIE in response.headers["Set-Cookie"]
    assert "Max-Age=0" in response.headers["Set-Cookie"]

    output = "\n".join(app.logs.text() for app in (before, during, after))
    assert OLD_KEY not in output
    assert NEW_KEY not in output


@pytest.mark.parametrize(
    ("not_yet_restarted", "stays_connected"),
    [
        pytest.param({"SECRET_KEY": OLD_KEY, "SECRET_KEY_FALLBACKS": NEW_KEY}, True, id="new-key-announced-first"),
        pytest.param({"SECRET_KEY": OLD_KEY}, False, id="new-key-not-announced"),
    ],
)
def test_a_rolling_restart_needs_the_new_key_announced_as_a_fallback_first(
    start_fleet: Callable[..., Fleet],
    musicapi: ThreadedServer,
    simulator: Simulator,
    not_yet_restarted: dict[str, str],
    stays_connected: bool,
) -> None:
    """Mid-restart, old and new instances serve the same people; each must read what the other sealed."""
    restarted = {"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEY}
    fleet = start_fleet(musicapi.url, [not_yet_restarted, restarted])
    user = User(fleet.router.url, simulator)

    # Round robin: each step lands on the other instance than the one before.
    login = user.start_login("spotify")
    answers = [login]
    if login.status_code == 303:
        answers.append(user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("spotify")))))
        answers.extend(user.get("/api/session") for _ in range(4))

    statuses = [response.status_code for response in answers]
    if stays_connected:
        assert statuses == [303, 303, 200, 200, 200, 200], fleet.describe()
        assert {fleet.served_by(response) for response in answers} == {0, 1}
    else:
        # The old instance cannot open what the new one sealed: a refused form, or a lost session.
        assert statuses != [303, 303, 200, 200, 200, 200]

"""The cookie size budget: many services with realistic tokens, and a clear refusal instead of a lost cookie.

Browsers drop a cookie over 4,096 bytes without a word; common servers and routers refuse a Cookie
header over about 8 KB (the app keeps its own under 8,190 bytes). With 14 services and real token
sizes (an Apple Music user token and TIDAL JWTs are over 1 KB each) not everything fits in cookies:
the app must say so, and keep what it has.
"""

from __future__ import annotations

import requests

from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.simulator import Simulator
from tests.support.musicapi import encode_data64
from tests.support.pages import account_cookies_added, cookie_name, error_code_in, set_cookies
from tests.support.user import User

MAX_COOKIE_BYTES = 4000
HEADER_BUDGET = 8190
# Largest first: the hardest order for the budget.
BIGGEST_FIRST = ("appleMusic", "tidal", "amazonMusic", "spotify", "youtube", "youtubeMusic")


def cookie_header_bytes(user: User) -> int:
    """The Cookie header this browser sends the app next."""
    return len("; ".join(f"{cookie.name}={cookie.value}" for cookie in user.http.cookies))


def connect_or_refusal(user: User, simulator: Simulator, service: str) -> requests.Response:
    """The callback's answer, or the refusal to start the login when the app already knows it cannot fit."""
    login = user.start_login(service)
    if login.status_code != 303:
        return login
    return user.come_back(user.callback_url(login, encode_data64(simulator.issue_login(service))))


def test_services_connect_one_by_one_until_a_clear_refusal_and_nothing_is_lost(
    user: User, simulator: Simulator
) -> None:
    order = BIGGEST_FIRST + tuple(s for s in KNOWN_SERVICES if s not in BIGGEST_FIRST)
    report: list[str] = []
    refusal = None
    connected: list[str] = []
    for service in order:
        response = connect_or_refusal(user, simulator, service)
        sizes = [len(header.split(";", 1)[0]) for header in set_cookies(response)]
        assert all(size <= MAX_COOKIE_BYTES for size in sizes), f"{service}: a cookie over 4000 bytes: {sizes}"
        header_bytes = cookie_header_bytes(user)
        report.append(
            f"{service}: {response.status_code}, largest Set-Cookie {max(sizes, default=0)} B, "
            f"Cookie header then {header_bytes} B"
        )
        assert header_bytes <= HEADER_BUDGET, "\n".join(report)
        if response.status_code != 303:
            refusal = response
            break
        connected.append(service)
    print(f"\n{len(connected)} of {len(order)} services fit:\n  " + "\n  ".join(report))

    assert refusal is not None, "with realistic tokens all 14 cannot fit in 8 KB; the app must refuse one"
    assert refusal.status_code == 400
    assert error_code_in(refusal.text) == "session_full", "the app's own accounts fill the space"
    assert "Disconnect one" in refusal.text
    assert not account_cookies_added(refusal)
    assert sorted(user.connected_services()) == sorted(connected), "the accounts already connected are intact"
    assert len(connected) >= 4, "at least the four biggest services fit together"
    assert user.get("/").status_code == 200, "the browser can still use the site"


def test_once_even_a_typical_account_cannot_fit_the_login_is_refused_before_musicapi(
    user: User, simulator: Simulator
) -> None:
    refusal = None
    for service in BIGGEST_FIRST + tuple(s for s in KNOWN_SERVICES if s not in BIGGEST_FIRST):
        calls = len(simulator.calls())
        login = user.start_login(service)
        if login.status_code != 303:
            refusal = login
            break
        user.come_back(user.callback_url(login, encode_data64(simulator.issue_login(service))))

    assert refusal is not None
    assert refusal.status_code == 400
    assert error_code_in(refusal.text) == "session_full"
    assert not any(cookie_name(h) == "flow" for h in set_cookies(refusal))
    assert len(simulator.calls()) == calls, "nobody is sent to log in for an account that cannot be kept"


def test_the_largest_tokens_together_still_work(user: User) -> None:
    for service in ("appleMusic", "tidal"):
        assert user.connect(service).status_code == 303

    accounts = {account["service"]: account for account in user.accounts()}

    assert len(accounts["appleMusic"]["authData"]["musicUserToken"]) >= 1000
    assert len(accounts["tidal"]["authData"]["accessToken"]) >= 1000


def test_other_cookies_on_the_same_host_count_against_the_budget(user: User) -> None:
    # Another app on this host (or analytics) left a big cookie: the budget is the whole header.
    user.http.cookies.set("analytics", "x" * 7000, domain="127.0.0.1", path="/")
    user.open_home()

    response = user.start_login("appleMusic")

    assert response.status_code == 400
    assert error_code_in(response.text) == "cookies_full", "the refusal names what fills the space"
    assert "Disconnect one" not in response.text, "disconnecting would not help: nothing of this app is connected"
    assert cookie_header_bytes(user) <= HEADER_BUDGET


def test_a_chooser_login_that_cannot_be_kept_is_refused_before_its_token_is_spent(
    user: User, simulator: Simulator
) -> None:
    # Through MusicAPI's chooser the service is unknown until the return: Apple Music's account
    # then turns out not to fit beside the site's other cookies.
    user.http.cookies.set("analytics", "x" * 6000, domain="127.0.0.1", path="/")
    login = user.start_login(None)
    assert login.status_code == 303

    response = user.come_back(user.callback_url(login, encode_data64(simulator.issue_login("appleMusic"))))

    assert response.status_code == 400
    assert error_code_in(response.text) == "cookies_full"
    assert not account_cookies_added(response)
    assert cookie_header_bytes(user) <= HEADER_BUDGET
    assert simulator.calls() == [], "the one-time token is still unspent: MusicAPI was never asked"

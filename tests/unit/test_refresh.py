"""Fresh tokens for accounts about to expire, from the simulator over HTTP: once per account, at most once a minute."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer
from callback_app.musicapi import client as client_module
from callback_app.musicapi.client import MusicApiClient
from callback_app.musicapi.protocol import KNOWN_SERVICES, decode_data64
from callback_app.session.accounts import REFRESH_FLOOR, REFRESH_MARGIN, Account
from callback_app.session.cookie_store import HEADER_LIMIT, LOGIN_RESERVE, CookieBrowserSession, CookieSessions
from callback_app.session.refresh import Refresher
from callback_app.settings import REFRESH_DEADLINE
from callback_app.simulator import Simulator
from tests.support.clock import FakeClock
from tests.support.musicapi import encode_data64
from tests.support.servers import ThreadedServer
from tests.unit.helpers import KEY, BrowserCookies, make_account

CLIENT_ID, CLIENT_SECRET = "simulator-client", "simulator-secret"
HOUR = 3600


class Locks:
    """A stand-in for the Redis refresh locks: grants them or not, and remembers what was asked."""

    def __init__(self, *, grant: bool) -> None:
        self.grant = grant
        self.acquired: list[tuple[str, float]] = []

    def acquire(self, integration_user_uuid: str, seconds: float) -> bool:
        self.acquired.append((integration_user_uuid, seconds))
        return self.grant


class Visit:
    """A browser's accounts in the real cookie store, refreshed on each request by one Refresher."""

    def __init__(self, clock: FakeClock, client: MusicApiClient, *, locks: Locks | None = None) -> None:
        self.clock = clock
        self.store = CookieSessions(
            sealer=Sealer([KEY], clock=clock), jar=CookieJar(secure=True), services=KNOWN_SERVICES, clock=clock
        )
        self.refresher = Refresher(
            client=client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock, locks=locks
        )

    def browser_with(self, *accounts: Account) -> BrowserCookies:
        browser = BrowserCookies()
        session = self.store.open({}, "")
        for account in accounts:
            session.put(account)
        response = Response()
        session.write(response)
        browser.receive(response)
        return browser

    def session(self, browser: BrowserCookies) -> CookieBrowserSession:
        return self.store.open(browser.cookies, browser.header())

    def request(self, browser: BrowserCookies) -> tuple[list[Account], dict[str, dict[str, str]]]:
        """One page view: the accounts shown, and the cookies the response sets."""
        session = self.session(browser)
        shown = self.refresher.refresh_due(session)
        response = Response()
        session.write(response)
        return shown, browser.receive(response)


@pytest.fixture
def client(musicapi: ThreadedServer) -> MusicApiClient:
    return MusicApiClient(musicapi.url + "/api")


def connected(simulator: Simulator, client: MusicApiClient, service: str, at: float) -> Account:
    """An account as a real login leaves it: the simulator's user, exchanged over HTTP."""
    user = client.exchange(decode_data64(encode_data64(simulator.issue_login(service))))
    return Account(service=service, user=user, connected_at=int(at))


def refresh_calls(simulator: Simulator) -> int:
    return sum(1 for call in simulator.calls() if call.authorization_scheme == "Basic")


@pytest.fixture
def about_to_expire(musicapi_clock: FakeClock) -> FakeClock:
    """The app's clock half a minute before tokens the simulator issues now die."""
    return FakeClock(musicapi_clock() + HOUR - REFRESH_MARGIN / 2)


@pytest.fixture
def long_dead(musicapi_clock: FakeClock) -> FakeClock:
    """The app's clock two hours on: even tokens the simulator issues now have died."""
    return FakeClock(musicapi_clock() + 2 * HOUR)


def test_an_account_about_to_expire_is_renewed_with_the_client_credentials(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    visit = Visit(about_to_expire, client)
    account = connected(simulator, client, "spotify", about_to_expire() - HOUR)
    browser = visit.browser_with(account)

    [shown], written = visit.request(browser)
    [kept] = visit.session(browser).accounts()

    now = int(about_to_expire())
    assert shown.user.auth_data["accessToken"] != account.user.auth_data["accessToken"]
    assert (shown.refreshed_at, shown.refresh_tried_at, shown.refresh_error) == (now, now, None)
    assert shown.connected_at == account.connected_at
    assert kept == shown
    assert "__Host-acct-spotify" in written
    assert refresh_calls(simulator) == 1


def test_an_account_not_due_is_left_alone(
    simulator: Simulator, client: MusicApiClient, musicapi_clock: FakeClock
) -> None:
    clock = FakeClock(musicapi_clock())
    visit = Visit(clock, client)
    account = connected(simulator, client, "spotify", clock())

    shown, written = visit.request(visit.browser_with(account))

    assert shown == [account]
    assert written == {}
    assert refresh_calls(simulator) == 0


def test_only_the_due_accounts_of_a_session_are_renewed(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    visit = Visit(about_to_expire, client)
    due = connected(simulator, client, "tidal", about_to_expire() - HOUR)
    fresh = make_account("spotify", now=about_to_expire(), expires_in=HOUR)

    shown, _ = visit.request(visit.browser_with(due, fresh))

    assert [account.service for account in shown] == ["spotify", "tidal"]
    assert shown[0] == fresh
    assert shown[1].refreshed_at == int(about_to_expire())
    assert refresh_calls(simulator) == 1


def test_an_account_is_asked_for_at_most_once_a_minute(
    simulator: Simulator, client: MusicApiClient, long_dead: FakeClock
) -> None:
    visit = Visit(long_dead, client)
    browser = visit.browser_with(connected(simulator, client, "deezer", long_dead() - HOUR))

    visit.request(browser)
    long_dead.advance(REFRESH_FLOOR - 1)
    [within_the_minute], _ = visit.request(browser)

    assert refresh_calls(simulator) == 1
    assert within_the_minute.expired(long_dead())
    assert within_the_minute.refresh_tried_at == int(long_dead()) - (REFRESH_FLOOR - 1)


def test_after_a_minute_the_account_is_asked_again(
    simulator: Simulator, client: MusicApiClient, long_dead: FakeClock
) -> None:
    visit = Visit(long_dead, client)
    browser = visit.browser_with(connected(simulator, client, "deezer", long_dead() - HOUR))
    [first], _ = visit.request(browser)

    long_dead.advance(REFRESH_FLOOR + 1)
    [second], _ = visit.request(browser)

    assert refresh_calls(simulator) == 2
    assert second.refreshed_at == int(long_dead())
    assert second.user.auth_data["accessToken"] != first.user.auth_data["accessToken"]


def test_a_browser_still_holding_the_old_cookie_gets_the_same_fresh_tokens(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    visit = Visit(about_to_expire, client)
    browser = visit.browser_with(connected(simulator, client, "spotify", about_to_expire() - HOUR))
    other_tab = BrowserCookies(browser.cookies)

    [first], _ = visit.request(browser)
    [second], _ = visit.request(other_tab)

    assert refresh_calls(simulator) == 1
    assert second.user == first.user


def test_concurrent_requests_for_one_account_make_one_call(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    visit = Visit(about_to_expire, client)
    browser = visit.browser_with(connected(simulator, client, "appleMusic", about_to_expire() - HOUR))
    simulator.latency = 0.2
    start = threading.Barrier(8)

    def page_view() -> str:
        start.wait(10)
        [shown], _ = visit.request(BrowserCookies(browser.cookies))
        return str(shown.user.auth_data["musicUserToken"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(lambda _: page_view(), range(8)))

    assert refresh_calls(simulator) == 1
    assert len(set(tokens)) == 1


@pytest.fixture
def short_refresh_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh deadline short enough to see a timeout at once."""
    monkeypatch.setattr(client_module, "REFRESH_DEADLINE", 0.3)


@pytest.mark.usefixtures("short_refresh_deadline")
@pytest.mark.parametrize(("fault", "code"), [("http_500", "upstream_error"), ("hang", "upstream_timeout")])
def test_while_musicapi_is_failing_the_other_accounts_are_not_asked(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock, fault: str, code: str
) -> None:
    visit = Visit(about_to_expire, client)
    accounts = [connected(simulator, client, service, about_to_expire() - HOUR) for service in ("spotify", "tidal")]
    browser = visit.browser_with(*accounts)
    simulator.fault = fault
    simulator.hang_seconds = 3.0

    shown, _ = visit.request(browser)

    assert refresh_calls(simulator) == 1
    assert [(account.refresh_error, account.user) for account in shown] == [(code, a.user) for a in accounts]
    assert all(account.refresh_tried_at == int(about_to_expire()) for account in shown)


def test_a_refusal_for_one_account_does_not_stop_the_others(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    visit = Visit(about_to_expire, client)
    unknown = make_account("spotify", now=about_to_expire(), expires_in=-10, user_uuid=str(uuid.uuid4()))
    known = connected(simulator, client, "tidal", about_to_expire() - HOUR)

    refused, renewed = visit.request(visit.browser_with(unknown, known))[0]

    assert refresh_calls(simulator) == 2
    assert (refused.refresh_error, refused.user) == ("upstream_refused", unknown.user)
    assert renewed.refresh_error is None
    assert renewed.refreshed_at == int(about_to_expire())


def test_another_instance_holding_the_lock_means_no_call_and_a_try_next_time(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    locks = Locks(grant=False)
    visit = Visit(about_to_expire, client, locks=locks)
    account = connected(simulator, client, "spotify", about_to_expire() - HOUR)

    [shown], written = visit.request(visit.browser_with(account))

    assert refresh_calls(simulator) == 0
    assert shown.refresh_error == "refresh_in_progress"
    assert shown.user == account.user
    assert shown.refresh_tried_at is None
    assert written == {}
    assert locks.acquired == [(account.user.integration_user_uuid, REFRESH_DEADLINE + 1)]


def test_a_granted_lock_lets_this_instance_ask_once_and_holds_past_the_deadline(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    locks = Locks(grant=True)
    visit = Visit(about_to_expire, client, locks=locks)
    account = connected(simulator, client, "spotify", about_to_expire() - HOUR)

    [shown], _ = visit.request(visit.browser_with(account))

    assert refresh_calls(simulator) == 1
    assert shown.refreshed_at == int(about_to_expire())
    assert locks.acquired == [(account.user.integration_user_uuid, REFRESH_DEADLINE + 1)]


def test_fresh_tokens_that_no_longer_fit_keep_the_old_ones_and_say_why(
    simulator: Simulator, client: MusicApiClient, about_to_expire: FakeClock
) -> None:
    visit = Visit(about_to_expire, client)
    account = connected(simulator, client, "spotify", about_to_expire() - HOUR)
    browser = visit.browser_with(account)
    browser.cookies["x"] = "f" * (HEADER_LIMIT - LOGIN_RESERVE - 200)

    [shown], written = visit.request(browser)

    assert refresh_calls(simulator) == 1
    assert shown.user == account.user
    assert shown.refresh_error == "cookies_full"
    assert shown.refresh_tried_at == int(about_to_expire())
    assert "__Host-acct-spotify" not in written


def test_a_failed_renewal_is_cleared_by_the_next_good_one(
    simulator: Simulator, client: MusicApiClient, long_dead: FakeClock
) -> None:
    visit = Visit(long_dead, client)
    account = connected(simulator, client, "deezer", long_dead() - HOUR)
    browser = visit.browser_with(replace(account, refresh_error="upstream_error", refresh_tried_at=0))

    [shown], _ = visit.request(browser)

    assert shown.refresh_error is None
    assert shown.refreshed_at == int(long_dead())

"""The cookie store: one sealed cookie per account, re-sealed only when needed, never outgrowing the header limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer
from callback_app.errors import CookiesFull, SessionFull
from callback_app.i18n import LANGUAGE_COOKIE
from callback_app.login.attempts import ATTEMPT_COOKIE
from callback_app.login.flows import FLOW_COOKIE, SPENT_COOKIE
from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.notices import NOTICE_COOKIE
from callback_app.security import CSRF_COOKIE
from callback_app.session.accounts import Account
from callback_app.session.base import ABSOLUTE_LIFETIME, ACCOUNT_PURPOSE, IDLE_TIMEOUT, BrowserSession
from callback_app.session.cookie_store import (
    DEFAULT_TYPICAL_COOKIE_BYTES,
    HEADER_LIMIT,
    LOGIN_RESERVE,
    MAX_COOKIE_BYTES,
    RESEAL_AFTER,
    TYPICAL_COOKIE_BYTES,
    CookieBrowserSession,
    CookieSessions,
)
from callback_app.simulator import fake_auth_data
from tests.support.clock import FakeClock
from tests.unit.helpers import KEY, OLD_KEY, OTHER_KEY, START, USER_UUID, BrowserCookies, make_account, random_text

DAY = 24 * 3600
HEADER_BUDGET = HEADER_LIMIT - LOGIN_RESERVE
BIGGEST_FIRST = (
    "tidal", "appleMusic", "amazonMusic", "youtube", "youtubeMusic", "spotify", "pandora", "boomplay", "anghami",
    "qobuz", "yandex", "deezer", "soundcloud", "napster",
)  # fmt: skip


class App:
    """What one request sees: the keys, the clock, the offered services, as the factory wires the store."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        keys: tuple[str, ...] = (KEY,),
        services: Iterable[str] = KNOWN_SERVICES,
        secure: bool = True,
        clears_tickets: bool = True,
    ) -> None:
        self.sealer = Sealer(keys, clock=clock)
        self.store = CookieSessions(
            sealer=self.sealer,
            jar=CookieJar(secure=secure),
            services=tuple(services),
            clock=clock,
            transient_cookies=frozenset({FLOW_COOKIE, SPENT_COOKIE, ATTEMPT_COOKIE, NOTICE_COOKIE}),
            lasting_cookies=frozenset({CSRF_COOKIE, LANGUAGE_COOKIE}),
            clears_tickets=clears_tickets,
        )

    def session(self, visitor: BrowserCookies) -> CookieBrowserSession:
        return self.store.open(visitor.cookies, visitor.header())

    def request(
        self, visitor: BrowserCookies, action: Callable[[BrowserSession], None] | None = None
    ) -> dict[str, dict[str, str]]:
        """One request: read the accounts, do ``action(session)``, send the response's cookies back."""
        session = self.session(visitor)
        session.accounts()
        if action is not None:
            action(session)
        response = Response()
        session.write(response)
        return visitor.receive(response)

    def connect(self, visitor: BrowserCookies, account: Account) -> dict[str, dict[str, str]]:
        return self.request(visitor, lambda session: session.put(account))

    def accounts(self, visitor: BrowserCookies) -> list[Account]:
        return self.session(visitor).accounts()


@pytest.fixture
def app(clock: FakeClock) -> App:
    return App(clock)


@pytest.fixture
def visitor() -> BrowserCookies:
    return BrowserCookies()


def services_of(accounts: list[Account]) -> list[str]:
    return [account.service for account in accounts]


# -- put, read, remove ------------------------------------------------------------------------------------------


def test_a_connected_account_comes_back_on_the_next_request(app: App, visitor: BrowserCookies) -> None:
    account = make_account("spotify", auth_data={"accessToken": "BQ" + random_text(281), "extra": {"k": [1, 2]}})

    written = app.connect(visitor, account)

    assert list(written) == ["__Host-acct-spotify"]
    assert app.session(visitor).account("spotify") == account
    assert app.accounts(visitor) == [account]


def test_an_account_cookie_is_protected_like_every_token_cookie(app: App, visitor: BrowserCookies) -> None:
    cookie = app.connect(visitor, make_account())["__Host-acct-spotify"]

    assert {"secure", "httponly"} <= set(cookie)
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert "domain" not in cookie


def test_the_token_is_not_readable_in_the_cookie(app: App, visitor: BrowserCookies) -> None:
    token = "BQ" + random_text(281)
    app.connect(visitor, make_account(auth_data={"accessToken": token}))

    assert token[:20] not in visitor.header()
    assert "Ada" not in visitor.header()


def test_several_services_are_kept_in_the_order_of_the_service_list(app: App, visitor: BrowserCookies) -> None:
    for service in ("tidal", "spotify", "deezer"):
        app.connect(visitor, make_account(service))

    assert services_of(app.accounts(visitor)) == ["spotify", "deezer", "tidal"]
    assert set(visitor.cookies) == {"__Host-acct-spotify", "__Host-acct-deezer", "__Host-acct-tidal"}


def test_connecting_a_service_again_replaces_its_account(app: App, visitor: BrowserCookies) -> None:
    app.connect(visitor, make_account("spotify", name="First"))
    app.connect(visitor, make_account("spotify", name="Second"))

    [account] = app.accounts(visitor)
    assert account.user.name == "Second"


def test_put_is_visible_within_the_same_request(app: App, visitor: BrowserCookies) -> None:
    session = app.session(visitor)
    account = make_account("deezer")

    session.put(account)

    assert session.account("deezer") == account
    assert session.accounts() == [account]


def test_removing_one_service_deletes_only_its_cookie(app: App, visitor: BrowserCookies) -> None:
    for service in ("spotify", "tidal"):
        app.connect(visitor, make_account(service))

    written = app.request(visitor, lambda session: session.remove("spotify"))

    assert written["__Host-acct-spotify"]["max-age"] == "0"
    assert "__Host-acct-tidal" not in written
    assert services_of(app.accounts(visitor)) == ["tidal"]


def test_put_then_remove_in_one_request_writes_only_a_deletion(app: App, visitor: BrowserCookies) -> None:
    def put_then_remove(session: BrowserSession) -> None:
        session.put(make_account("spotify"))
        session.remove("spotify")

    written = app.request(visitor, put_then_remove)

    assert list(written) == ["__Host-acct-spotify"]
    assert written["__Host-acct-spotify"]["max-age"] == "0"


def test_remove_then_put_in_one_request_keeps_the_account(app: App, visitor: BrowserCookies) -> None:
    app.connect(visitor, make_account("spotify", name="Old"))

    def remove_then_put(session: BrowserSession) -> None:
        session.remove("spotify")
        session.put(make_account("spotify", name="New"))

    app.request(visitor, remove_then_put)

    assert [account.user.name for account in app.accounts(visitor)] == ["New"]


def test_remove_all_forgets_every_account_including_services_no_longer_offered(
    clock: FakeClock, visitor: BrowserCookies
) -> None:
    everything = App(clock)
    for service in ("spotify", "napster", "tidal"):
        everything.connect(visitor, make_account(service))
    visitor.cookies["__Host-flow"] = "flow-value"
    visitor.cookies["__Host-csrf"] = "csrf-value"
    fewer = App(clock, services=("spotify", "tidal"))

    written = fewer.request(visitor, lambda session: session.remove_all())

    assert {name for name, cookie in written.items() if cookie["max-age"] == "0"} == {
        "__Host-acct-spotify",
        "__Host-acct-napster",
        "__Host-acct-tidal",
    }
    assert set(visitor.cookies) == {"__Host-flow", "__Host-csrf"}


def test_remove_all_over_plain_http_uses_plain_names(clock: FakeClock, visitor: BrowserCookies) -> None:
    app = App(clock, secure=False)
    app.connect(visitor, make_account("spotify"))
    visitor.cookies["acct-retired"] = "x"

    app.request(visitor, lambda session: session.remove_all())

    assert visitor.cookies == {}


def test_a_request_that_changes_nothing_writes_nothing(app: App, visitor: BrowserCookies) -> None:
    app.connect(visitor, make_account())

    assert app.request(visitor) == {}


def test_an_unread_session_writes_nothing(app: App, visitor: BrowserCookies) -> None:
    visitor.cookies["__Host-acct-spotify"] = "tampered"
    response = Response()

    app.session(visitor).write(response)

    assert response.headers.getlist("Set-Cookie") == []


def test_the_cookie_store_is_always_ready(app: App) -> None:
    assert app.store.ready()


# -- re-sealing and session limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(("elapsed", "resealed"), [(0, False), (RESEAL_AFTER - 1, False), (RESEAL_AFTER, True)])
def test_a_cookie_is_resealed_once_an_hour_to_slide_its_idle_window(
    app: App, clock: FakeClock, visitor: BrowserCookies, elapsed: int, resealed: bool
) -> None:
    app.connect(visitor, make_account(expires_in=None))
    before = visitor.cookies["__Host-acct-spotify"]
    clock.advance(elapsed)

    written = app.request(visitor)

    assert ("__Host-acct-spotify" in written) is resealed
    if resealed:
        assert visitor.cookies["__Host-acct-spotify"] != before
        assert written["__Host-acct-spotify"]["max-age"] == str(IDLE_TIMEOUT)


def test_a_cookie_sealed_under_an_older_key_is_resealed_under_the_newest(
    clock: FakeClock, visitor: BrowserCookies
) -> None:
    account = make_account()
    App(clock, keys=(OLD_KEY,)).connect(visitor, account)
    rotated = App(clock, keys=(OLD_KEY, KEY))

    written = rotated.request(visitor)

    assert "__Host-acct-spotify" in written
    assert App(clock, keys=(KEY,)).accounts(visitor) == [account]


def test_an_idle_browser_is_forgotten_after_the_idle_timeout(
    app: App, visitor: BrowserCookies, clock: FakeClock
) -> None:
    app.connect(visitor, make_account(expires_in=None))
    clock.advance(IDLE_TIMEOUT + 1)

    written = app.request(visitor)

    assert written["__Host-acct-spotify"]["max-age"] == "0"
    assert app.accounts(visitor) == []


def test_a_browser_in_daily_use_is_forgotten_after_the_absolute_lifetime(
    app: App, clock: FakeClock, visitor: BrowserCookies
) -> None:
    app.connect(visitor, make_account(expires_in=None))
    max_ages = []
    for _ in range(ABSOLUTE_LIFETIME // DAY - 1):
        clock.advance(DAY)
        max_ages.append(int(app.request(visitor)["__Host-acct-spotify"]["max-age"]))
        assert len(app.accounts(visitor)) == 1

    assert max_ages[0] == IDLE_TIMEOUT
    assert max_ages[-1] == DAY
    assert all(int(START) + DAY * (day + 1) + age <= int(START) + ABSOLUTE_LIFETIME for day, age in enumerate(max_ages))
    clock.advance(DAY)
    assert app.request(visitor)["__Host-acct-spotify"]["max-age"] == "0"
    assert app.accounts(visitor) == []


@pytest.mark.parametrize(
    ("expires_in", "connected_days_ago", "expected_max_age"),
    [
        (3600, 0, IDLE_TIMEOUT),
        (59, 0, IDLE_TIMEOUT),
        (-10, 0, IDLE_TIMEOUT),
        (None, 0, IDLE_TIMEOUT),
        (None, 23, IDLE_TIMEOUT),
        (None, 29, DAY),
        (3600, 29, DAY),
    ],
)
def test_the_cookie_lives_until_the_idle_window_or_the_absolute_lifetime_ends(
    clock: FakeClock, expires_in: int | None, connected_days_ago: int, expected_max_age: int
) -> None:
    account = make_account(expires_in=expires_in, connected_at=START - connected_days_ago * DAY)

    written = App(clock).connect(BrowserCookies(), account)

    assert int(written["__Host-acct-spotify"]["max-age"]) == expected_max_age


def test_an_expired_account_stays_connected_until_the_session_limits(
    app: App, clock: FakeClock, visitor: BrowserCookies
) -> None:
    app.connect(visitor, make_account(expires_in=3600))
    clock.advance(2 * 3600)

    written = app.request(visitor)
    [account] = app.accounts(visitor)

    assert account.expired(clock())
    assert written["__Host-acct-spotify"]["max-age"] == str(IDLE_TIMEOUT)


# -- damaged cookies --------------------------------------------------------------------------------------------


def flip_middle(value: str) -> str:
    middle = len(value) // 2
    return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]


@pytest.mark.parametrize(
    "damage",
    [flip_middle, lambda value: value[:-3], lambda value: "garbage", lambda value: "", lambda value: value * 3],
    ids=["flipped", "truncated", "garbage", "empty", "oversize"],
)
def test_a_damaged_cookie_means_not_connected_and_is_deleted(
    app: App, visitor: BrowserCookies, damage: Callable[[str], str]
) -> None:
    app.connect(visitor, make_account("spotify"))
    app.connect(visitor, make_account("tidal"))
    visitor.cookies["__Host-acct-spotify"] = damage(visitor.cookies["__Host-acct-spotify"])

    written = app.request(visitor)

    assert services_of(app.accounts(visitor)) == ["tidal"]
    assert list(written) == ["__Host-acct-spotify"]
    assert written["__Host-acct-spotify"]["max-age"] == "0"


def test_one_services_cookie_cannot_stand_in_for_another(app: App, visitor: BrowserCookies) -> None:
    app.connect(visitor, make_account("spotify"))
    visitor.cookies["__Host-acct-tidal"] = visitor.cookies["__Host-acct-spotify"]

    written = app.request(visitor)

    assert services_of(app.accounts(visitor)) == ["spotify"]
    assert written["__Host-acct-tidal"]["max-age"] == "0"


def test_a_cookie_under_an_unknown_key_is_deleted(clock: FakeClock, app: App, visitor: BrowserCookies) -> None:
    App(clock, keys=(OTHER_KEY,)).connect(visitor, make_account())

    written = app.request(visitor)

    assert app.accounts(visitor) == []
    assert written["__Host-acct-spotify"]["max-age"] == "0"


def sealed_record(app: App, cookie_base: str, record: dict[str, Any]) -> str:
    return app.sealer.seal(cookie_base, ACCOUNT_PURPOSE, record)


def test_an_authentic_cookie_naming_another_service_is_deleted(app: App, visitor: BrowserCookies) -> None:
    record = {"s": "spotify", "u": USER_UUID, "n": None, "e": None, "i": None, "c": None}
    record |= {"a": {"accessToken": "x"}, "x": None, "t": int(START)}
    visitor.cookies["__Host-acct-tidal"] = sealed_record(app, "acct-tidal", record)

    written = app.request(visitor)

    assert app.accounts(visitor) == []
    assert written["__Host-acct-tidal"]["max-age"] == "0"


def test_an_authentic_cookie_of_an_older_shape_is_deleted_not_a_crash(app: App, visitor: BrowserCookies) -> None:
    older_shape = {"u": USER_UUID, "n": None, "e": None, "i": None, "c": None}
    older_shape |= {"a": {"accessToken": "x"}, "x": None, "t": int(START), "r": None}
    visitor.cookies["__Host-acct-spotify"] = sealed_record(app, "acct-spotify", older_shape)

    written = app.request(visitor)

    assert app.accounts(visitor) == []
    assert written["__Host-acct-spotify"]["max-age"] == "0"


@pytest.mark.parametrize("clears_tickets", [True, False])
def test_a_ticket_left_by_a_redis_deployment_is_deleted_in_cookie_mode(
    clock: FakeClock, visitor: BrowserCookies, clears_tickets: bool
) -> None:
    app = App(clock, clears_tickets=clears_tickets)
    app.connect(visitor, make_account("spotify"))
    visitor.cookies["__Host-sid"] = "a-ticket-from-the-redis-days"

    written = app.request(visitor)

    assert ("__Host-sid" in written) is clears_tickets
    if clears_tickets:
        assert written["__Host-sid"]["max-age"] == "0"
    assert services_of(app.accounts(visitor)) == ["spotify"]


# -- the header budget ------------------------------------------------------------------------------------------


def oversized_tidal_account() -> Account:
    """TIDAL with a long OpenID id token beside its access and refresh JWTs: too big for one cookie."""
    auth_data = dict(fake_auth_data("tidal", START))
    auth_data["idToken"] = random_text(3000)
    return make_account("tidal", auth_data=auth_data)


def fill_with_accounts(app: App, visitor: BrowserCookies) -> list[str]:
    """Connect the biggest services first until the store refuses one; the services that fit."""
    connected = []
    for service in BIGGEST_FIRST:
        try:
            app.connect(visitor, make_account(service))
        except SessionFull:
            return connected
        connected.append(service)
        assert len(visitor.header()) <= HEADER_BUDGET
    raise AssertionError("realistic accounts of every service cannot all fit")


def test_an_account_too_big_for_one_cookie_is_refused_and_nothing_is_written(app: App, visitor: BrowserCookies) -> None:
    app.connect(visitor, make_account("spotify"))
    session = app.session(visitor)

    with pytest.raises(SessionFull):
        session.put(oversized_tidal_account())

    response = Response()
    session.write(response)
    assert response.headers.getlist("Set-Cookie") == []
    assert services_of(session.accounts()) == ["spotify"]


def test_the_biggest_realistic_accounts_fit_in_one_cookie_each(app: App, visitor: BrowserCookies) -> None:
    for service in ("tidal", "appleMusic", "amazonMusic"):
        app.connect(visitor, make_account(service))

    for name, value in visitor.cookies.items():
        assert len(name) + 1 + len(value) <= MAX_COOKIE_BYTES
        assert len(value) <= TYPICAL_COOKIE_BYTES[name.removeprefix("__Host-acct-")] + 100


def test_connecting_service_after_service_stops_before_the_header_limit(app: App, visitor: BrowserCookies) -> None:
    connected = fill_with_accounts(app, visitor)

    assert len(connected) >= 3
    assert services_of(app.accounts(visitor)) == [service for service in KNOWN_SERVICES if service in connected]


def test_a_full_browser_is_told_its_own_accounts_fill_it(app: App, visitor: BrowserCookies) -> None:
    connected = fill_with_accounts(app, visitor)
    session = app.session(visitor)

    with pytest.raises(SessionFull):
        session.prepare_login(next(service for service in BIGGEST_FIRST if service not in connected))
    with pytest.raises(SessionFull):
        session.prepare_login(None)
    session.prepare_login(connected[0])


def test_replacing_an_account_in_a_full_browser_still_fits(app: App, visitor: BrowserCookies) -> None:
    fill_with_accounts(app, visitor)

    app.connect(visitor, make_account("tidal", name="Reconnected"))

    reconnected = app.session(visitor).account("tidal")
    assert reconnected is not None
    assert reconnected.user.name == "Reconnected"


@pytest.mark.parametrize("login", ["spotify", None])
def test_other_cookies_of_the_site_that_fill_the_header_are_named_as_such(
    app: App, visitor: BrowserCookies, login: str | None
) -> None:
    visitor.cookies["_ga"] = "G" * (HEADER_BUDGET - 500)

    with pytest.raises(CookiesFull):
        app.session(visitor).prepare_login(login)
    with pytest.raises(CookiesFull):
        app.connect(visitor, make_account("spotify"))
    assert visitor.cookies.keys() == {"_ga"}


def test_when_both_fill_the_header_the_bigger_share_is_named(app: App) -> None:
    mostly_others = BrowserCookies()
    app.connect(mostly_others, make_account("spotify"))
    mostly_others.cookies["x"] = filler(HEADER_BUDGET - len(mostly_others.header()))
    mostly_own = BrowserCookies({"x": filler(100)})
    connected = fill_with_accounts(app, mostly_own)

    with pytest.raises(CookiesFull):
        app.session(mostly_others).prepare_login("deezer")
    with pytest.raises(SessionFull):
        app.session(mostly_own).prepare_login(next(service for service in BIGGEST_FIRST if service not in connected))


def filler(length: int) -> str:
    """The value that makes cookie ``x`` exactly ``length`` bytes as ``x=value``."""
    return "f" * (length - len("x="))


def largest_room(service: str | None) -> int:
    """The longest other cookie beside which a login of ``service`` still fits (the header's "; " counted)."""
    typical = TYPICAL_COOKIE_BYTES.get(service or "", DEFAULT_TYPICAL_COOKIE_BYTES)
    adding = len(f"__Host-acct-{service or ''}") + 1 + typical
    return HEADER_LIMIT - LOGIN_RESERVE - adding - len("; ")


@pytest.mark.parametrize("service", ["spotify", "tidal", "appleMusic", None])
def test_a_login_is_started_exactly_when_a_typical_account_still_fits(app: App, service: str | None) -> None:
    fits = BrowserCookies({"x": filler(largest_room(service))})
    does_not = BrowserCookies({"x": filler(largest_room(service) + 1)})

    app.session(fits).prepare_login(service)
    with pytest.raises(CookiesFull):
        app.session(does_not).prepare_login(service)


def test_a_bigger_service_needs_more_room(app: App) -> None:
    visitor = BrowserCookies({"x": filler(largest_room("spotify"))})

    app.session(visitor).prepare_login("spotify")
    with pytest.raises(CookiesFull):
        app.session(visitor).prepare_login("tidal")


def test_the_logins_own_cookies_are_left_to_the_reserve(app: App) -> None:
    visitor = BrowserCookies({"x": filler(largest_room("spotify"))})
    for base in ("flow", "flow-spent", "attempt", "notice"):
        visitor.cookies[f"__Host-{base}"] = "v" * 300

    app.session(visitor).prepare_login("spotify")


def test_the_csrf_and_language_cookies_count_as_the_apps_own(app: App) -> None:
    visitor = BrowserCookies({"__Host-csrf": "c" * 4000, "__Host-lang": "l" * 4000})

    with pytest.raises(SessionFull):
        app.session(visitor).prepare_login("spotify")

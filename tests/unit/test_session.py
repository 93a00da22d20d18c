"""Connected accounts: one sealed cookie per service, re-sealed only when needed, never outgrowing the header limit."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from typing import Any

import pytest
from werkzeug.wrappers import Response

from callback_app.config import DEFAULT_SERVICES
from callback_app.cookies import CookiePolicy, Sealer
from callback_app.errors import SessionFull
from callback_app.musicapi import IntegrationUser
from callback_app.session import (
    ABSOLUTE_LIFETIME,
    ACCOUNT_PURPOSE,
    DEFAULT_TYPICAL_COOKIE_BYTES,
    EXPIRY_MARGIN,
    FLOW_COOKIE_RESERVE,
    IDLE_TIMEOUT,
    MAX_COOKIE_BYTES,
    MAX_COOKIE_HEADER_BYTES,
    RESEAL_AFTER,
    TYPICAL_COOKIE_BYTES,
    Account,
    BrowserSession,
)
from callback_app.simulator import fake_auth_data
from tests.support.clock import FakeClock

KEY = "current-secret-key-0123456789-abcdefghijkl"
OLD_KEY = "previous-secret-key-0123456789-abcdefghijk"
OTHER_KEY = "another-apps-secret-key-0123456789-abcdefg"
START = 1_700_000_000.0
DAY = 24 * 3600
HEADER_BUDGET = MAX_COOKIE_HEADER_BYTES - FLOW_COOKIE_RESERVE


class Browser:
    """A cookie jar that takes Set-Cookie headers the way a browser does (Max-Age=0 removes)."""

    def __init__(self, cookies: dict[str, str] | None = None) -> None:
        self.cookies: dict[str, str] = dict(cookies or {})
        self.last: dict[str, dict[str, str]] = {}

    def receive(self, response: Response) -> dict[str, dict[str, str]]:
        self.last = {}
        for header in response.headers.getlist("Set-Cookie"):
            first, *attributes = [part.strip() for part in header.split(";")]
            name, _, value = first.partition("=")
            cookie = {"value": value}
            for attribute in attributes:
                key, _, attribute_value = attribute.partition("=")
                cookie[key.lower()] = attribute_value
            self.last[name] = cookie
            if cookie.get("max-age") == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return self.last

    def header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


class App:
    """What one request sees: the key ring, the clock, the offered services and whether tokens can be refreshed."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        keys: tuple[str, ...] = (KEY,),
        services: Iterable[str] = DEFAULT_SERVICES,
        can_refresh: bool = False,
        secure: bool = True,
    ) -> None:
        self.clock = clock
        self.sealer = Sealer(keys, clock=clock)
        self.policy = CookiePolicy(secure=secure)
        self.services = tuple(services)
        self.can_refresh = can_refresh

    def session(self, visitor: Browser) -> BrowserSession:
        return BrowserSession(
            sealer=self.sealer,
            policy=self.policy,
            cookies=visitor.cookies,
            cookie_header=visitor.header(),
            services=self.services,
            can_refresh=self.can_refresh,
            clock=self.clock,
        )

    def request(self, visitor: Browser, action: Any = None) -> dict[str, dict[str, str]]:
        """One request: read the accounts, do ``action(session)``, send the response's cookies back."""
        session = self.session(visitor)
        session.accounts()
        if action is not None:
            action(session)
        response = Response()
        session.write(response)
        return visitor.receive(response)

    def connect(self, visitor: Browser, account: Account) -> dict[str, dict[str, str]]:
        return self.request(visitor, lambda session: session.put(account))

    def accounts(self, visitor: Browser) -> list[Account]:
        return self.session(visitor).accounts()


def random_text(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits + "-_") for _ in range(length))


def make_account(
    service: str = "spotify",
    *,
    now: float = START,
    expires_in: float | None = 3600,
    connected_at: float | None = None,
    auth_data: dict[str, Any] | None = None,
    name: str = "Ada Lovelace",
) -> Account:
    user = IntegrationUser(
        integration_user_uuid="e75315f0-d1e1-4063-b801-181ad1a954e1",
        name=name,
        email="ada.lovelace@example.com",
        image_url="https://cdn.example/avatars/0123456789abcdef.jpg",
        country="gb",
        auth_data=auth_data if auth_data is not None else fake_auth_data(service, now),
        expires_at=None if expires_in is None else int((now + expires_in) * 1000),
    )
    return Account(service=service, user=user, connected_at=int(now if connected_at is None else connected_at))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def app(clock: FakeClock) -> App:
    return App(clock)


@pytest.fixture
def visitor() -> Browser:
    return Browser()


# -- put, get, remove -------------------------------------------------------------------------------------------


def test_a_connected_account_comes_back_on_the_next_request(app: App, visitor: Browser) -> None:
    account = make_account("spotify", auth_data={"accessToken": "BQ" + random_text(281), "extra": {"k": [1, 2]}})

    written = app.connect(visitor, account)

    assert list(written) == ["__Host-acct-spotify"]
    assert app.session(visitor).get("spotify") == account
    assert app.accounts(visitor) == [account]


def test_an_account_cookie_is_protected_like_every_token_cookie(app: App, visitor: Browser) -> None:
    cookie = app.connect(visitor, make_account())["__Host-acct-spotify"]

    assert {"secure", "httponly"} <= set(cookie)
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert "domain" not in cookie


def test_the_token_is_not_readable_in_the_cookie(app: App, visitor: Browser) -> None:
    token = "BQ" + random_text(281)
    app.connect(visitor, make_account(auth_data={"accessToken": token}))

    assert token[:20] not in visitor.header()
    assert "Ada" not in visitor.header()


def test_several_services_are_kept_in_the_order_of_the_service_list(app: App, visitor: Browser) -> None:
    for service in ("tidal", "spotify", "deezer"):
        app.connect(visitor, make_account(service))

    assert [account.service for account in app.accounts(visitor)] == ["spotify", "deezer", "tidal"]
    assert set(visitor.cookies) == {"__Host-acct-spotify", "__Host-acct-deezer", "__Host-acct-tidal"}


def test_connecting_a_service_again_replaces_its_account(app: App, visitor: Browser) -> None:
    app.connect(visitor, make_account("spotify", name="First"))
    app.connect(visitor, make_account("spotify", name="Second"))

    [account] = app.accounts(visitor)
    assert account.user.name == "Second"


def test_put_is_visible_within_the_same_request(app: App, visitor: Browser) -> None:
    session = app.session(visitor)
    account = make_account("deezer")

    session.put(account)

    assert session.get("deezer") == account
    assert session.accounts() == [account]


def test_removing_one_service_deletes_only_its_cookie(app: App, visitor: Browser) -> None:
    for service in ("spotify", "tidal"):
        app.connect(visitor, make_account(service))

    written = app.request(visitor, lambda session: session.remove("spotify"))

    assert written["__Host-acct-spotify"]["max-age"] == "0"
    assert "__Host-acct-tidal" not in written
    assert [account.service for account in app.accounts(visitor)] == ["tidal"]


def test_put_then_remove_in_one_request_writes_only_a_deletion(app: App, visitor: Browser) -> None:
    def put_then_remove(session: BrowserSession) -> None:
        session.put(make_account("spotify"))
        session.remove("spotify")

    written = app.request(visitor, put_then_remove)

    assert written["__Host-acct-spotify"]["max-age"] == "0"


def test_remove_then_put_in_one_request_keeps_the_account(app: App, visitor: Browser) -> None:
    app.connect(visitor, make_account("spotify", name="Old"))

    def remove_then_put(session: BrowserSession) -> None:
        session.remove("spotify")
        session.put(make_account("spotify", name="New"))

    app.request(visitor, remove_then_put)

    assert [account.user.name for account in app.accounts(visitor)] == ["New"]


def test_remove_all_forgets_every_account_including_services_no_longer_offered(
    clock: FakeClock, visitor: Browser
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


def test_remove_all_over_plain_http_uses_plain_names(clock: FakeClock, visitor: Browser) -> None:
    app = App(clock, secure=False)
    app.connect(visitor, make_account("spotify"))
    visitor.cookies["acct-retired"] = "x"

    app.request(visitor, lambda session: session.remove_all())

    assert visitor.cookies == {}


def test_a_request_that_changes_nothing_writes_nothing(app: App, visitor: Browser) -> None:
    app.connect(visitor, make_account())

    assert app.request(visitor) == {}


def test_an_unread_session_writes_nothing(app: App, visitor: Browser) -> None:
    visitor.cookies["__Host-acct-spotify"] = "tampered"
    response = Response()

    app.session(visitor).write(response)

    assert response.headers.getlist("Set-Cookie") == []


def test_replacing_the_user_after_a_refresh_keeps_when_it_was_connected(clock: FakeClock, visitor: Browser) -> None:
    app = App(clock, can_refresh=True)
    app.connect(visitor, make_account("spotify", expires_in=30))
    clock.advance(2 * 3600)
    fresh = make_account("spotify", now=clock(), expires_in=3600).user

    def refresh(session: BrowserSession) -> None:
        session.replace_user("spotify", fresh)

    app.request(visitor, refresh)

    [account] = app.accounts(visitor)
    assert account.user == fresh
    assert account.connected_at == int(START)
    assert account.refreshed_at == int(clock())


# -- re-sealing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("elapsed", "resealed"), [(0, False), (RESEAL_AFTER - 1, False), (RESEAL_AFTER, True)])
def test_a_cookie_is_resealed_once_an_hour_to_slide_its_idle_window(
    clock: FakeClock, visitor: Browser, elapsed: int, resealed: bool
) -> None:
    app = App(clock, can_refresh=True)
    app.connect(visitor, make_account(expires_in=None))
    before = visitor.cookies["__Host-acct-spotify"]
    clock.advance(elapsed)

    written = app.request(visitor)

    assert ("__Host-acct-spotify" in written) is resealed
    if resealed:
        assert visitor.cookies["__Host-acct-spotify"] != before
        assert written["__Host-acct-spotify"]["max-age"] == str(IDLE_TIMEOUT)


def test_a_cookie_sealed_under_a_fallback_key_is_resealed_under_the_current_key(
    clock: FakeClock, visitor: Browser
) -> None:
    account = make_account()
    App(clock, keys=(OLD_KEY,)).connect(visitor, account)
    rotated = App(clock, keys=(KEY, OLD_KEY))

    written = rotated.request(visitor)

    assert "__Host-acct-spotify" in written
    assert App(clock, keys=(KEY,)).accounts(visitor) == [account]


def test_an_idle_browser_is_forgotten_after_the_idle_timeout(app: App, visitor: Browser, clock: FakeClock) -> None:
    app.connect(visitor, make_account(expires_in=None))
    clock.advance(IDLE_TIMEOUT + 1)

    written = app.request(visitor)

    assert written["__Host-acct-spotify"]["max-age"] == "0"
    assert app.accounts(visitor) == []


def test_a_browser_in_daily_use_is_forgotten_after_the_absolute_lifetime(clock: FakeClock, visitor: Browser) -> None:
    app = App(clock, can_refresh=True)
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


# -- damaged cookies --------------------------------------------------------------------------------------------


def flip_middle(value: str) -> str:
    middle = len(value) // 2
    return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]


@pytest.mark.parametrize(
    "damage",
    [flip_middle, lambda value: value[:-3], lambda value: "garbage", lambda value: "", lambda value: value * 3],
    ids=["flipped", "truncated", "garbage", "empty", "oversize"],
)
def test_a_damaged_cookie_means_not_connected_and_is_deleted(app: App, visitor: Browser, damage: Any) -> None:
    app.connect(visitor, make_account("spotify"))
    app.connect(visitor, make_account("tidal"))
    visitor.cookies["__Host-acct-spotify"] = damage(visitor.cookies["__Host-acct-spotify"])

    written = app.request(visitor)

    assert [account.service for account in app.accounts(visitor)] == ["tidal"]
    assert written == {"__Host-acct-spotify": written["__Host-acct-spotify"]}
    assert written["__Host-acct-spotify"]["max-age"] == "0"


def test_one_services_cookie_cannot_stand_in_for_another(app: App, visitor: Browser) -> None:
    app.connect(visitor, make_account("spotify"))
    visitor.cookies["__Host-acct-tidal"] = visitor.cookies["__Host-acct-spotify"]

    written = app.request(visitor)

    assert [account.service for account in app.accounts(visitor)] == ["spotify"]
    assert written["__Host-acct-tidal"]["max-age"] == "0"


def test_a_cookie_under_an_unknown_key_is_deleted(clock: FakeClock, app: App, visitor: Browser) -> None:
    App(clock, keys=(OTHER_KEY,)).connect(visitor, make_account())

    written = app.request(visitor)

    assert app.accounts(visitor) == []
    assert written["__Host-acct-spotify"]["max-age"] == "0"


def test_an_authentic_cookie_naming_another_service_is_deleted(app: App, visitor: Browser) -> None:
    payload = {"s": "spotify", "u": "e75315f0-d1e1-4063-b801-181ad1a954e1", "n": None, "e": None, "i": None}
    payload |= {"c": None, "a": {"accessToken": "x"}, "x": None, "t": int(START), "r": None}
    visitor.cookies["__Host-acct-tidal"] = app.sealer.seal("acct-tidal", ACCOUNT_PURPOSE, payload)

    written = app.request(visitor)

    assert app.accounts(visitor) == []
    assert written["__Host-acct-tidal"]["max-age"] == "0"


def test_an_authentic_cookie_of_an_older_shape_is_deleted_not_a_crash(app: App, visitor: Browser) -> None:
    older_shape = {"u": "e75315f0-d1e1-4063-b801-181ad1a954e1", "n": None, "e": None, "i": None, "c": None}
    older_shape |= {"a": {"accessToken": "x"}, "x": None, "t": int(START), "r": None}
    visitor.cookies["__Host-acct-spotify"] = app.sealer.seal("acct-spotify", ACCOUNT_PURPOSE, older_shape)

    written = app.request(visitor)

    assert written["__Host-acct-spotify"]["max-age"] == "0"


# -- how long a cookie lives ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "connected_days_ago", "can_refresh", "expected_max_age"),
    [
        (3600, 0, False, 3600),
        (3600, 0, True, IDLE_TIMEOUT),
        (59, 0, False, 59),
        (30 * DAY, 0, False, IDLE_TIMEOUT),
        (None, 0, False, IDLE_TIMEOUT),
        (None, 0, True, IDLE_TIMEOUT),
        (-10, 0, False, 0),
        (-10, 0, True, IDLE_TIMEOUT),
        (None, 29, True, DAY),
        (3 * DAY, 29, False, DAY),
        (3600, 29, False, 3600),
    ],
)
def test_the_cookie_lives_until_the_first_of_idle_window_absolute_lifetime_and_unrenewable_token(
    clock: FakeClock,
    expires_in: int | None,
    connected_days_ago: int,
    can_refresh: bool,
    expected_max_age: int,
) -> None:
    app = App(clock, can_refresh=can_refresh)
    account = make_account(expires_in=expires_in, connected_at=START - connected_days_ago * DAY)

    written = app.connect(Browser(), account)

    assert int(written["__Host-acct-spotify"]["max-age"]) == expected_max_age


@pytest.mark.parametrize("hours_later", [1, 2, 5, 20, 47])
def test_without_refresh_the_cookie_never_outlives_its_token(
    clock: FakeClock, visitor: Browser, hours_later: int
) -> None:
    app = App(clock, can_refresh=False)
    account = make_account(expires_in=48 * 3600)
    expires_at = account.user.expires_at
    assert expires_at is not None
    app.connect(visitor, account)
    clock.advance(hours_later * 3600)

    written = app.request(visitor)

    assert clock() + int(written["__Host-acct-spotify"]["max-age"]) <= expires_at / 1000


def test_without_refresh_a_dead_token_means_not_connected(clock: FakeClock, visitor: Browser) -> None:
    app = App(clock, can_refresh=False)
    app.connect(visitor, make_account(expires_in=3600))
    clock.advance(3600)

    written = app.request(visitor)

    assert app.accounts(visitor) == []
    assert written["__Host-acct-spotify"]["max-age"] == "0"


def test_with_refresh_a_dead_token_is_kept_to_be_renewed(clock: FakeClock, visitor: Browser) -> None:
    app = App(clock, can_refresh=True)
    app.connect(visitor, make_account(expires_in=3600))
    clock.advance(2 * 3600)

    [account] = app.accounts(visitor)
    assert account.expired(clock())


@pytest.mark.parametrize(
    ("expires_in", "expired"),
    [(None, False), (3600, False), (EXPIRY_MARGIN + 1, False), (EXPIRY_MARGIN, True), (1, True), (-5, True)],
)
def test_a_token_counts_as_expired_a_minute_early(expires_in: int | None, expired: bool) -> None:
    assert make_account(expires_in=expires_in).expired(START) is expired


def test_the_api_view_of_an_account_has_the_documented_fields() -> None:
    account = make_account("spotify", auth_data={"accessToken": "BQx", "scope": "streaming"})

    assert account.to_api() == {
        "service": "spotify",
        "integrationUserUUID": "e75315f0-d1e1-4063-b801-181ad1a954e1",
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.com",
        "imageUrl": "https://cdn.example/avatars/0123456789abcdef.jpg",
        "country": "gb",
        "authData": {"accessToken": "BQx", "scope": "streaming"},
        "expiresAt": int((START + 3600) * 1000),
    }


# -- size limits ------------------------------------------------------------------------------------------------


BIGGEST_FIRST = (
    "tidal", "appleMusic", "amazonMusic", "youtube", "youtubeMusic", "spotify", "pandora", "boomplay", "anghami",
    "qobuz", "yandex", "deezer", "soundcloud", "napster",
)  # fmt: skip


def oversized_tidal_account() -> Account:
    """TIDAL with a long OpenID id token beside its access and refresh JWTs: too big for one cookie."""
    auth_data = dict(fake_auth_data("tidal", START))
    auth_data["idToken"] = random_text(3000)
    return make_account("tidal", auth_data=auth_data)


def test_an_account_too_big_for_one_cookie_is_refused_and_nothing_is_written(app: App, visitor: Browser) -> None:
    app.connect(visitor, make_account("spotify"))
    session = app.session(visitor)

    with pytest.raises(SessionFull):
        session.put(oversized_tidal_account())

    response = Response()
    session.write(response)
    assert response.headers.getlist("Set-Cookie") == []
    assert [account.service for account in session.accounts()] == ["spotify"]


def test_the_biggest_realistic_account_fits_in_one_cookie(app: App, visitor: Browser) -> None:
    for service in ("tidal", "appleMusic", "amazonMusic"):
        app.connect(visitor, make_account(service))

    for name, value in visitor.cookies.items():
        assert len(name) + 1 + len(value) <= MAX_COOKIE_BYTES


def test_connecting_service_after_service_stops_before_the_header_limit(clock: FakeClock, visitor: Browser) -> None:
    app = App(clock)
    connected: list[str] = []
    refused: str | None = None
    for service in BIGGEST_FIRST:
        try:
            app.connect(visitor, make_account(service))
        except SessionFull:
            refused = service
            break
        connected.append(service)
        assert len(visitor.header()) <= HEADER_BUDGET

    assert refused is not None, "realistic accounts of every service cannot all fit"
    assert len(connected) >= 3
    assert [account.service for account in app.accounts(visitor)] == [
        service for service in DEFAULT_SERVICES if service in connected
    ]


def test_replacing_an_account_in_a_full_browser_still_fits(clock: FakeClock, visitor: Browser) -> None:
    app = App(clock)
    for service in BIGGEST_FIRST:
        try:
            app.connect(visitor, make_account(service))
        except SessionFull:
            break

    app.connect(visitor, make_account("tidal", name="Reconnected"))

    assert app.session(visitor).get("tidal").user.name == "Reconnected"  # type: ignore[union-attr]


def test_other_cookies_of_the_site_count_against_the_header_limit(app: App, visitor: Browser) -> None:
    visitor.cookies["_ga"] = "G" * (HEADER_BUDGET - 500)

    with pytest.raises(SessionFull):
        app.connect(visitor, make_account("spotify"))
    assert not app.session(visitor).room_for_another("spotify")


def session_with_header(header: str) -> BrowserSession:
    clock = FakeClock(START)
    return BrowserSession(
        sealer=Sealer([KEY], clock=clock),
        policy=CookiePolicy(secure=True),
        cookies={},
        cookie_header=header,
        services=DEFAULT_SERVICES,
        can_refresh=False,
        clock=clock,
    )


@pytest.mark.parametrize(
    ("header", "replacing", "adding", "expected"),
    [
        ("", None, 0, 0),
        ("", None, 10, 10),
        ("a=1", None, 0, 3),
        ("a=1; b=22", None, 0, 9),
        ("a=1; b=22", "a", 0, 4),
        ("a=1; b=22", "b", 0, 3),
        ("a=1; b=22", None, 10, 21),
        ("a=1; b=22", "a", 10, 16),
        ("a=1; b=22", "c", 10, 21),
        ("a=1;b=22", None, 0, 9),
        ("  a=1 ;; b=22 ; ", None, 0, 9),
        ("flag; a=1", None, 0, 9),
        ("a=x=y; b=1", "a", 0, 3),
        ("__Host-acct-spotify=xyz; a=1", "__Host-acct-spotify", 5, 10),
        ("a=1; a=2", "a", 7, 7),
    ],
)
def test_projected_header_bytes(header: str, replacing: str | None, adding: int, expected: int) -> None:
    assert session_with_header(header).projected_header_bytes(replacing=replacing, adding=adding) == expected


def test_projected_header_bytes_of_a_real_header_is_its_length(app: App, visitor: Browser) -> None:
    for service in ("spotify", "tidal", "deezer"):
        app.connect(visitor, make_account(service))

    assert app.session(visitor).projected_header_bytes() == len(visitor.header())


# A typical Spotify cookie: its name, "=", and the typical sealed value.
TYPICAL_SPOTIFY = len("__Host-acct-spotify") + 1 + DEFAULT_TYPICAL_COOKIE_BYTES
TYPICAL_TIDAL = len("__Host-acct-tidal") + 1 + TYPICAL_COOKIE_BYTES["tidal"]


@pytest.mark.parametrize(
    ("used", "service", "room"),
    [
        (0, "spotify", True),
        (HEADER_BUDGET - TYPICAL_SPOTIFY - 2, "spotify", True),
        (HEADER_BUDGET - TYPICAL_SPOTIFY - 1, "spotify", False),
        (HEADER_BUDGET - TYPICAL_SPOTIFY - 2, "tidal", False),
        (HEADER_BUDGET - TYPICAL_TIDAL - 2, "tidal", True),
    ],
)
def test_room_for_another_account_depends_on_the_service(used: int, service: str, room: bool) -> None:
    # "x=" plus filler makes a cookie of exactly ``used`` bytes; the separator adds two more.
    header = "x=" + "v" * (used - 2) if used else ""

    assert session_with_header(header).room_for_another(service) is room


def test_the_login_flows_own_cookies_are_left_to_the_reserve() -> None:
    session = session_with_header("flow=" + "f" * 300 + "; a=1")
    session.transient_cookies = frozenset({"flow"})

    assert session.projected_header_bytes() == 3

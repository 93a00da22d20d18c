"""Login flows: MusicAPI's return is accepted only by the browser that started the login, once, within 10 minutes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from werkzeug.wrappers import Response

from callback_app.cookies import CookieJar, Sealer
from callback_app.errors import (
    CallbackError,
    FlowExpired,
    FlowMissing,
    FlowReplayed,
    MalformedCallback,
    StateMismatch,
)
from callback_app.login.flows import (
    ANY_SERVICE,
    CLAIMED,
    FLOW_COOKIE,
    FLOW_LIFETIME,
    SPENT_COOKIE,
    Flow,
    LoginFlows,
    NoLedger,
)
from tests.support.clock import FakeClock
from tests.unit.helpers import KEY, OLD_KEY, OTHER_KEY, BrowserCookies


class RecordingLedger(NoLedger):
    """Cookie mode's ledger, remembering which flows it was told about."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, key: str) -> None:
        self.opened.append(key)


class App:
    """The app's login flows over one key ring, clock and https setting."""

    def __init__(self, clock: FakeClock, *, keys: tuple[str, ...] = (KEY,), secure: bool = True) -> None:
        self.ledger = RecordingLedger()
        self.flows = LoginFlows(
            sealer=Sealer(keys, clock=clock), jar=CookieJar(secure=secure), ledger=self.ledger, clock=clock
        )

    def start(
        self, visitor: BrowserCookies, service: str | None = "spotify", next_url: str = "/", attempt: str = ""
    ) -> Flow:
        response = Response()
        flow = self.flows.start(response, service, next_url, attempt)
        visitor.receive(response)
        return flow

    def finish(self, visitor: BrowserCookies, flow: Flow, service: str = "spotify") -> dict[str, dict[str, str]]:
        response = Response()
        self.flows.finish(response, flow, service)
        return visitor.receive(response)

    def come_back(self, visitor: BrowserCookies, state: str | None) -> Flow:
        return self.flows.bind(visitor.cookies, state)


@pytest.fixture
def app(clock: FakeClock) -> App:
    return App(clock)


@pytest.fixture
def visitor() -> BrowserCookies:
    return BrowserCookies()


# -- the happy path ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "next_url", "attempt", "expected_service"),
    [
        ("spotify", "/", "", "spotify"),
        ("tidal", "/accounts?tab=1", "", "tidal"),
        (None, "/", "", ANY_SERVICE),
        ("deezer", "https://www.example.com/after", "", "deezer"),
        ("spotify", "/popup/done", "popup-attempt-0123456789", "spotify"),
    ],
)
def test_the_browser_that_started_the_login_comes_back_to_it(
    app: App, service: str | None, next_url: str, attempt: str, expected_service: str
) -> None:
    visitor = BrowserCookies()
    flow = app.start(visitor, service, next_url, attempt)

    assert app.come_back(visitor, flow.state) == Flow(
        state=flow.state, service=expected_service, next_url=next_url, attempt=attempt
    )


def test_starting_a_login_sets_one_short_lived_protected_flow_cookie(app: App, visitor: BrowserCookies) -> None:
    response = Response()
    app.flows.start(response, "spotify", "/")

    [(name, cookie)] = visitor.receive(response).items()
    assert name == "__Host-flow"
    assert cookie["max-age"] == str(FLOW_LIFETIME) == "600"
    assert cookie["path"] == "/"
    assert cookie["samesite"] == "Lax"
    assert {"secure", "httponly"} <= set(cookie)
    assert "domain" not in cookie


def test_the_state_is_long_random_and_url_safe(app: App, visitor: BrowserCookies) -> None:
    states = {app.start(visitor).state for _ in range(20)}

    assert len(states) == 20
    for state in states:
        assert len(state) >= 32
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", state)


def test_the_flow_cookie_reveals_neither_state_nor_next_url(app: App, visitor: BrowserCookies) -> None:
    flow = app.start(visitor, "spotify", "/secret-next-path")
    value = visitor.cookies["__Host-flow"]

    assert flow.state not in value
    assert "secret-next-path" not in value


def test_the_server_learns_of_a_flow_by_a_key_that_does_not_reveal_its_state(app: App, visitor: BrowserCookies) -> None:
    flow = app.start(visitor)

    assert app.ledger.opened == [flow.key]
    assert re.fullmatch(r"[0-9a-f]{64}", flow.key)
    assert flow.state not in flow.key
    assert Flow(state=flow.state, service="other", next_url="/x").key == flow.key


def test_cookie_mode_lets_every_bound_callback_try_its_exchange() -> None:
    ledger = NoLedger()

    assert ledger.claim("any") == CLAIMED
    assert ledger.claim("any") == CLAIMED
    assert ledger.wait("any", 10, FakeClock()) is None


def test_a_login_finished_within_ten_minutes_is_bound(app: App, visitor: BrowserCookies, clock: FakeClock) -> None:
    flow = app.start(visitor)
    clock.advance(FLOW_LIFETIME)

    assert app.come_back(visitor, flow.state).state == flow.state


def test_binding_changes_nothing_so_it_can_be_checked_again(app: App, visitor: BrowserCookies) -> None:
    flow = app.start(visitor)
    before = dict(visitor.cookies)

    app.come_back(visitor, flow.state)

    assert visitor.cookies == before
    assert app.come_back(visitor, flow.state) == app.come_back(visitor, flow.state)


# -- why a callback is not bound --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [None, ""])
def test_a_callback_without_state_is_malformed(app: App, visitor: BrowserCookies, state: str | None) -> None:
    app.start(visitor)

    with pytest.raises(MalformedCallback):
        app.come_back(visitor, state)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda state: state[:-1],
        lambda state: state + "x",
        lambda state: "x" + state[1:],
        lambda state: state.replace(".", "-"),
        lambda state: state.split(".")[0],
        lambda state: state[::-1],
        lambda state: state + "\r\nSet-Cookie: x=1",
        lambda state: "é" + state,
        lambda state: state * 10,
    ],
    ids=["truncated", "appended", "first-changed", "separators", "unsigned", "reversed", "crlf", "non-ascii", "huge"],
)
def test_a_tampered_state_is_malformed(app: App, visitor: BrowserCookies, tamper: Callable[[str], str]) -> None:
    flow = app.start(visitor)

    with pytest.raises(MalformedCallback):
        app.come_back(visitor, tamper(flow.state))


def test_a_state_signed_by_another_app_is_malformed(app: App, visitor: BrowserCookies, clock: FakeClock) -> None:
    app.start(visitor)
    foreign = App(clock, keys=(OTHER_KEY,)).start(BrowserCookies())

    with pytest.raises(MalformedCallback):
        app.come_back(visitor, foreign.state)


def test_a_state_from_an_earlier_login_in_this_browser_is_a_mismatch(app: App, visitor: BrowserCookies) -> None:
    first = app.start(visitor)
    second = app.start(visitor)

    with pytest.raises(StateMismatch):
        app.come_back(visitor, first.state)
    assert app.come_back(visitor, second.state) == second


def test_a_state_from_another_browser_is_a_mismatch_here(app: App, visitor: BrowserCookies) -> None:
    app.start(visitor)
    other = app.start(BrowserCookies())

    with pytest.raises(StateMismatch):
        app.come_back(visitor, other.state)


def test_a_callback_in_a_browser_that_started_nothing_is_missing_its_flow(app: App) -> None:
    flow = app.start(BrowserCookies())

    with pytest.raises(FlowMissing):
        app.come_back(BrowserCookies(), flow.state)


def test_a_replayed_callback_is_named_as_one(app: App, visitor: BrowserCookies) -> None:
    flow = app.start(visitor)
    app.come_back(visitor, flow.state)
    app.finish(visitor, flow)

    with pytest.raises(FlowReplayed):
        app.come_back(visitor, flow.state)


def test_a_replay_after_a_new_login_started_is_still_a_replay(app: App, visitor: BrowserCookies) -> None:
    used = app.start(visitor)
    app.finish(visitor, used)
    app.start(visitor)

    with pytest.raises(FlowReplayed):
        app.come_back(visitor, used.state)


def test_only_the_last_finished_state_is_remembered_as_spent(app: App, visitor: BrowserCookies) -> None:
    first = app.start(visitor)
    app.finish(visitor, first)
    second = app.start(visitor)
    app.finish(visitor, second)

    with pytest.raises(FlowMissing):
        app.come_back(visitor, first.state)
    with pytest.raises(FlowReplayed):
        app.come_back(visitor, second.state)


@pytest.mark.parametrize(("elapsed", "error"), [(FLOW_LIFETIME, FlowMissing), (FLOW_LIFETIME + 1, FlowExpired)])
def test_an_old_state_without_its_cookie_has_expired(
    app: App, visitor: BrowserCookies, clock: FakeClock, elapsed: int, error: type[CallbackError]
) -> None:
    flow = app.start(visitor)
    visitor.cookies.clear()  # the browser dropped the cookie at Max-Age
    clock.advance(elapsed)

    with pytest.raises(error):
        app.come_back(visitor, flow.state)


def test_an_expired_flow_cookie_means_an_expired_flow(app: App, visitor: BrowserCookies, clock: FakeClock) -> None:
    flow = app.start(visitor)
    clock.advance(FLOW_LIFETIME + 1)

    with pytest.raises(FlowExpired):
        app.come_back(visitor, flow.state)


def test_a_replay_long_after_is_expired_once_the_spent_marker_is_gone(
    app: App, visitor: BrowserCookies, clock: FakeClock
) -> None:
    flow = app.start(visitor)
    app.finish(visitor, flow)
    clock.advance(FLOW_LIFETIME + 1)

    with pytest.raises(FlowExpired):
        app.come_back(visitor, flow.state)


def test_a_flow_cookie_sealed_under_another_key_is_missing(app: App, visitor: BrowserCookies, clock: FakeClock) -> None:
    flow = app.start(visitor)
    App(clock, keys=(OTHER_KEY,)).start(visitor)

    with pytest.raises(FlowMissing):
        app.come_back(visitor, flow.state)


@pytest.mark.parametrize(
    "value", ["", "garbage", "a.b.c", "x" * 5000], ids=["empty", "garbage", "three-parts", "oversize"]
)
def test_a_damaged_flow_cookie_is_missing(app: App, visitor: BrowserCookies, value: str) -> None:
    flow = app.start(visitor)
    visitor.cookies["__Host-flow"] = value

    with pytest.raises(FlowMissing):
        app.come_back(visitor, flow.state)


def test_a_spent_marker_moved_into_the_flow_cookie_is_missing(app: App, visitor: BrowserCookies) -> None:
    flow = app.start(visitor)
    app.finish(visitor, flow)
    visitor.cookies["__Host-flow"] = visitor.cookies["__Host-flow-spent"]

    with pytest.raises(FlowMissing):
        app.come_back(visitor, flow.state)


def test_a_forged_spent_marker_is_ignored(app: App, visitor: BrowserCookies, clock: FakeClock) -> None:
    flow = app.start(visitor)
    visitor.cookies.clear()
    forger = BrowserCookies()
    App(clock, keys=(OTHER_KEY,)).finish(forger, flow)
    visitor.cookies.update(forger.cookies)

    with pytest.raises(FlowMissing):
        app.come_back(visitor, flow.state)


def test_cookies_without_the_host_prefix_are_ignored_over_https(
    app: App, visitor: BrowserCookies, clock: FakeClock
) -> None:
    plain = App(clock, secure=False)
    flow = plain.start(visitor)

    assert "flow" in visitor.cookies
    with pytest.raises(FlowMissing):
        app.come_back(visitor, flow.state)


def test_plain_http_on_this_machine_uses_plain_names(clock: FakeClock, visitor: BrowserCookies) -> None:
    app = App(clock, secure=False)
    flow = app.start(visitor)

    assert set(visitor.cookies) == {FLOW_COOKIE}
    app.finish(visitor, flow)
    assert set(visitor.cookies) == {SPENT_COOKIE}


# -- finishing --------------------------------------------------------------------------------------------------


def test_finishing_clears_the_flow_cookie_and_remembers_the_state(app: App, visitor: BrowserCookies) -> None:
    flow = app.start(visitor)

    written = app.finish(visitor, flow)

    deleted, spent = written["__Host-flow"], written["__Host-flow-spent"]
    assert deleted["max-age"] == "0"
    assert deleted["value"] == ""
    assert {"secure", "httponly"} <= set(deleted)
    assert deleted["path"] == "/"
    assert spent["max-age"] == "600"
    assert flow.state not in spent["value"]
    assert set(visitor.cookies) == {"__Host-flow-spent"}


@pytest.mark.parametrize(("asked", "came_back"), [("spotify", "spotify"), (None, "tidal")])
def test_a_finished_login_remembers_the_service_it_connected(
    app: App, visitor: BrowserCookies, asked: str | None, came_back: str
) -> None:
    flow = app.start(visitor, asked)
    other = app.start(BrowserCookies())
    app.finish(visitor, flow, came_back)

    assert app.flows.spent_service(visitor.cookies, flow.state) == came_back
    assert app.flows.spent_service(visitor.cookies, other.state) is None
    assert app.flows.spent_service({}, flow.state) is None


@pytest.mark.parametrize("value", ["expired-or-forged", "x.y.z"])
def test_discarding_deletes_an_unusable_flow_cookie(app: App, visitor: BrowserCookies, value: str) -> None:
    visitor.cookies["__Host-flow"] = value
    response = Response()

    app.flows.discard(visitor.cookies, response)

    written = visitor.receive(response)
    assert written["__Host-flow"]["max-age"] == "0"
    assert visitor.cookies == {}


def test_discarding_without_a_flow_cookie_writes_nothing(app: App, visitor: BrowserCookies) -> None:
    visitor.cookies["__Host-flow-spent"] = "spent"
    response = Response()

    app.flows.discard(visitor.cookies, response)

    assert response.headers.getlist("Set-Cookie") == []


# -- key rotation -----------------------------------------------------------------------------------------------


def test_a_login_started_before_a_key_rotation_still_finishes(visitor: BrowserCookies, clock: FakeClock) -> None:
    flow = App(clock, keys=(OLD_KEY,)).start(visitor)
    rotated = App(clock, keys=(OLD_KEY, KEY))

    assert rotated.come_back(visitor, flow.state) == flow


def test_a_login_started_before_the_old_key_was_dropped_is_refused(visitor: BrowserCookies, clock: FakeClock) -> None:
    flow = App(clock, keys=(OLD_KEY,)).start(visitor)

    with pytest.raises(MalformedCallback):
        App(clock, keys=(KEY,)).come_back(visitor, flow.state)


@pytest.mark.parametrize("error", [MalformedCallback, FlowMissing, FlowExpired, FlowReplayed, StateMismatch])
def test_every_unbound_callback_is_a_400_that_offers_to_try_again(error: type[CallbackError]) -> None:
    assert issubclass(error, CallbackError)
    assert error.status == 400
    assert error.code
    assert error.restarts_login

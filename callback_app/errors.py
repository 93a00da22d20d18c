"""Every error the app raises, in one small hierarchy.

A request error carries its machine ``code`` (logged, returned in JSON, shown in small print)
and its HTTP ``status``. The words a person reads for each code live with the templates and
the message catalogs (templates/errors/messages.html), never here.
"""

from __future__ import annotations

from typing import ClassVar


class CallbackAppError(Exception):
    """Base of every error raised by callback_app."""


class ConfigError(CallbackAppError):
    """The environment does not describe a runnable app; ``problems`` names each variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class CookieError(CallbackAppError):
    """A cookie could not be opened: treated as absent, never shown to the user."""


class BadCookie(CookieError):
    """Tampered, forged under another key, truncated or undecodable."""


class ExpiredCookie(CookieError):
    """Authentic, but older than its lifetime allows."""


class RequestError(CallbackAppError):
    """An error that answers a request with its code and status.

    ``restarts_login`` says whether pressing "Try again" can start the same login afresh; the
    other errors offer "Back to start".
    """

    code: ClassVar[str] = "bad_request"
    status: ClassVar[int] = 400
    restarts_login: ClassVar[bool] = False

    @classmethod
    def from_code(cls, code: str) -> RequestError:
        """The error named ``code`` (as recorded by another instance), or a plain one."""
        pending: list[type[RequestError]] = [cls]
        while pending:
            kind = pending.pop()
            if kind.code == code:
                return kind()
            pending.extend(kind.__subclasses__())
        return cls()


class CsrfFailed(RequestError):
    """A form post that cannot be proven to come from our own pages or an allowed site."""

    code = "csrf_failed"


class CsrfTokenInvalid(CsrfFailed):
    code = "csrf_token"


class ForeignOrigin(CsrfFailed):
    code = "foreign_origin"


class WrongHost(RequestError):
    """A request for a host name other than PUBLIC_URL's (the platform's own name, a typo)."""

    code = "wrong_host"
    status = 421


class UnknownService(RequestError):
    code = "unknown_service"
    status = 404


class NotFound(RequestError):
    code = "not_found"
    status = 404


class MethodNotAllowed(RequestError):
    code = "method_not_allowed"
    status = 405


class NotConnected(RequestError):
    code = "not_connected"
    status = 401


class UnknownAttempt(RequestError):
    code = "unknown_attempt"
    status = 404


class Unavailable(RequestError):
    """The session store (Redis) cannot be reached: nothing is started, spent or changed."""

    code = "unavailable"
    status = 503
    restarts_login = True


class RefreshInProgress(RequestError):
    """Another instance is renewing this account's tokens at this moment."""

    code = "refresh_in_progress"
    status = 503


class NoRoom(RequestError):
    """Another account would not fit in the browser's cookies."""

    code = "no_room"


class SessionFull(NoRoom):
    """This app's own accounts fill the space."""

    code = "session_full"


class CookiesFull(NoRoom):
    """Other cookies of this host fill the space."""

    code = "cookies_full"


class InternalError(RequestError):
    """A fault of this app: logged by type, answered without details."""

    code = "internal_error"
    status = 500


class Forbidden(RequestError):
    code = "forbidden"
    status = 403


class UriTooLong(RequestError):
    code = "uri_too_long"
    status = 414


class HeadersTooLarge(RequestError):
    """The browser's headers (in practice, its cookies for this site) are larger than the server reads."""

    code = "request_too_large"
    status = 431


class CallbackError(RequestError):
    """The return from MusicAPI could not be turned into a connected account."""

    restarts_login = True


class MalformedCallback(CallbackError):
    code = "malformed_callback"


class FlowMissing(CallbackError):
    code = "flow_missing"


class FlowExpired(CallbackError):
    code = "flow_expired"


class FlowReplayed(CallbackError):
    code = "flow_replayed"


class AlreadyConnected(FlowReplayed):
    """A repeat of a finished login whose account this browser already holds."""

    code = "already_connected"
    restarts_login = False


class StateMismatch(CallbackError):
    code = "state_mismatch"


class LoginFailed(CallbackError):
    code = "login_failed"


class ServiceMismatch(CallbackError):
    code = "service_mismatch"


class LoginInterrupted(CallbackError):
    """A repeat of a login whose first copy never reported back (its worker stopped mid-exchange)."""

    code = "login_interrupted"


class UpstreamError(CallbackError):
    """MusicAPI answered, but not with a usable account."""

    code = "upstream_error"
    status = 502


class UpstreamRefused(UpstreamError):
    code = "upstream_refused"


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    status = 504

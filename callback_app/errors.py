"""Every error the app raises, in one small hierarchy.

A request error carries its machine ``code`` (logged, and shown in small print), its HTTP
``status`` and the plain sentences a person reads. Views map them to pages in one handler.
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
    """An error that answers a request: machine code, HTTP status and what the person reads."""

    code: ClassVar[str] = "bad_request"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Something went wrong"
    message: ClassVar[str] = "Please go back to the start and try again."


class CsrfFailed(RequestError):
    code = "csrf_failed"
    title = "This page was open too long"
    message = "For your safety the form expired. Go back to the start and press the button again."


class UnknownService(RequestError):
    code = "unknown_service"
    status = 404
    title = "We don't offer that service here"
    message = "Go back to the start and pick one of the services on the list."


class NotFound(RequestError):
    code = "not_found"
    status = 404
    title = "There is nothing at this address"
    message = "The link may be mistyped. Start again from the home page."


class MethodNotAllowed(RequestError):
    code = "method_not_allowed"
    status = 405
    title = "That doesn't work from a link"
    message = "Use the buttons on the home page instead."


class NotConnected(RequestError):
    code = "not_connected"
    status = 401
    title = "Nothing is connected"
    message = "Connect a music service first."


class SessionFull(RequestError):
    code = "session_full"
    title = "Too many accounts connected at once"
    message = "Your browser cannot hold another connected account. Disconnect one you don't need, then try again."


class CallbackError(RequestError):
    """The return from MusicAPI could not be turned into a connected account."""


class MalformedCallback(CallbackError):
    code = "malformed_callback"
    title = "The answer from the login page was damaged"
    message = "We could not read what the login page sent back. Please start the login again."


class FlowMissing(CallbackError):
    code = "flow_missing"
    title = "This login was started in another browser"
    message = (
        "Logins must finish in the same browser where they began. "
        "Start again here, and keep this browser open until you're back."
    )


class FlowExpired(CallbackError):
    code = "flow_expired"
    title = "This login link has expired"
    message = "Logins must be finished within 10 minutes. Please start again."


class FlowReplayed(CallbackError):
    code = "flow_replayed"
    title = "This login link was already used"
    message = (
        "Each login link works only once. If you already connected, you'll see it on the start page; "
        "otherwise try again."
    )


class StateMismatch(CallbackError):
    code = "state_mismatch"
    title = "Another login was started meanwhile"
    message = "Only the most recent login can finish. Please start again, one login at a time."


class LoginFailed(CallbackError):
    code = "login_failed"
    title = "The login was cancelled"
    message = "The music service did not confirm the login. Nothing was connected. You can try again."


class ServiceMismatch(CallbackError):
    code = "service_mismatch"
    title = "A different service came back"
    message = "The login returned another service than the one you picked. Please start again."


class UpstreamError(CallbackError):
    """MusicAPI answered, but not with a usable account."""

    code = "upstream_error"
    status = 502
    title = "MusicAPI had a problem"
    message = "MusicAPI could not hand over your account just now. Please try again in a moment."


class UpstreamRefused(UpstreamError):
    code = "upstream_refused"
    title = "MusicAPI did not accept the login"
    message = (
        "The login may have taken too long and expired. Nothing was connected. "
        "Please try again; it only takes a moment."
    )


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"
    title = "We couldn't reach MusicAPI"
    message = "MusicAPI is not answering right now. Nothing was connected. Please try again shortly."


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    status = 504
    title = "MusicAPI is too slow right now"
    message = "MusicAPI took too long to answer. Nothing was connected. Please try again shortly."

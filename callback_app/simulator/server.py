"""HTTP face of the simulator: MusicAPI's login pages, its exchange endpoint and test controls, as a blueprint.

The app mounts the blueprint in embedded mode; `create_simulator_app` serves it alone for tests and benchmarks.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, Flask, Response, jsonify, render_template, request, url_for

from callback_app.musicapi.protocol import SERVICE_NAMES, service_name
from callback_app.simulator.faults import fault_response, json_response
from callback_app.simulator.state import FAULTS, Simulator

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FOLDER = REPOSITORY_ROOT / "templates"
STATIC_FOLDER = REPOSITORY_ROOT / "static"

SERVICE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,39}")


class PageError(Exception):
    """A login page request the simulator refuses, shown as an HTML page with this status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class LoginRequest:
    """The query parameters of a MusicAPI login URL, carried from page to page and into the login form."""

    return_url: str
    request_one_time_token: bool
    forward_failures: bool

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str]) -> LoginRequest:
        """Read the parameters from a query string or form; a missing or non-http(s) returnUrl is a 400 page."""
        return_url = parameters.get("returnUrl", "")
        if not is_absolute_http_url(return_url):
            raise PageError(400, "Invalid returnUrl", "The login link needs an absolute http or https returnUrl.")
        return cls(
            return_url=return_url,
            request_one_time_token=parameters.get("requestOneTimeToken", "").lower() == "true",
            forward_failures=parameters.get("forwardFailures", "").lower() == "true",
        )

    def parameters(self) -> dict[str, str]:
        """Return the parameters to pass on, omitting flags that are off, as MusicAPI links do."""
        parameters = {"returnUrl": self.return_url}
        if self.request_one_time_token:
            parameters["requestOneTimeToken"] = "true"
        if self.forward_failures:
            parameters["forwardFailures"] = "true"
        return parameters


def is_absolute_http_url(url: str) -> bool:
    """True for an absolute http or https URL with a host."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def encode_data64(result: Mapping[str, Any]) -> str:
    """Encode a login result like MusicAPI: standard-alphabet, padded base64 of UTF-8 JSON."""
    return base64.b64encode(json.dumps(result).encode()).decode("ascii")


def url_with_data64(return_url: str, result: Mapping[str, Any]) -> str:
    """Add `data64` to returnUrl, keeping its own query string untouched."""
    parts = urlsplit(return_url)
    data64_parameter = urlencode({"data64": encode_data64(result)})
    query = f"{parts.query}&{data64_parameter}" if parts.query else data64_parameter
    return urlunsplit(parts._replace(query=query))


def create_simulator_blueprint(simulator: Simulator) -> Blueprint:
    """Build the blueprint that plays MusicAPI for this simulator's state."""
    blueprint = Blueprint("simulator", __name__, template_folder=str(TEMPLATE_FOLDER))
    blueprint.register_error_handler(PageError, _render_page_error)
    _add_login_routes(blueprint, simulator)
    _add_exchange_routes(blueprint, simulator)
    _add_control_routes(blueprint, simulator)
    return blueprint


def create_simulator_app(simulator: Simulator | None = None) -> Flask:
    """Build a standalone app serving the simulator at the root: auth base /auth, API base /api."""
    app = Flask(__name__, template_folder=str(TEMPLATE_FOLDER), static_folder=str(STATIC_FOLDER))
    app.register_blueprint(create_simulator_blueprint(simulator or Simulator()))
    return app


def _render_page_error(error: PageError) -> tuple[str, int]:
    page = render_template("simulator/message.html", title=error.title, message=error.message, return_url=None)
    return page, error.status


def _require_slug(simulator: Simulator, slug: str) -> None:
    if slug != simulator.slug:
        raise PageError(404, "Unknown account", "No MusicAPI account uses this link.")


def _require_service_type(service: str) -> None:
    if not SERVICE_TYPE.fullmatch(service):
        raise PageError(404, "Unknown service", "This login link names no service MusicAPI knows.")


def _redirect(location: str) -> Response:
    """A bare 302: unlike flask.redirect, no HTML body echoing the location (and so data64)."""
    return Response(status=302, headers={"Location": location})


def _add_login_routes(blueprint: Blueprint, simulator: Simulator) -> None:
    @blueprint.get("/auth/<slug>")
    def chooser(slug: str) -> str:
        """MusicAPI's service chooser: one button per service type."""
        _require_slug(simulator, slug)
        query = urlencode(LoginRequest.from_parameters(request.args).parameters())
        services = [
            (service, name, f"{url_for('.login_page', slug=slug, service=service)}?{query}")
            for service, name in SERVICE_NAMES.items()
        ]
        return render_template("simulator/chooser.html", services=services)

    @blueprint.get("/auth/<slug>/<service>/auth")
    def login_page(slug: str, service: str) -> str:
        """One service's login page: log in, or cancel to simulate a failed login."""
        _require_slug(simulator, slug)
        _require_service_type(service)
        login = LoginRequest.from_parameters(request.args)
        return render_template(
            "simulator/login.html",
            service_name=service_name(service),
            action=url_for(".submit_login", slug=slug, service=service),
            hidden_fields=login.parameters(),
        )

    @blueprint.post("/auth/<slug>/<service>/auth")
    def submit_login(slug: str, service: str) -> Response | tuple[str, int]:
        """Finish the login and send the browser back to returnUrl with data64."""
        _require_slug(simulator, slug)
        _require_service_type(service)
        login = LoginRequest.from_parameters(request.form)
        match request.form.get("choice"):
            case "login":
                user_key = request.form.get("user_key", "").strip() or None
                result = simulator.issue_login(service, user_key=user_key, one_time_token=login.request_one_time_token)
                return _redirect(url_with_data64(login.return_url, result))
            case "fail" if login.forward_failures:
                return _redirect(url_with_data64(login.return_url, simulator.failed_login(service)))
            case "fail":
                page = render_template(
                    "simulator/message.html",
                    title="Login cancelled",
                    message=f"You did not log in to {service_name(service)}.",
                    return_url=login.return_url,
                )
                return page, 200
            case _:
                raise PageError(400, "Invalid choice", "Choose to log in or to cancel.")


def _add_exchange_routes(blueprint: Blueprint, simulator: Simulator) -> None:
    @blueprint.get("/api/public/integrations/user/<user_uuid>")
    def exchange(user_uuid: str) -> Response:
        """Trade a one-time token or client credentials for the user's profile and auth data."""
        received_at = simulator.clock()
        # Never under the lock: under gevent this sleep yields, and thousands of requests wait side by side.
        time.sleep(simulator.latency)
        authorization = request.headers.get("Authorization", "")
        fault = simulator.fault
        if fault is None:
            result = simulator.exchange(user_uuid, authorization)
            response = json_response(result.status, result.body)
        else:
            response = fault_response(
                fault,
                redirect_location=url_for(".redirected", _external=True),
                slow_body_seconds=simulator.slow_body_seconds,
            )
        simulator.record_call(user_uuid, authorization, response.status_code, received_at)
        if fault == "hang":
            time.sleep(simulator.hang_seconds)
        return response

    @blueprint.get("/api/public/redirected")
    def redirected() -> Response:
        """Where the "redirect" fault points: a client that follows it gets no user."""
        return json_response(200, {"error": "redirected"})


def _add_control_routes(blueprint: Blueprint, simulator: Simulator) -> None:
    @blueprint.post("/_control")
    def control() -> Response:
        """Set latency, fault, token_ttl, hang_seconds or slow_body_seconds; absent keys stay as they are."""
        settings = request.get_json(silent=True)
        if not isinstance(settings, dict):
            return json_response(400, {"error": "expected a JSON object"})
        try:
            _apply_settings(simulator, settings)
        except (TypeError, ValueError) as error:
            return json_response(400, {"error": str(error)})
        return Response(status=204)

    @blueprint.get("/_control/calls")
    def calls() -> Response:
        """Every exchange call so far, oldest first."""
        return jsonify([asdict(call) for call in simulator.calls()])

    @blueprint.post("/_control/reset")
    def reset() -> Response:
        """Back to a clean state between tests."""
        simulator.reset()
        return Response(status=204)


def _apply_settings(simulator: Simulator, settings: Mapping[str, Any]) -> None:
    """Validate every setting first, then apply them all, so a bad request changes nothing."""
    unknown = set(settings) - {"latency", "fault", "token_ttl", "hang_seconds", "slow_body_seconds"}
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    fault = settings.get("fault", simulator.fault)
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}")
    durations = {
        name: _non_negative_seconds(name, settings[name])
        for name in ("latency", "token_ttl", "hang_seconds", "slow_body_seconds")
        if name in settings
    }
    simulator.fault = fault
    for name, seconds in durations.items():
        setattr(simulator, name, seconds)


def _non_negative_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number of seconds, at least 0")
    return float(value)

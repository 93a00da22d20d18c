"""Starting the app: one clear line for a bad deploy, a demo that needs nothing, production without the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from callback_app.app import EXTENSION, create_app
from callback_app.config import Settings
from callback_app.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
SECRET = "production-secret-key-0123456789-abcdefghij"
USER_UUID = "e75315f0-d1e1-4063-b801-181ad1a954e1"
CONTRACT_VARIABLES = (
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "MUSICAPI_SLUG",
    "PUBLIC_URL",
    "MUSICAPI_AUTH_URL",
    "MUSICAPI_API_URL",
    "MUSICAPI_SERVICES",
    "MUSICAPI_CLIENT_ID",
    "MUSICAPI_CLIENT_SECRET",
    "MUSICAPI_SIMULATOR",
    "PORT",
    "WEB_CONCURRENCY",
    "DYNO",
)
PRODUCTION = {"SECRET_KEY": SECRET, "MUSICAPI_SLUG": "my-app", "PUBLIC_URL": "https://app.example.com"}
ERROR_PREFIX = "callback_app: configuration error:"


def bare_environment(**variables: str) -> dict[str, str]:
    """What a fresh dyno has before anyone configured the app: PATH and HOME, and what the test adds."""
    return {
        "PATH": f"{GUNICORN.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(Path.home())),
        **variables,
    }


def procfile_web_command() -> str:
    """The web process exactly as the PaaS starts it, from the Procfile."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    [command] = [line.removeprefix("web:").strip() for line in lines if line.startswith("web:")]
    return command


def assert_one_error_line(result: subprocess.CompletedProcess[str], named: tuple[str, ...]) -> None:
    """A non-zero exit, no traceback, and exactly one line: the configuration error naming each variable."""
    lines = output_lines(result)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    [line] = [line for line in lines if line.startswith(ERROR_PREFIX)]
    assert lines == [line]
    for name in named:
        assert name in line


def run(command: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False)


def output_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- a bad deploy stops with one line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG")),
        ({"SECRET_KEY": "short-secret-value", "PUBLIC_URL": "http://app.example.com"}, ("SECRET_KEY", "PUBLIC_URL")),
        ({"MUSICAPI_SIMULATOR": "1", "DYNO": "web.1"}, ("DYNO", "PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG")),
        ({**PRODUCTION, "PORT": "http"}, ("PORT",)),
    ],
    ids=["nothing-configured", "bad-values", "simulator-on-a-dyno", "bad-port"],
)
def test_gunicorn_refuses_a_bad_configuration_with_one_line(variables: dict[str, str], named: tuple[str, ...]) -> None:
    result = run(
        [str(GUNICORN), "--config", "gunicorn.conf.py", "callback_app.wsgi:app"], bare_environment(**variables)
    )

    assert_one_error_line(result, named)
    assert "short-secret-value" not in result.stdout + result.stderr


def test_the_wsgi_module_refuses_a_bad_configuration_with_one_line() -> None:
    result = run([sys.executable, "-c", "import callback_app.wsgi"], bare_environment())

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    [line] = output_lines(result)
    assert line.startswith(ERROR_PREFIX)
    for name in ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"):
        assert name in line


def test_create_app_names_every_problem(clean_environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app()

    assert len(caught.value.problems) == 3


# -- the demo needs nothing -------------------------------------------------------------------------------------


def test_the_simulator_demo_starts_with_no_other_configuration(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("MUSICAPI_SIMULATOR", "1")

    app = create_app()
    client = app.test_client()

    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json["simulator"] is True  # type: ignore[index]
    assert client.get("/").status_code == 200
    chooser = client.get("/_simulator/auth/simulator", query_string={"returnUrl": "http://127.0.0.1:5000/callback"})
    assert chooser.status_code == 200


# -- create_app with a Settings object --------------------------------------------------------------------------


def production_settings(**changes: object) -> Settings:
    fields: dict[str, object] = {
        "secret_key": SECRET,
        "musicapi_slug": "my-app",
        "public_url": "https://app.example.com",
    }
    fields.update(changes)
    return Settings(**fields)  # type: ignore[arg-type]


@pytest.fixture
def production_app(clean_environment: pytest.MonkeyPatch) -> Flask:
    return create_app(production_settings())


def test_create_app_uses_the_settings_it_is_given(production_app: Flask) -> None:
    parts = production_app.extensions[EXTENSION]

    assert parts.settings == production_settings()
    assert parts.cookie_policy.secure is True
    assert parts.musicapi.api_url == "https://api.musicapi.com"


def test_a_production_app_answers_health_checks_and_its_landing_page(production_app: Flask) -> None:
    client = production_app.test_client()

    assert client.get("/healthz").status_code == 200
    assert client.get("/", base_url="https://app.example.com").status_code == 200


def test_a_production_app_sends_plain_http_visitors_to_https(production_app: Flask) -> None:
    response = production_app.test_client().get("/?x=1", base_url="http://app.example.com")

    assert response.status_code == 308
    assert response.headers["Location"] == "https://app.example.com/?x=1"


# -- production never carries the simulator ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_simulator/auth/my-app?returnUrl=https://app.example.com/callback"),
        ("GET", "/_simulator/auth/my-app/spotify/auth?returnUrl=https://app.example.com/callback"),
        ("POST", "/_simulator/auth/my-app/spotify/auth"),
        ("GET", f"/_simulator/api/public/integrations/user/{USER_UUID}"),
        ("POST", "/_simulator/_control"),
        ("GET", "/_simulator/_control/calls"),
        ("POST", "/_simulator/_control/reset"),
    ],
)
def test_the_simulator_is_not_served_when_it_is_off(production_app: Flask, method: str, path: str) -> None:
    response = production_app.test_client().open(path, method=method, base_url="https://app.example.com")

    assert response.status_code == 404
    assert "simulator" not in production_app.blueprints


PROBE = """
import json, sys
from callback_app.app import create_app
app = create_app()
print(json.dumps({
    "simulator_modules": sorted(name for name in sys.modules if name.startswith("callback_app.simulator")),
    "blueprints": sorted(app.blueprints),
}))
"""


def probe_fresh_process(**variables: str) -> dict[str, list[str]]:
    result = run([sys.executable, "-c", PROBE], bare_environment(**variables))
    assert result.returncode == 0, result.stderr
    report: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_a_production_process_never_imports_the_simulator() -> None:
    report = probe_fresh_process(**PRODUCTION)

    assert report["simulator_modules"] == []
    assert "simulator" not in report["blueprints"]


def test_a_demo_process_does_import_the_simulator() -> None:
    report = probe_fresh_process(MUSICAPI_SIMULATOR="1")

    assert "callback_app.simulator" in report["simulator_modules"]
    assert "simulator" in report["blueprints"]

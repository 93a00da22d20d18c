"""Starting the app: one clear line for a bad deploy, a demo that needs nothing, production without the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from callback_app.app import create_app
from callback_app.context import EXTENSION, Parts
from callback_app.errors import ConfigError
from callback_app.settings import Settings
from tests.unit.helpers import USER_UUID

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SECRET = "production-secret-key-0123456789-abcdefghij"
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
    "ALLOWED_ORIGINS",
    "REDIS_URL",
    "REDIS_TLS_VERIFY",
    "APP_NAME",
    "PRIVACY_URL",
    "SUPPORT_URL",
    "DEVELOPER_PAGE",
)
PRODUCTION = {"SECRET_KEY": SECRET, "MUSICAPI_SLUG": "my-app", "PUBLIC_URL": "https://app.example.com"}
ERROR_PREFIX = "callback_app: configuration error:"


def bare_environment(**variables: str) -> dict[str, str]:
    """What a fresh dyno has before anyone configured the app: PATH (this venv first) and HOME."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(Path.home())),
        **variables,
    }


def procfile_web_command() -> str:
    """The web process exactly as the PaaS starts it, from the Procfile."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    [command] = [line.removeprefix("web:").strip() for line in lines if line.startswith("web:")]
    return command


def run(command: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False)


def output_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def assert_one_error_line(result: subprocess.CompletedProcess[str], named: tuple[str, ...]) -> None:
    """Exit 3, no traceback, and exactly one line: the configuration error naming each variable."""
    lines = output_lines(result)
    assert result.returncode == 3, lines
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith(ERROR_PREFIX)
    for name in named:
        assert name in lines[0]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- a bad deploy stops with one line ---------------------------------------------------------------------------

BAD_DEPLOYS = [
    pytest.param({}, ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"), id="nothing-configured"),
    pytest.param(
        {"SECRET_KEY": "short-secret-value", "PUBLIC_URL": "http://app.example.com"},
        ("SECRET_KEY", "PUBLIC_URL"),
        id="bad-values",
    ),
    pytest.param(
        {"MUSICAPI_SIMULATOR": "1", "DYNO": "web.1"},
        ("DYNO", "PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"),
        id="simulator-on-a-dyno",
    ),
    pytest.param({**PRODUCTION, "PORT": "http"}, ("PORT",), id="bad-port"),
    pytest.param({**PRODUCTION, "WEB_CONCURRENCY": "abc"}, ("WEB_CONCURRENCY",), id="bad-web-concurrency"),
    pytest.param({**PRODUCTION, "MUSICAPI_SERVICES": "spotfy"}, ("'spotify'",), id="service-typo"),
]


@pytest.mark.parametrize(("variables", "named"), BAD_DEPLOYS)
def test_the_procfile_refuses_a_bad_configuration_with_one_line(
    variables: dict[str, str], named: tuple[str, ...]
) -> None:
    result = run(["sh", "-c", procfile_web_command()], bare_environment(**variables))

    assert_one_error_line(result, named)
    assert "short-secret-value" not in result.stdout + result.stderr


@pytest.mark.parametrize(("variables", "named"), BAD_DEPLOYS[:2])
def test_gunicorn_started_by_hand_refuses_a_bad_configuration_with_one_line(
    variables: dict[str, str], named: tuple[str, ...]
) -> None:
    result = run(
        [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "callback_app.wsgi:app"],
        bare_environment(**variables),
    )

    assert_one_error_line(result, named)


def test_the_wsgi_module_refuses_a_bad_configuration_with_one_line() -> None:
    result = run([sys.executable, "-c", "import callback_app.wsgi"], bare_environment())

    assert_one_error_line(result, ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"))


def test_create_app_names_every_problem(clean_environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app()

    assert len(caught.value.problems) == 3


# -- the demo needs nothing -------------------------------------------------------------------------------------


def test_the_simulator_demo_starts_with_no_other_configuration(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("MUSICAPI_SIMULATOR", "1")

    app = create_app()
    client = app.test_client()
    demo = "http://127.0.0.1:5000"

    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready", "store": "cookies", "services": 14}
    assert client.get("/", base_url=demo).status_code == 200
    assert client.get("/developers", base_url=demo).status_code == 200
    chooser = client.get("/_simulator/auth/simulator", query_string={"returnUrl": f"{demo}/callback"}, base_url=demo)
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


@pytest.fixture(scope="module")
def production_app() -> Flask:
    return create_app(production_settings())


def test_create_app_uses_the_settings_it_is_given(production_app: Flask) -> None:
    parts: Parts = production_app.extensions[EXTENSION]

    assert parts.settings == production_settings()
    assert parts.jar.secure is True
    assert parts.logins.client.api_url == "https://api.musicapi.com"
    assert parts.refresher is None


def test_client_credentials_turn_refreshing_on() -> None:
    parts: Parts = create_app(production_settings(client_id="id", client_secret="secret")).extensions[EXTENSION]

    assert parts.refresher is not None


def test_a_production_app_answers_health_checks_and_its_landing_page(production_app: Flask) -> None:
    client = production_app.test_client()

    assert client.get("/healthz").status_code == 200
    assert client.get("/", base_url="https://app.example.com").status_code == 200


def test_a_production_app_sends_plain_http_visitors_to_https(production_app: Flask) -> None:
    response = production_app.test_client().get("/?x=1", base_url="http://app.example.com")

    assert response.status_code == 308
    assert response.headers["Location"] == "https://app.example.com/?x=1"


def test_a_production_app_sends_visitors_of_the_platforms_name_to_the_public_address(production_app: Flask) -> None:
    client = production_app.test_client()

    moved = client.get("/developers", base_url="https://myapp.herokuapp.com")
    refused = client.post("/logout", base_url="https://myapp.herokuapp.com")

    assert (moved.status_code, moved.headers["Location"]) == (308, "https://app.example.com/developers")
    assert refused.status_code == 421


def test_the_developers_page_is_off_in_production_unless_opted_in(production_app: Flask) -> None:
    opted_in = create_app(production_settings(developer_page=True))

    assert production_app.test_client().get("/developers", base_url="https://app.example.com").status_code == 404
    assert opted_in.test_client().get("/developers", base_url="https://app.example.com").status_code == 200


def test_an_app_name_is_every_pages_title(production_app: Flask) -> None:
    branded = create_app(production_settings(app_name="Acme <Music>"))

    page = branded.test_client().get("/", base_url="https://app.example.com").get_data(as_text=True)
    default = production_app.test_client().get("/", base_url="https://app.example.com").get_data(as_text=True)

    assert "· Acme &lt;Music&gt;</title>" in page
    assert "Acme <Music>" not in page
    assert "· Music Connect</title>" in default


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

"""The one-click deploy files agree with the app: app.json, Procfile and .python-version."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from callback_app.config import MIN_SECRET_LENGTH, Settings
from callback_app.errors import ConfigError
from tests.support.servers import ROOT

pytestmark = pytest.mark.deploy

# Variables the PaaS sets itself, never asked of the deployer.
PLATFORM_VARIABLES = {"PORT", "WEB_CONCURRENCY", "DYNO"}
# Development and rotation switches: documented in the README, not offered at deploy time.
NOT_FOR_A_FIRST_DEPLOY = {"MUSICAPI_SIMULATOR", "SECRET_KEY_FALLBACKS", "MUSICAPI_AUTH_URL", "MUSICAPI_API_URL"}


@pytest.fixture(scope="module")
def app_json() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return document


def variables_the_app_reads() -> set[str]:
    """Every environment variable config.py reads (it is the only module that does)."""
    source = (ROOT / "callback_app" / "config.py").read_text()
    return set(re.findall(r'(?:text|environ\.get)\("([A-Z_]+)"', source))


def test_app_json_generates_the_secret_and_requires_what_has_no_default(app_json: dict[str, Any]) -> None:
    env = app_json["env"]

    assert env["SECRET_KEY"]["generator"] == "secret"
    assert env["MUSICAPI_SLUG"]["required"] is True
    assert env["PUBLIC_URL"]["required"] is True
    assert "/callback" in env["PUBLIC_URL"]["description"]
    assert app_json["name"]
    assert app_json["description"]


def test_app_json_offers_exactly_the_variables_a_deployer_sets(app_json: dict[str, Any]) -> None:
    read = variables_the_app_reads()

    assert {"SECRET_KEY", "MUSICAPI_SLUG", "PUBLIC_URL", "MUSICAPI_CLIENT_SECRET"} <= read
    assert set(app_json["env"]) == read - PLATFORM_VARIABLES - NOT_FOR_A_FIRST_DEPLOY


def test_a_generated_secret_and_the_required_values_make_a_valid_configuration() -> None:
    # Heroku's "secret" generator makes 64 hex characters; the app asks for at least MIN_SECRET_LENGTH.
    environ = {"SECRET_KEY": "0f" * 32, "MUSICAPI_SLUG": "my-slug", "PUBLIC_URL": "https://my-app.herokuapp.com"}
    assert len(environ["SECRET_KEY"]) >= MIN_SECRET_LENGTH

    settings = Settings.from_environ(environ)

    assert (settings.public_url, settings.simulator, settings.can_refresh) == (environ["PUBLIC_URL"], False, False)
    with pytest.raises(ConfigError):
        Settings.from_environ({**environ, "DYNO": "web.1", "MUSICAPI_SIMULATOR": "1"})


def test_the_ci_test_script_runs_existing_suites_with_dev_requirements(app_json: dict[str, Any]) -> None:
    scripts = app_json["environments"]["test"]["scripts"]

    assert "requirements-dev.txt" in scripts["test-setup"]
    assert (ROOT / "requirements-dev.txt").is_file()
    paths = [word for word in shlex.split(scripts["test"]) if word.startswith("tests/")]
    assert paths
    assert all((ROOT / path).is_dir() for path in paths)


def test_procfile_runs_gunicorn_with_its_config_file_and_python_version_is_pinned() -> None:
    processes = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())

    assert set(processes) == {"web"}
    command = shlex.split(processes["web"])
    assert command[command.index("gunicorn") :] == [
        "gunicorn", "--config", "gunicorn.conf.py", "callback_app.wsgi:app",
    ]  # fmt: skip
    version = Path(ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'requires-python = ">={version}"' in pyproject

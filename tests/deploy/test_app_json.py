"""The one-click deploy files agree with the app: app.json against Settings, the Procfile, .python-version."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from callback_app.config import MIN_SECRET_LENGTH, read_server_settings, read_settings
from callback_app.errors import ConfigError
from tests.support.servers import ROOT

pytestmark = pytest.mark.deploy

# Variables the PaaS sets itself, never asked of the deployer.
PLATFORM_VARIABLES = {"PORT", "WEB_CONCURRENCY", "DYNO"}
# Development, rotation and fine-tuning switches: documented in the README, not offered at deploy time.
NOT_FOR_A_FIRST_DEPLOY = {
    "MUSICAPI_SIMULATOR",
    "SECRET_KEY_FALLBACKS",
    "MUSICAPI_AUTH_URL",
    "MUSICAPI_API_URL",
    "REDIS_TLS_VERIFY",
    "DEVELOPER_PAGE",
}
# A value a deployer might give each optional variable that app.json offers.
EXAMPLES = {
    "MUSICAPI_SERVICES": "spotify,tidal",
    "MUSICAPI_CLIENT_ID": "my-client-id",
    "MUSICAPI_CLIENT_SECRET": "my-client-secret",
    "ALLOWED_ORIGINS": "https://www.example.com",
    "REDIS_URL": "rediss://:password@ec2-3-91-12-7.compute-1.amazonaws.com:25160",
    "APP_NAME": "Listen Along",
    "PRIVACY_URL": "https://www.example.com/privacy",
    "SUPPORT_URL": "https://www.example.com/help",
}
CLIENT_CREDENTIALS = {"MUSICAPI_CLIENT_ID", "MUSICAPI_CLIENT_SECRET"}
# Heroku's "secret" generator makes 64 hex characters.
REQUIRED = {"SECRET_KEY": "0f" * 32, "MUSICAPI_SLUG": "my-slug", "PUBLIC_URL": "https://connect.example.com"}


class RecordingEnviron(dict[str, str]):
    """An environment that remembers every variable the configuration asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def variables_the_app_reads() -> set[str]:
    """Every variable the configuration reads, in production and in simulator mode (config.py alone reads them)."""
    asked: set[str] = set()
    for mode in ({}, {"MUSICAPI_SIMULATOR": "1", "DYNO": "web.1"}):
        environ = RecordingEnviron({**REQUIRED, **mode})
        # On a dyno the simulator is refused, after every variable has been read.
        with contextlib.suppress(ConfigError):
            read_server_settings(environ, cpu_count=2)
        asked |= environ.asked
    return asked


@pytest.fixture(scope="module")
def app_json() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return document


def with_example(name: str) -> dict[str, str]:
    """The required values plus the example for ``name`` (client credentials come as a pair: alone, either fails)."""
    names = CLIENT_CREDENTIALS if name in CLIENT_CREDENTIALS else {name}
    return {**REQUIRED, **{other: EXAMPLES[other] for other in names}}


def optional_variables(app_json: dict[str, Any]) -> set[str]:
    return {name for name, spec in app_json["env"].items() if "generator" not in spec and not spec.get("required")}


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

    assert {"SECRET_KEY", "MUSICAPI_SLUG", "PUBLIC_URL", "MUSICAPI_CLIENT_SECRET", "REDIS_URL", "APP_NAME"} <= read
    assert read >= NOT_FOR_A_FIRST_DEPLOY | PLATFORM_VARIABLES
    assert set(app_json["env"]) == read - PLATFORM_VARIABLES - NOT_FOR_A_FIRST_DEPLOY


def test_every_optional_variable_says_so_and_changes_the_settings(app_json: dict[str, Any]) -> None:
    optional = optional_variables(app_json)
    baseline = read_settings(REQUIRED)

    assert optional == set(EXAMPLES)
    for name in optional:
        spec = app_json["env"][name]
        assert spec["required"] is False, name
        assert spec["description"].startswith("Optional"), name
        assert read_settings(with_example(name)) != baseline, name


def test_redis_is_an_option_the_deployer_adds_not_an_add_on_every_deploy_pays_for(app_json: dict[str, Any]) -> None:
    add_ons = [add_on if isinstance(add_on, str) else add_on["plan"] for add_on in app_json.get("addons", [])]
    redis = app_json["env"]["REDIS_URL"]

    assert not any(add_on.startswith("heroku-redis") for add_on in add_ons)
    assert redis["required"] is False
    assert "heroku-redis" in redis["description"]
    # What the add-on sets: Heroku Key-Value Store's rediss:// URL with its self-signed certificate.
    settings = read_settings(with_example("REDIS_URL"))
    assert (settings.redis_url, settings.redis_tls_verify) == (EXAMPLES["REDIS_URL"], False)


def test_a_generated_secret_and_the_required_values_make_a_valid_configuration() -> None:
    assert len(REQUIRED["SECRET_KEY"]) >= MIN_SECRET_LENGTH

    settings = read_settings(REQUIRED)

    assert (settings.public_url, settings.simulator, settings.can_refresh) == (REQUIRED["PUBLIC_URL"], False, False)
    assert settings.redis_url is None
    with pytest.raises(ConfigError):
        read_settings({**REQUIRED, "DYNO": "web.1", "MUSICAPI_SIMULATOR": "1"})


def test_the_ci_test_script_runs_existing_suites_with_dev_requirements(app_json: dict[str, Any]) -> None:
    scripts = app_json["environments"]["test"]["scripts"]

    assert "requirements-dev.txt" in scripts["test-setup"]
    assert (ROOT / "requirements-dev.txt").is_file()
    paths = [word for word in shlex.split(scripts["test"]) if word.startswith("tests/")]
    assert paths
    assert all((ROOT / path).is_dir() for path in paths)


def test_procfile_checks_the_configuration_then_execs_gunicorn_and_python_version_is_pinned() -> None:
    processes = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())

    assert set(processes) == {"web"}
    # The check prints the app's one-line error; exec lets gunicorn receive the platform's SIGTERM itself.
    assert shlex.split(processes["web"]) == [
        "python", "-m", "callback_app.config", "&&",
        "exec", "gunicorn", "--config", "gunicorn.conf.py", "callback_app.wsgi:app",
    ]  # fmt: skip
    version = Path(ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'requires-python = ">={version}"' in pyproject

"""Configuration: the environment is read once, every problem is named at once, secrets never leak."""

from __future__ import annotations

import re
from typing import Any

import pytest

from callback_app.config import (
    DEFAULT_API_URL,
    DEFAULT_AUTH_URL,
    DEFAULT_PORT,
    DEFAULT_SERVICES,
    ServerSettings,
    Settings,
    is_loopback_url,
)
from callback_app.errors import ConfigError

SECRET = "production-secret-key-0123456789-abcdefghij"
OLD_SECRET = "previous-secret-key-0123456789-abcdefghijkl"
CLIENT_SECRET = "client-secret-that-must-never-be-shown"
LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
LOGFMT_LINE = re.compile(r'\w+=(?:"(?:[^"\\]|\\.)*"|[^\s"]+)(?: \w+=(?:"(?:[^"\\]|\\.)*"|[^\s"]+))*')
PRODUCTION = {"SECRET_KEY": SECRET, "MUSICAPI_SLUG": "my-app", "PUBLIC_URL": "https://app.example.com"}


def settings(**overrides: str) -> Settings:
    return Settings.from_environ({**PRODUCTION, **overrides})


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ(environ)
    return caught.value.problems


def problems_with(**overrides: str) -> list[str]:
    return problems({**PRODUCTION, **overrides})


# -- a complete production environment --------------------------------------------------------------------------


def test_a_complete_production_environment_gets_the_documented_defaults() -> None:
    result = settings()

    assert result.secret_key == SECRET
    assert result.secret_key_fallbacks == ()
    assert result.musicapi_slug == "my-app"
    assert result.public_url == "https://app.example.com"
    assert result.musicapi_auth_url == DEFAULT_AUTH_URL == "https://app.musicapi.com"
    assert result.musicapi_api_url == DEFAULT_API_URL == "https://api.musicapi.com"
    assert result.services == DEFAULT_SERVICES
    assert result.client_id is None
    assert result.client_secret is None
    assert result.simulator is False
    assert result.port == DEFAULT_PORT == 5000
    assert result.is_https
    assert not result.can_refresh
    assert result.secret_keys == (SECRET,)


def test_the_default_services_are_the_ones_musicapi_documents() -> None:
    assert DEFAULT_SERVICES == (
        "spotify", "appleMusic", "youtube", "youtubeMusic", "deezer", "tidal", "amazonMusic",
        "soundcloud", "pandora", "napster", "qobuz", "boomplay", "anghami", "yandex",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "attribute", "expected"),
    [
        ({"PUBLIC_URL": "https://app.example.com/"}, "public_url", "https://app.example.com"),
        ({"PUBLIC_URL": "https://app.example.com:8443"}, "public_url", "https://app.example.com:8443"),
        ({"PUBLIC_URL": "  https://app.example.com  "}, "public_url", "https://app.example.com"),
        ({"PUBLIC_URL": "http://localhost:5000"}, "public_url", "http://localhost:5000"),
        ({"PUBLIC_URL": "http://127.0.0.1:8000"}, "public_url", "http://127.0.0.1:8000"),
        ({"PUBLIC_URL": "http://[::1]:8000"}, "public_url", "http://[::1]:8000"),
        ({"SECRET_KEY_FALLBACKS": OLD_SECRET}, "secret_key_fallbacks", (OLD_SECRET,)),
        (
            {"SECRET_KEY_FALLBACKS": f" {OLD_SECRET} , {SECRET[::-1]} ,"},
            "secret_key_fallbacks",
            (OLD_SECRET, SECRET[::-1]),
        ),
        ({"SECRET_KEY_FALLBACKS": ""}, "secret_key_fallbacks", ()),
        ({"MUSICAPI_SLUG": "A_slug-9"}, "musicapi_slug", "A_slug-9"),
        ({"MUSICAPI_AUTH_URL": "https://auth.example.com/"}, "musicapi_auth_url", "https://auth.example.com"),
        ({"MUSICAPI_AUTH_URL": "https://auth.example.com/base"}, "musicapi_auth_url", "https://auth.example.com/base"),
        ({"MUSICAPI_API_URL": "http://127.0.0.1:9000/api"}, "musicapi_api_url", "http://127.0.0.1:9000/api"),
        ({"MUSICAPI_SERVICES": "spotify"}, "services", ("spotify",)),
        ({"MUSICAPI_SERVICES": " tidal , spotify ,, "}, "services", ("tidal", "spotify")),
        ({"MUSICAPI_SERVICES": "spotify,spotify,deezer"}, "services", ("spotify", "deezer")),
        ({"MUSICAPI_SERVICES": "newService2"}, "services", ("newService2",)),
        ({"MUSICAPI_CLIENT_ID": "id", "MUSICAPI_CLIENT_SECRET": CLIENT_SECRET}, "can_refresh", True),
        ({"MUSICAPI_CLIENT_ID": "", "MUSICAPI_CLIENT_SECRET": "  "}, "can_refresh", False),
        ({"MUSICAPI_SIMULATOR": ""}, "simulator", False),
        ({"MUSICAPI_SIMULATOR": "0"}, "simulator", False),
        ({"PORT": "8080"}, "port", 8080),
        ({"PORT": "1"}, "port", 1),
        ({"PORT": "65535"}, "port", 65535),
        ({"PORT": ""}, "port", 5000),
    ],
)
def test_good_values_are_read(overrides: dict[str, str], attribute: str, expected: Any) -> None:
    assert getattr(settings(**overrides), attribute) == expected


def test_an_http_public_url_on_this_machine_means_no_secure_cookies() -> None:
    assert not settings(PUBLIC_URL="http://localhost:5000").is_https


def test_fallback_keys_come_after_the_current_key() -> None:
    assert settings(SECRET_KEY_FALLBACKS=OLD_SECRET).secret_keys == (SECRET, OLD_SECRET)


# -- missing and bad values -------------------------------------------------------------------------------------


def test_an_empty_environment_names_every_missing_variable_at_once() -> None:
    found = problems({})

    assert len(found) == 3
    message = str(ConfigError(found))
    for name in ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"):
        assert name in message


@pytest.mark.parametrize("name", ["SECRET_KEY", "MUSICAPI_SLUG", "PUBLIC_URL"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_each_required_variable_is_required(name: str, value: str | None) -> None:
    environ = dict(PRODUCTION)
    if value is None:
        del environ[name]
    else:
        environ[name] = value

    [problem] = problems(environ)
    assert problem.startswith(name)
    assert "missing" in problem


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SECRET_KEY": "x" * 31}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY_FALLBACKS": "too-short"}, "SECRET_KEY_FALLBACKS"),
        ({"SECRET_KEY_FALLBACKS": f"{OLD_SECRET},short"}, "SECRET_KEY_FALLBACKS"),
        ({"MUSICAPI_SLUG": "my slug"}, "MUSICAPI_SLUG"),
        ({"MUSICAPI_SLUG": "../admin"}, "MUSICAPI_SLUG"),
        ({"MUSICAPI_SLUG": "slug?x=1"}, "MUSICAPI_SLUG"),
        ({"MUSICAPI_SLUG": "-leading-dash"}, "MUSICAPI_SLUG"),
        ({"MUSICAPI_SLUG": "a" * 65}, "MUSICAPI_SLUG"),
        ({"MUSICAPI_SLUG": "zoë"}, "MUSICAPI_SLUG"),
        ({"PUBLIC_URL": "http://app.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "http://10.0.0.5:5000"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "http://localhost.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://app.example.com/app"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://app.example.com/callback/"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://app.example.com?x=1"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://app.example.com#top"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://user@app.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "app.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "/relative"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "//app.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "ftp://app.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://"}, "PUBLIC_URL"),
        ({"MUSICAPI_AUTH_URL": "http://app.musicapi.com"}, "MUSICAPI_AUTH_URL"),
        ({"MUSICAPI_AUTH_URL": "app.musicapi.com"}, "MUSICAPI_AUTH_URL"),
        ({"MUSICAPI_AUTH_URL": "https://app.musicapi.com?x=1"}, "MUSICAPI_AUTH_URL"),
        ({"MUSICAPI_AUTH_URL": "https://app.musicapi.com#x"}, "MUSICAPI_AUTH_URL"),
        ({"MUSICAPI_API_URL": "http://api.musicapi.com"}, "MUSICAPI_API_URL"),
        ({"MUSICAPI_API_URL": "javascript:alert(1)"}, "MUSICAPI_API_URL"),
        ({"MUSICAPI_API_URL": "https://"}, "MUSICAPI_API_URL"),
        ({"MUSICAPI_SERVICES": ","}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": " , , "}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "spotify,apple music"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "spotify;tidal"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "../etc"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "9lives"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_CLIENT_ID": "id"}, "MUSICAPI_CLIENT_ID"),
        ({"MUSICAPI_CLIENT_SECRET": CLIENT_SECRET}, "MUSICAPI_CLIENT_SECRET"),
        ({"MUSICAPI_CLIENT_ID": "id:x", "MUSICAPI_CLIENT_SECRET": CLIENT_SECRET}, "MUSICAPI_CLIENT_ID"),
        ({"MUSICAPI_SIMULATOR": "yes"}, "MUSICAPI_SIMULATOR"),
        ({"MUSICAPI_SIMULATOR": "true"}, "MUSICAPI_SIMULATOR"),
        ({"MUSICAPI_SIMULATOR": "2"}, "MUSICAPI_SIMULATOR"),
        ({"PORT": "0"}, "PORT"),
        ({"PORT": "65536"}, "PORT"),
        ({"PORT": "-1"}, "PORT"),
        ({"PORT": "80.5"}, "PORT"),
        ({"PORT": "http"}, "PORT"),
    ],
)
def test_a_bad_value_is_named(overrides: dict[str, str], named: str) -> None:
    [problem] = problems_with(**overrides)

    assert named in problem


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        pytest.param(
            {"PUBLIC_URL": "https://[::1"},
            "PUBLIC_URL",
        ),
        pytest.param(
            {"MUSICAPI_API_URL": "https://[api.musicapi.com"},
            "MUSICAPI_API_URL",
        ),
        pytest.param(
            {"PUBLIC_URL": "https://app.example.com:abc"},
            "PUBLIC_URL",
        ),
        pytest.param(
            {"PUBLIC_URL": "https://app.example.com:99999"},
            "PUBLIC_URL",
        ),
        pytest.param(
            {"PORT": "²"},
            "PORT",
        ),
    ],
)
def test_an_unparsable_value_is_named_not_a_crash(overrides: dict[str, str], named: str) -> None:
    try:
        found = problems_with(**overrides)
    except ValueError as crash:
        pytest.fail(f"crashed instead of naming {named}: {crash!r}")
    assert any(named in problem for problem in found)


def test_every_bad_variable_is_named_in_one_error() -> None:
    environ = {
        "SECRET_KEY": "short",
        "SECRET_KEY_FALLBACKS": "also-short",
        "MUSICAPI_SLUG": "bad slug",
        "PUBLIC_URL": "http://app.example.com",
        "MUSICAPI_AUTH_URL": "http://auth.example.com",
        "MUSICAPI_API_URL": "nope",
        "MUSICAPI_SERVICES": ",",
        "MUSICAPI_CLIENT_ID": "only-the-id",
        "PORT": "99999",
    }

    with pytest.raises(ConfigError) as caught:
        Settings.from_environ(environ)

    message = str(caught.value)
    assert "\n" not in message
    assert len(caught.value.problems) == 9
    for name in environ:
        assert name in message, name


def test_a_bad_value_never_appears_in_the_error_when_it_may_be_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({**PRODUCTION, "SECRET_KEY": "short-but-secret", "MUSICAPI_CLIENT_SECRET": CLIENT_SECRET})

    assert "short-but-secret" not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


def test_none_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MUSICAPI_SLUG", "from-os-environ")

    assert Settings.from_environ().musicapi_slug == "from-os-environ"


# -- the simulator ----------------------------------------------------------------------------------------------


def test_the_simulator_needs_nothing_else() -> None:
    result = Settings.from_environ({"MUSICAPI_SIMULATOR": "1"})

    assert result.simulator
    assert result.public_url == "http://127.0.0.1:5000"
    assert result.musicapi_slug == "simulator"
    assert len(result.secret_key) >= 32
    assert result.musicapi_auth_url == "http://127.0.0.1:5000/_simulator/auth"
    assert result.musicapi_api_url == "http://127.0.0.1:5000/_simulator/api"
    assert not result.is_https


def test_the_simulator_follows_port_and_a_local_public_url() -> None:
    on_port = Settings.from_environ({"MUSICAPI_SIMULATOR": "1", "PORT": "8123"})
    on_localhost = Settings.from_environ({"MUSICAPI_SIMULATOR": "1", "PUBLIC_URL": "http://localhost:9000"})

    assert on_port.public_url == "http://127.0.0.1:8123"
    assert on_port.port == 8123
    assert on_localhost.musicapi_api_url == "http://localhost:9000/_simulator/api"


def test_the_simulator_makes_a_fresh_secret_key_per_process() -> None:
    first = Settings.from_environ({"MUSICAPI_SIMULATOR": "1"})
    second = Settings.from_environ({"MUSICAPI_SIMULATOR": "1"})

    assert first.secret_key != second.secret_key


def test_the_simulator_keeps_explicit_values() -> None:
    result = Settings.from_environ({"MUSICAPI_SIMULATOR": "1", **PRODUCTION, "PUBLIC_URL": "http://127.0.0.1:7000"})

    assert result.secret_key == SECRET
    assert result.musicapi_slug == "my-app"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MUSICAPI_SIMULATOR": "1", "DYNO": "web.1"}, "DYNO"),
        ({"MUSICAPI_SIMULATOR": "1", "PUBLIC_URL": "https://app.example.com"}, "MUSICAPI_SIMULATOR"),
        ({"MUSICAPI_SIMULATOR": "1", "PUBLIC_URL": "https://192.168.1.10"}, "MUSICAPI_SIMULATOR"),
        ({"MUSICAPI_SIMULATOR": "1", "SECRET_KEY": "short"}, "SECRET_KEY"),
    ],
)
def test_the_simulator_is_refused_where_it_could_pass_for_production(environ: dict[str, str], named: str) -> None:
    assert any(named in problem for problem in problems(environ))


def test_a_refused_simulator_does_not_excuse_missing_production_settings() -> None:
    found = problems({"MUSICAPI_SIMULATOR": "1", "DYNO": "web.1"})
    message = "; ".join(found)

    for name in ("DYNO", "PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"):
        assert name in message


@pytest.mark.parametrize("value", ["0", "", "  "])
def test_a_simulator_flag_that_is_off_still_needs_production_settings(value: str) -> None:
    assert len(problems({"MUSICAPI_SIMULATOR": value})) == 3


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:5000", True),
        ("http://127.0.0.1", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:80", True),
        ("https://app.example.com", False),
        ("http://localhost.example.com", False),
        ("http://0.0.0.0", False),
        ("http://10.0.0.1", False),
        ("not a url", False),
    ],
)
def test_is_loopback_url(url: str, expected: bool) -> None:
    assert is_loopback_url(url) is expected


# -- describe() and repr never show secrets ---------------------------------------------------------------------


def full_settings() -> Settings:
    return settings(
        SECRET_KEY_FALLBACKS=OLD_SECRET, MUSICAPI_CLIENT_ID="client-id", MUSICAPI_CLIENT_SECRET=CLIENT_SECRET
    )


@pytest.mark.parametrize("render", [Settings.describe, repr, str], ids=["describe", "repr", "str"])
def test_secrets_are_masked(render: Any) -> None:
    text = render(full_settings())

    assert SECRET not in text
    assert OLD_SECRET not in text
    assert CLIENT_SECRET not in text
    for fragment in (SECRET[:12], OLD_SECRET[:12], CLIENT_SECRET[:12]):
        assert fragment not in text


def test_describe_is_one_logfmt_line_of_the_effective_configuration() -> None:
    text = full_settings().describe()
    fields = dict(LOGFMT_PAIR.findall(text))

    assert "\n" not in text
    assert fields["public_url"] == "https://app.example.com"
    assert fields["musicapi_slug"] == "my-app"
    assert fields["secret_key"].startswith("***")
    assert fields["secret_key_fallbacks"] == "1"
    assert fields["client_id"] == "client-id"
    assert fields["client_secret"].startswith("***")
    assert fields["simulator"] == "off"


def test_describe_is_valid_logfmt() -> None:
    text = full_settings().describe()

    assert LOGFMT_LINE.fullmatch(text), text


def test_describe_says_unset_for_missing_client_credentials() -> None:
    text = settings().describe()

    assert "client_id=unset" in text
    assert "client_secret=unset" in text


# -- ServerSettings: what gunicorn reads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "cpu_count", "expected_workers"),
    [
        ({}, 1, 1),
        ({}, 4, 4),
        ({}, 0, 1),
        ({"WEB_CONCURRENCY": "3"}, 8, 3),
        ({"WEB_CONCURRENCY": " 2 "}, 8, 2),
        ({"WEB_CONCURRENCY": "64"}, 1, 64),
        ({"WEB_CONCURRENCY": ""}, 2, 2),
    ],
)
def test_web_concurrency_defaults_to_the_cpu_count(
    overrides: dict[str, str], cpu_count: int, expected_workers: int
) -> None:
    server = ServerSettings.from_environ({**PRODUCTION, **overrides}, cpu_count=cpu_count)

    assert server.workers == expected_workers
    assert server.port == 5000


@pytest.mark.parametrize("web_concurrency", [None, "4"])
def test_the_simulator_runs_one_worker(web_concurrency: str | None) -> None:
    environ = {"MUSICAPI_SIMULATOR": "1", "PORT": "7001"}
    if web_concurrency:
        environ["WEB_CONCURRENCY"] = web_concurrency

    server = ServerSettings.from_environ(environ, cpu_count=8)

    assert server.workers == 1
    assert server.port == 7001


@pytest.mark.parametrize("value", ["0", "65", "-1", "two", "1.5"])
def test_a_bad_web_concurrency_is_named(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServerSettings.from_environ({**PRODUCTION, "WEB_CONCURRENCY": value}, cpu_count=2)

    assert "WEB_CONCURRENCY" in str(caught.value)


def test_server_settings_validate_the_app_configuration_too() -> None:
    with pytest.raises(ConfigError) as caught:
        ServerSettings.from_environ({}, cpu_count=2)

    assert {"PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"} <= {problem.split()[0] for problem in caught.value.problems}


def test_server_settings_name_web_concurrency_with_the_other_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        ServerSettings.from_environ({"WEB_CONCURRENCY": "many"}, cpu_count=2)

    message = str(caught.value)
    for name in ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG", "WEB_CONCURRENCY"):
        assert name in message


def test_a_superscript_web_concurrency_is_named_not_a_crash() -> None:
    with pytest.raises(ConfigError):
        ServerSettings.from_environ({**PRODUCTION, "WEB_CONCURRENCY": "²"}, cpu_count=2)


def test_a_dyno_listens_on_every_interface() -> None:
    assert ServerSettings.from_environ(PRODUCTION).host == "0.0.0.0"  # noqa: S104


def test_the_simulator_demo_answers_this_machine_only() -> None:
    assert ServerSettings.from_environ({"MUSICAPI_SIMULATOR": "1"}).host == "127.0.0.1"

"""Configuration: the environment is read once, every problem is named at once, secrets never leak."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callback_app.config import read_server_settings, read_settings
from callback_app.errors import ConfigError
from callback_app.logs import logfmt
from callback_app.musicapi.protocol import KNOWN_SERVICES
from callback_app.settings import DEFAULT_API_URL, DEFAULT_AUTH_URL, DEFAULT_PORT, Settings
from tests.support.processes import parse_logfmt

ROOT = Path(__file__).resolve().parents[2]
SECRET = "production-secret-key-0123456789-abcdefghij"
OLD_SECRET = "previous-secret-key-0123456789-abcdefghijkl"
CLIENT_SECRET = "client-secret-that-must-never-be-shown"
REDIS_PASSWORD = "p4ssw0rd-of-the-redis-server"
HEROKU_REDIS = f"rediss://:{REDIS_PASSWORD}@ec2-1-2-3-4.compute-1.amazonaws.com:6379"
PRODUCTION = {"SECRET_KEY": SECRET, "MUSICAPI_SLUG": "my-app", "PUBLIC_URL": "https://app.example.com"}
ERROR_PREFIX = "callback_app: configuration error:"


def environ_id(value: object) -> str | None:
    """Test ids that say which variables a case sets."""
    return ",".join(f"{name}={text[:40]}" for name, text in value.items()) if isinstance(value, dict) else None


def settings(**overrides: str) -> Settings:
    return read_settings({**PRODUCTION, **overrides})


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_settings(environ)
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
    assert result.services == KNOWN_SERVICES
    assert result.client_id is None
    assert result.client_secret is None
    assert result.simulator is False
    assert result.port == DEFAULT_PORT == 5000
    assert result.allowed_origins == ()
    assert result.redis_url is None
    assert result.app_name is None
    assert result.privacy_url is None
    assert result.support_url is None
    assert result.developer_page is False
    assert result.is_https
    assert not result.can_refresh
    assert result.keys_oldest_first == (SECRET,)


def test_the_default_services_are_the_ones_musicapi_documents() -> None:
    assert KNOWN_SERVICES == (
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
        ({"MUSICAPI_SERVICES": ""}, "services", KNOWN_SERVICES),
        ({"MUSICAPI_CLIENT_ID": "id", "MUSICAPI_CLIENT_SECRET": CLIENT_SECRET}, "can_refresh", True),
        ({"MUSICAPI_CLIENT_ID": "", "MUSICAPI_CLIENT_SECRET": "  "}, "can_refresh", False),
        ({"MUSICAPI_SIMULATOR": ""}, "simulator", False),
        ({"MUSICAPI_SIMULATOR": "0"}, "simulator", False),
        ({"PORT": "8080"}, "port", 8080),
        ({"PORT": "1"}, "port", 1),
        ({"PORT": "65535"}, "port", 65535),
        ({"PORT": ""}, "port", 5000),
        ({"ALLOWED_ORIGINS": "https://www.example.com"}, "allowed_origins", ("https://www.example.com",)),
        ({"ALLOWED_ORIGINS": "https://www.example.com/"}, "allowed_origins", ("https://www.example.com",)),
        ({"ALLOWED_ORIGINS": "HTTPS://WWW.Example.COM"}, "allowed_origins", ("https://www.example.com",)),
        ({"ALLOWED_ORIGINS": "https://www.example.com:443"}, "allowed_origins", ("https://www.example.com",)),
        ({"ALLOWED_ORIGINS": "https://www.example.com:8443"}, "allowed_origins", ("https://www.example.com:8443",)),
        ({"ALLOWED_ORIGINS": "http://localhost:8000"}, "allowed_origins", ("http://localhost:8000",)),
        ({"ALLOWED_ORIGINS": "http://127.0.0.1:80"}, "allowed_origins", ("http://127.0.0.1",)),
        ({"ALLOWED_ORIGINS": "http://[::1]:3000"}, "allowed_origins", ("http://[::1]:3000",)),
        (
            {"ALLOWED_ORIGINS": " https://a.example.com , https://b.example.com ,, https://A.example.com/ "},
            "allowed_origins",
            ("https://a.example.com", "https://b.example.com"),
        ),
        ({"ALLOWED_ORIGINS": ""}, "allowed_origins", ()),
        ({"REDIS_URL": "redis://localhost:6379/0"}, "redis_url", "redis://localhost:6379/0"),
        ({"REDIS_URL": HEROKU_REDIS}, "redis_url", HEROKU_REDIS),
        ({"REDIS_URL": ""}, "redis_url", None),
        ({"APP_NAME": "Acme Music"}, "app_name", "Acme Music"),
        ({"APP_NAME": "Zoë's <Music> & Co"}, "app_name", "Zoë's <Music> & Co"),
        ({"APP_NAME": "x" * 60}, "app_name", "x" * 60),
        ({"APP_NAME": "  "}, "app_name", None),
        ({"PRIVACY_URL": "https://example.com/privacy"}, "privacy_url", "https://example.com/privacy"),
        ({"PRIVACY_URL": "https://example.com/privacy?lang=en"}, "privacy_url", "https://example.com/privacy?lang=en"),
        ({"PRIVACY_URL": "http://localhost:8000/privacy"}, "privacy_url", "http://localhost:8000/privacy"),
        ({"SUPPORT_URL": "https://example.com/help/"}, "support_url", "https://example.com/help"),
        ({"SUPPORT_URL": "http://127.0.0.1/help"}, "support_url", "http://127.0.0.1/help"),
        ({"DEVELOPER_PAGE": "1"}, "developer_page", True),
        ({"DEVELOPER_PAGE": "0"}, "developer_page", False),
        ({"DEVELOPER_PAGE": ""}, "developer_page", False),
    ],
    ids=environ_id,
)
def test_good_values_are_read(overrides: dict[str, str], attribute: str, expected: Any) -> None:
    assert getattr(settings(**overrides), attribute) == expected


def test_an_http_public_url_on_this_machine_means_no_secure_cookies() -> None:
    assert not settings(PUBLIC_URL="http://localhost:5000").is_https


def test_fallback_keys_come_before_the_current_key_which_signs() -> None:
    assert settings(SECRET_KEY_FALLBACKS=OLD_SECRET).keys_oldest_first == (OLD_SECRET, SECRET)


@pytest.mark.parametrize(
    ("public_url", "origin", "host"),
    [
        ("https://App.Example.com", "https://app.example.com", "app.example.com"),
        ("https://app.example.com:443", "https://app.example.com", "app.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443", "app.example.com:8443"),
        ("http://127.0.0.1:80", "http://127.0.0.1", "127.0.0.1"),
        ("http://localhost:5000", "http://localhost:5000", "localhost:5000"),
        ("http://[::1]:8000", "http://[::1]:8000", "[::1]:8000"),
    ],
)
def test_the_public_url_is_known_as_browsers_write_its_origin_and_host(public_url: str, origin: str, host: str) -> None:
    result = settings(PUBLIC_URL=public_url)

    assert result.public_origin == origin
    assert result.public_host == host


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
        ({"MUSICAPI_API_URL": "https://api.musicapi.com?x=1"}, "MUSICAPI_API_URL"),
        ({"MUSICAPI_SERVICES": ","}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": " , , "}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "spotify,apple music"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "spotify;tidal"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "../etc"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "9lives"}, "MUSICAPI_SERVICES"),
        ({"MUSICAPI_SERVICES": "newService2"}, "MUSICAPI_SERVICES"),
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
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL"),
        ({"REDIS_URL": "unix:///tmp/redis.sock"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://h:99999"}, "REDIS_URL"),
        ({"REDIS_TLS_VERIFY": "yes"}, "REDIS_TLS_VERIFY"),
        ({"REDIS_TLS_VERIFY": "true"}, "REDIS_TLS_VERIFY"),
        ({"APP_NAME": "x" * 61}, "APP_NAME"),
        ({"APP_NAME": "Acme\nMusic"}, "APP_NAME"),
        ({"APP_NAME": "Acme\x1b[31mMusic"}, "APP_NAME"),
        ({"APP_NAME": "Acme\u200bMusic"}, "APP_NAME"),
        ({"PRIVACY_URL": "http://example.com/privacy"}, "PRIVACY_URL"),
        ({"PRIVACY_URL": "example.com/privacy"}, "PRIVACY_URL"),
        ({"PRIVACY_URL": "javascript:alert(1)"}, "PRIVACY_URL"),
        ({"PRIVACY_URL": "https://user:pw@example.com/privacy"}, "PRIVACY_URL"),
        ({"SUPPORT_URL": "http://10.0.0.1/help"}, "SUPPORT_URL"),
        ({"SUPPORT_URL": "mailto:help@example.com"}, "SUPPORT_URL"),
        ({"DEVELOPER_PAGE": "yes"}, "DEVELOPER_PAGE"),
        ({"DEVELOPER_PAGE": "on"}, "DEVELOPER_PAGE"),
    ],
    ids=environ_id,
)
def test_a_bad_value_is_named(overrides: dict[str, str], named: str) -> None:
    [problem] = problems_with(**overrides)

    assert named in problem


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "null",
        "https://www.example.com/path",
        "https://www.example.com/?x=1",
        "https://www.example.com?x=1",
        "https://www.example.com#top",
        "www.example.com",
        "//www.example.com",
        "ftp://www.example.com",
        "https://",
        "https://[::1",
        "https://www.example.com:99999",
        "http://www.example.com",
        "http://10.0.0.1:8000",
        "http://localhost.example.com",
    ],
)
def test_an_allowed_origin_that_is_not_an_https_origin_is_refused_and_named(value: str) -> None:
    [problem] = problems_with(ALLOWED_ORIGINS=f"https://good.example.com,{value}")

    assert problem.startswith("ALLOWED_ORIGINS")
    assert repr(value) in problem


@pytest.mark.parametrize("value", ["https://user@www.example.com", "https://user:pass@www.example.com"])
def test_an_allowed_origin_with_a_user_or_password_is_refused_without_showing_it(value: str) -> None:
    [problem] = problems_with(ALLOWED_ORIGINS=f"https://good.example.com,{value}")

    assert problem.startswith("ALLOWED_ORIGINS has an entry with a user name or password")
    assert value not in problem


def test_every_bad_allowed_origin_is_named() -> None:
    found = problems_with(ALLOWED_ORIGINS="*, null, https://a.example.com/path")

    assert len(found) == 3
    assert all(problem.startswith("ALLOWED_ORIGINS") for problem in found)


@pytest.mark.parametrize(
    "value",
    [
        f"http://:{REDIS_PASSWORD}@redis.example.com:6379",
        f"redis://:{REDIS_PASSWORD}@redis.example.com:notaport",
        f"redis://:{REDIS_PASSWORD}@:6379",
        f"{REDIS_PASSWORD}",
    ],
)
def test_a_bad_redis_url_is_named_without_its_password(value: str) -> None:
    [problem] = problems_with(REDIS_URL=value)

    assert problem.startswith("REDIS_URL")
    assert REDIS_PASSWORD not in problem
    assert REDIS_PASSWORD[:8] not in problem


@pytest.mark.parametrize(
    ("redis_url", "verify"),
    [
        (HEROKU_REDIS, False),
        ("rediss://:pw@ec2-54-210-33-7.compute-1.amazonaws.com:25570", False),
        ("redis://:pw@ec2-1-2-3-4.compute-1.amazonaws.com:6379", True),
        ("rediss://:pw@redis.example.com:6380", True),
        ("rediss://:pw@ec2-1-2-3-4.compute-1.amazonaws.com.evil.example:6379", True),
        ("rediss://:pw@master.my-cache.abc123.use1.cache.amazonaws.com:6379", True),
        ("redis://localhost:6379", True),
    ],
)
def test_tls_verification_is_off_by_default_only_for_heroku_key_value_store(redis_url: str, verify: bool) -> None:
    assert settings(REDIS_URL=redis_url).redis_tls_verify is verify


@pytest.mark.parametrize(
    ("redis_url", "flag", "verify"),
    [
        (HEROKU_REDIS, "1", True),
        (HEROKU_REDIS, "0", False),
        ("rediss://:pw@redis.example.com:6380", "0", False),
        ("rediss://:pw@redis.example.com:6380", "1", True),
    ],
)
def test_redis_tls_verify_overrides_the_default(redis_url: str, flag: str, verify: bool) -> None:
    assert settings(REDIS_URL=redis_url, REDIS_TLS_VERIFY=flag).redis_tls_verify is verify


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("spotfy", "'spotify'"),
        ("applemusic", "'appleMusic'"),
        ("Spotify", "'spotify'"),
        ("youtube_music", "'youtubeMusic'"),
        ("tydal", "'tidal'"),
    ],
)
def test_an_unknown_service_type_gets_a_did_you_mean(value: str, suggestion: str) -> None:
    [problem] = problems_with(MUSICAPI_SERVICES=f"deezer,{value}")

    assert problem.startswith("MUSICAPI_SERVICES")
    assert repr(value) in problem
    assert f"did you mean {suggestion}?" in problem


@pytest.mark.parametrize("value", ["zzzz", "9lives", "../etc"])
def test_nothing_is_suggested_when_nothing_is_close(value: str) -> None:
    [problem] = problems_with(MUSICAPI_SERVICES=value)

    assert repr(value) in problem
    assert "did you mean" not in problem


def test_each_unknown_service_type_is_named() -> None:
    found = problems_with(MUSICAPI_SERVICES="spotfy,applemusic,zzzz,tidal")

    assert len(found) == 3
    assert ["'spotify'" in found[0], "'appleMusic'" in found[1], "did you mean" in found[2]] == [True, True, False]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"PUBLIC_URL": "https://[::1"}, "PUBLIC_URL"),
        ({"MUSICAPI_API_URL": "https://[api.musicapi.com"}, "MUSICAPI_API_URL"),
        ({"PUBLIC_URL": "https://app.example.com:abc"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://app.example.com:99999"}, "PUBLIC_URL"),
        ({"PORT": "²"}, "PORT"),
        ({"REDIS_URL": "redis://[::1"}, "REDIS_URL"),
        ({"SUPPORT_URL": "https://[help"}, "SUPPORT_URL"),
    ],
    ids=environ_id,
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
        "MUSICAPI_SERVICES": "spotfy",
        "MUSICAPI_CLIENT_ID": "only-the-id",
        "MUSICAPI_SIMULATOR": "yes",
        "PORT": "99999",
        "ALLOWED_ORIGINS": "*",
        "REDIS_URL": "http://redis",
        "REDIS_TLS_VERIFY": "maybe",
        "APP_NAME": "x" * 61,
        "PRIVACY_URL": "http://example.com/privacy",
        "SUPPORT_URL": "ftp://example.com/help",
        "DEVELOPER_PAGE": "yes",
    }

    with pytest.raises(ConfigError) as caught:
        read_settings(environ)

    message = str(caught.value)
    assert "\n" not in message
    assert len(caught.value.problems) == len(environ)
    for name in environ:
        assert name in message, name


def test_a_bad_value_never_appears_in_the_error_when_it_may_be_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        read_settings({**PRODUCTION, "SECRET_KEY": "short-but-secret", "MUSICAPI_CLIENT_SECRET": CLIENT_SECRET})

    assert "short-but-secret" not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


def test_none_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MUSICAPI_SLUG", "from-os-environ")

    assert read_settings().musicapi_slug == "from-os-environ"


# -- the simulator ----------------------------------------------------------------------------------------------


def test_the_simulator_needs_nothing_else() -> None:
    result = read_settings({"MUSICAPI_SIMULATOR": "1"})

    assert result.simulator
    assert result.public_url == "http://127.0.0.1:5000"
    assert result.musicapi_slug == "simulator"
    assert len(result.secret_key) >= 32
    assert result.musicapi_auth_url == "http://127.0.0.1:5000/_simulator/auth"
    assert result.musicapi_api_url == "http://127.0.0.1:5000/_simulator/api"
    assert not result.is_https


@pytest.mark.parametrize(("flag", "shown"), [(None, True), ("1", True), ("0", False)])
def test_the_developer_page_is_on_with_the_simulator_unless_turned_off(flag: str | None, shown: bool) -> None:
    environ = {"MUSICAPI_SIMULATOR": "1"}
    if flag is not None:
        environ["DEVELOPER_PAGE"] = flag

    assert read_settings(environ).developer_page is shown


def test_the_simulator_follows_port_and_a_local_public_url() -> None:
    on_port = read_settings({"MUSICAPI_SIMULATOR": "1", "PORT": "8123"})
    on_localhost = read_settings({"MUSICAPI_SIMULATOR": "1", "PUBLIC_URL": "http://localhost:9000"})

    assert on_port.public_url == "http://127.0.0.1:8123"
    assert on_port.port == 8123
    assert on_localhost.musicapi_api_url == "http://localhost:9000/_simulator/api"


def test_the_simulator_makes_a_fresh_secret_key_per_process() -> None:
    first = read_settings({"MUSICAPI_SIMULATOR": "1"})
    second = read_settings({"MUSICAPI_SIMULATOR": "1"})

    assert first.secret_key != second.secret_key


def test_the_simulator_keeps_explicit_values() -> None:
    result = read_settings({"MUSICAPI_SIMULATOR": "1", **PRODUCTION, "PUBLIC_URL": "http://127.0.0.1:7000"})

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


# -- summary() and repr never show secrets ----------------------------------------------------------------------


def full_settings() -> Settings:
    return settings(
        SECRET_KEY_FALLBACKS=OLD_SECRET,
        MUSICAPI_CLIENT_ID="client-id",
        MUSICAPI_CLIENT_SECRET=CLIENT_SECRET,
        REDIS_URL=HEROKU_REDIS,
        ALLOWED_ORIGINS="https://www.example.com,https://shop.example.com",
        APP_NAME="Acme Music",
    )


@pytest.mark.parametrize(
    "render",
    [lambda s: logfmt(s.summary()), lambda s: str(s.summary()), repr, str],
    ids=["summary-line", "summary", "repr", "str"],
)
def test_secrets_are_masked(render: Any) -> None:
    text = render(full_settings())

    for secret in (SECRET, OLD_SECRET, CLIENT_SECRET, REDIS_PASSWORD):
        assert secret not in text
        assert secret[:12] not in text


def test_the_summary_is_one_logfmt_line_of_the_effective_configuration() -> None:
    line = logfmt(full_settings().summary())
    fields = parse_logfmt(line)

    assert "\n" not in line
    assert fields["public_url"] == "https://app.example.com"
    assert fields["musicapi_slug"] == "my-app"
    assert fields["secret_key"] == f"***({len(SECRET)}-chars)"
    assert fields["secret_key_fallbacks"] == "1"
    assert fields["client_id"] == "client-id"
    assert fields["client_secret"].startswith("***")
    assert fields["allowed_origins"] == "https://www.example.com,https://shop.example.com"
    assert fields["session_store"] == "redis"
    assert fields["redis_tls_verify"] == "off"
    assert fields["app_name"] == "Acme Music"
    assert fields["simulator"] == "off"


def test_the_summary_says_what_is_unset() -> None:
    fields = settings().summary()

    assert fields["client_id"] == "unset"
    assert fields["client_secret"] == "unset"
    assert fields["allowed_origins"] == "none"
    assert fields["session_store"] == "cookies"
    assert fields["redis_tls_verify"] == "-"


# -- read_server_settings: what gunicorn reads ------------------------------------------------------------------


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
    server = read_server_settings({**PRODUCTION, **overrides}, cpu_count=cpu_count)

    assert server.workers == expected_workers
    assert server.port == 5000


@pytest.mark.parametrize("web_concurrency", [None, "4"])
def test_the_simulator_runs_one_worker(web_concurrency: str | None) -> None:
    environ = {"MUSICAPI_SIMULATOR": "1", "PORT": "7001"}
    if web_concurrency:
        environ["WEB_CONCURRENCY"] = web_concurrency

    server = read_server_settings(environ, cpu_count=8)

    assert server.workers == 1
    assert server.port == 7001


@pytest.mark.parametrize("value", ["0", "65", "-1", "two", "abc", "1.5", "²", "4 workers"])
def test_a_bad_web_concurrency_gets_the_apps_own_message(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_server_settings({**PRODUCTION, "WEB_CONCURRENCY": value}, cpu_count=2)

    assert caught.value.problems == ["WEB_CONCURRENCY must be a number between 1 and 64"]


def test_server_settings_validate_the_app_configuration_too() -> None:
    with pytest.raises(ConfigError) as caught:
        read_server_settings({}, cpu_count=2)

    assert {"PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG"} <= {problem.split()[0] for problem in caught.value.problems}


def test_server_settings_name_web_concurrency_with_the_other_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        read_server_settings({"WEB_CONCURRENCY": "many", "ALLOWED_ORIGINS": "*"}, cpu_count=2)

    message = str(caught.value)
    for name in ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG", "ALLOWED_ORIGINS", "WEB_CONCURRENCY"):
        assert name in message


def test_a_dyno_listens_on_every_interface() -> None:
    assert read_server_settings(PRODUCTION).host == "0.0.0.0"  # noqa: S104


def test_the_simulator_demo_answers_this_machine_only() -> None:
    assert read_server_settings({"MUSICAPI_SIMULATOR": "1"}).host == "127.0.0.1"


# -- python -m callback_app.config: the Procfile's check before gunicorn ----------------------------------------


def check_environment(**variables: str) -> subprocess.CompletedProcess[str]:
    """``python -m callback_app.config`` as the Procfile runs it, in an environment holding only ``variables``."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()), **variables}
    return subprocess.run(
        [sys.executable, "-m", "callback_app.config"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, ("PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG")),
        ({**PRODUCTION, "WEB_CONCURRENCY": "abc"}, ("WEB_CONCURRENCY",)),
        ({**PRODUCTION, "MUSICAPI_SERVICES": "spotfy"}, ("MUSICAPI_SERVICES", "'spotify'")),
        ({**PRODUCTION, "ALLOWED_ORIGINS": "*", "PORT": "http"}, ("ALLOWED_ORIGINS", "PORT")),
        ({**PRODUCTION, "REDIS_URL": f"http://:{REDIS_PASSWORD}@redis"}, ("REDIS_URL",)),
        ({"MUSICAPI_SIMULATOR": "1", "DYNO": "web.1"}, ("DYNO", "PUBLIC_URL", "SECRET_KEY", "MUSICAPI_SLUG")),
    ],
    ids=["nothing", "web-concurrency", "service-typo", "origins-and-port", "redis-url", "simulator-on-a-dyno"],
)
def test_the_check_exits_3_with_one_line_for_a_bad_environment(
    variables: dict[str, str], named: tuple[str, ...]
) -> None:
    result = check_environment(**variables)

    assert result.returncode == 3
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(ERROR_PREFIX)
    for name in named:
        assert name in line
    assert REDIS_PASSWORD not in result.stderr


@pytest.mark.parametrize(
    "variables",
    [PRODUCTION, {"MUSICAPI_SIMULATOR": "1"}, {**PRODUCTION, "WEB_CONCURRENCY": "2", "REDIS_URL": HEROKU_REDIS}],
    ids=["production", "simulator", "production-with-redis"],
)
def test_the_check_is_silent_and_exits_0_for_a_good_environment(variables: dict[str, str]) -> None:
    result = check_environment(**variables)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

"""Origins and URLs read the way browsers read them, for configuration and request checks alike."""

from __future__ import annotations

import pytest

from callback_app.urls import is_loopback_url, normalized_origin, origin_of, split_url


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://www.example.com", "https://www.example.com"),
        ("https://www.example.com/", "https://www.example.com"),
        ("HTTPS://WWW.EXAMPLE.COM", "https://www.example.com"),
        ("https://www.example.com:443", "https://www.example.com"),
        ("http://www.example.com:80", "http://www.example.com"),
        ("https://www.example.com:80", "https://www.example.com:80"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("https://[2001:db8::1]", "https://[2001:db8::1]"),
    ],
)
def test_an_origin_is_written_as_an_origin_header_would_say_it(value: str, origin: str) -> None:
    assert normalized_origin(value) == origin


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "null",
        "",
        "www.example.com",
        "//www.example.com",
        "ftp://www.example.com",
        "javascript:alert(1)",
        "https://",
        "https://www.example.com/path",
        "https://www.example.com?x=1",
        "https://www.example.com#top",
        "https://user@www.example.com",
        "https://user:pass@www.example.com",
        "https://:pass@www.example.com",
        "https://www.example.com:99999",
        "https://www.example.com:port",
        "https://[::1",
    ],
)
def test_anything_but_an_http_origin_alone_is_not_an_origin(value: str) -> None:
    assert normalized_origin(value) is None


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
        ("http://[::ffff:10.0.0.1]", False),
        ("not a url", False),
    ],
)
def test_is_loopback_url(url: str, expected: bool) -> None:
    assert is_loopback_url(url) is expected


@pytest.mark.parametrize("url", ["https://host:99999", "https://host:abc", "https://[::1", "http://[bad]"])
def test_a_url_no_browser_could_use_is_none_not_an_exception(url: str) -> None:
    assert split_url(url) is None


def test_origin_of_keeps_a_url_as_written() -> None:
    assert origin_of("https://Auth.Example.com:8443/base/path?x=1") == "https://Auth.Example.com:8443"

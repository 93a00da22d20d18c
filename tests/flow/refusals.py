"""Reading the app's error pages in flow tests: the status, the reference code, and the way on."""

from __future__ import annotations

import html
import re

import requests


def visible_text(page: str) -> str:
    """The words a person reads, tags removed and entities decoded, on one line."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def assert_error_page(response: requests.Response, status: int, code: str, *, retry: bool = True) -> None:
    """The contract's status, a page naming the reference code, and the way on: "Try again" or "Back to start"."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/html")
    text = visible_text(response.text)
    assert f"Reference code: {code}" in text
    assert ("Try again" in text) is retry, text
    if not retry:
        assert "Back to start" in text or "Continue" in text, text
    assert "Traceback" not in response.text

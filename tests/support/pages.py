"""Reading what the app sends: CSRF tokens in pages, Set-Cookie headers, and the HTML's elements."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from werkzeug.test import TestResponse

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
ERROR_CODE = re.compile(r"<code>([a-z_]+)</code>")


def csrf_token_in(page: str) -> str:
    match = CSRF_FIELD.search(page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def error_code_in(page: str) -> str | None:
    """The reference code an error page shows in small print."""
    match = ERROR_CODE.search(page)
    return match.group(1) if match else None


def set_cookies(response: Any) -> list[str]:
    """Every Set-Cookie header of a requests or werkzeug response, unmerged."""
    if isinstance(response, TestResponse):
        return response.headers.getlist("Set-Cookie")
    return list(response.raw.headers.getlist("Set-Cookie"))


def cookie_name(header: str) -> str:
    return header.split("=", 1)[0]


def cookie_attributes(header: str) -> dict[str, str]:
    """The attributes of one Set-Cookie header, lower-cased names: {"path": "/", "httponly": "", ...}."""
    attributes = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value
    return attributes


def is_deletion(header: str) -> bool:
    attributes = cookie_attributes(header)
    return attributes.get("max-age") == "0" or header.split(";", 1)[0].endswith("=")


def account_cookies_added(response: Any) -> list[str]:
    """Set-Cookie headers that store an account (not the ones deleting one)."""
    return [h for h in set_cookies(response) if "acct-" in cookie_name(h) and not is_deletion(h)]


@dataclass
class Element:
    tag: str
    attributes: dict[str, str | None]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs)))
        self._in_script = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def parse_html(text: str) -> tuple[list[Element], list[str]]:
    """Every element with its attributes, and any inline script or style text."""
    collector = _Collector()
    collector.feed(text)
    collector.close()
    return collector.elements, collector.script_text


def loaded_resources(text: str) -> list[str]:
    """URLs a browser fetches on its own while showing the page (scripts, styles, images, icons)."""
    elements, _ = parse_html(text)
    urls = []
    for element in elements:
        if element.tag in ("script", "img", "iframe", "audio", "video", "source", "embed") and element.attributes.get(
            "src"
        ):
            urls.append(element.attributes["src"] or "")
        if element.tag == "link" and element.attributes.get("href"):
            urls.append(element.attributes["href"] or "")
    return urls

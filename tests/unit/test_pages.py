"""The landing page's fast path for first visits gives exactly what rendering the template would."""

from __future__ import annotations

import pytest
from flask import Flask

from callback_app import views
from callback_app.app import EXTENSION, create_app
from callback_app.config import Settings

SETTINGS = Settings(
    secret_key="pages-test-secret-key-0123456789-abcdefghij",
    musicapi_slug="my-app",
    public_url="https://app.example.com",
)


@pytest.fixture
def app() -> Flask:
    return create_app(SETTINGS)


@pytest.mark.parametrize("visitor", range(3))
def test_a_first_visit_page_is_the_rendered_page_with_its_own_token(app: Flask, visitor: int) -> None:
    token = app.extensions[EXTENSION].csrf.new_token()

    with app.test_request_context("/", base_url="https://app.example.com"):
        fast = views.first_visit_page(token)
        rendered = views.landing_page([], token)

    assert fast == rendered
    assert fast.count(f'name="csrf_token" value="{token}"') == len(SETTINGS.services) + 1


def test_the_first_visit_page_is_rendered_once_per_process(app: Flask) -> None:
    with app.test_request_context("/", base_url="https://app.example.com"):
        first = views.first_visit_page("a" * 32)
        pieces = app.extensions[views.FIRST_VISIT_PAGE]
        second = views.first_visit_page("b" * 32)

    assert app.extensions[views.FIRST_VISIT_PAGE] is pieces
    assert first.replace("a" * 32, "b" * 32) == second


@pytest.mark.parametrize("token", ['"><script>alert(1)</script>', "a&b" * 8, "short", "x" * 65])
def test_a_token_that_is_not_url_safe_is_rendered_and_escaped(
    app: Flask, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setattr(views, "csrf_token", lambda: token)

    with app.test_request_context("/", base_url="https://app.example.com"):
        page = views.index()
        rendered = views.landing_page([], token)

    assert page == rendered
    assert "<script>" not in page
    assert views.FIRST_VISIT_PAGE not in app.extensions

"""Languages: the visitor's own, complete catalogs that keep their placeholders, and no text outside them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from markupsafe import escape

from callback_app.i18n import LANGUAGES
from tests.conftest import MakeApp
from tests.support.inprocess import InProcessBrowser
from tests.support.pages import cookie_attributes, set_cookies

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
TRANSLATIONS = ROOT / "translations"
HTML_ELEMENT = re.compile(r'<html lang="([^"]+)" dir="([^"]+)">')
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TRANSLATED = [language.code for language in LANGUAGES[1:]]


@pytest.fixture(scope="module")
def app(make_app: MakeApp) -> Flask:
    return make_app()[0]


def page_language(browser: InProcessBrowser, **headers: str) -> tuple[str, str]:
    """The start page's ``<html lang dir>``."""
    match = HTML_ELEMENT.search(browser.get("/", headers=headers).get_data(as_text=True))
    assert match, "the page has no <html lang dir>"
    return match.group(1), match.group(2)


# -- which language a visitor gets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_language", "tag"),
    [
        ("en-US,en;q=0.9", "en"),
        ("de", "de"),
        ("de-AT,de;q=0.9", "de"),
        ("de-AT", "de"),
        ("fr-CA", "fr"),
        ("es-419,es;q=0.9", "es"),
        ("pt-BR", "pt-BR"),
        ("pt", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("pl-PL,en;q=0.5", "pl"),
        ("ja-JP", "ja"),
        ("ar-SA", "ar"),
        ("zh-CN", "en"),
        ("zh-CN,zh;q=0.9", "en"),
        ("xx, yy;q=0.5", "en"),
        ("zh-CN,de;q=0.3", "de"),
        ("*", "en"),
        ("", "en"),
    ],
)
def test_the_page_speaks_the_browsers_language(app: Flask, accept_language: str, tag: str) -> None:
    assert page_language(InProcessBrowser(app), **{"Accept-Language": accept_language})[0] == tag


@pytest.mark.parametrize(("code", "tag", "direction"), [("ar", "ar", "rtl"), ("de", "de", "ltr"), ("en", "en", "ltr")])
def test_arabic_pages_read_right_to_left(app: Flask, code: str, tag: str, direction: str) -> None:
    browser = InProcessBrowser(app)
    browser.set_cookie("lang", code)

    assert page_language(browser) == (tag, direction)


@pytest.mark.parametrize("picked", ["ja", "pt_BR", "en"])
def test_the_visitors_pick_wins_over_the_browsers_language(app: Flask, picked: str) -> None:
    browser = InProcessBrowser(app)
    browser.set_cookie("lang", picked)

    tag = next(language.tag for language in LANGUAGES if language.code == picked)
    assert page_language(browser, **{"Accept-Language": "de-DE,de"})[0] == tag


@pytest.mark.parametrize("picked", ["klingon", "pt-BR", "", "de;"])
def test_a_pick_that_is_no_language_is_ignored(app: Flask, picked: str) -> None:
    browser = InProcessBrowser(app)
    browser.set_cookie("lang", picked)

    assert page_language(browser, **{"Accept-Language": "fr"})[0] == "fr"


@pytest.mark.parametrize(("code", "tag"), [(language.code, language.tag) for language in LANGUAGES])
def test_picking_a_language_remembers_it_and_goes_back(app: Flask, code: str, tag: str) -> None:
    browser = InProcessBrowser(app)

    response = browser.get(f"/language/{code}", query_string={"next": "/developers?x=1"})

    assert (response.status_code, response.headers["Location"]) == (303, "/developers?x=1")
    [header] = set_cookies(response)
    assert header.startswith(f"lang={code};")
    attributes = cookie_attributes(header)
    assert attributes["path"] == "/"
    assert attributes["samesite"] == "Lax"
    assert int(attributes["max-age"]) >= 30 * 24 * 3600
    assert page_language(browser, **{"Accept-Language": "ar" if code != "ar" else "de"})[0] == tag


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "https://www.example.com/", "javascript:x", ""],
)
def test_the_language_switch_goes_back_only_to_a_page_of_this_site(make_app: MakeApp, target: str) -> None:
    browser = InProcessBrowser(make_app(allowed_origins=("https://www.example.com",))[0])

    response = browser.get("/language/de", query_string={"next": target})

    assert (response.status_code, response.headers["Location"]) == (303, "/")


@pytest.mark.parametrize("code", ["xx", "pt-BR", "EN", "de_DE", "../en"])
def test_an_unknown_language_is_not_found(app: Flask, code: str) -> None:
    response = InProcessBrowser(app).get(f"/language/{code}", query_string={"next": "/"})

    assert response.status_code == 404
    assert set_cookies(response) == []


def test_every_page_links_to_every_language_coming_back_to_the_same_page(app: Flask) -> None:
    page = InProcessBrowser(app).get("/developers").get_data(as_text=True)

    for language in LANGUAGES:
        assert f'href="/language/{language.code}?next=/developers"' in page


# -- the catalogs -----------------------------------------------------------------------------------------------


def catalog(code: str) -> Catalog:
    path = TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        return read_po(source, locale=code)


def template_catalog() -> Catalog:
    with (TRANSLATIONS / "messages.pot").open("rb") as source:
        return read_po(source)


def extracted_messages() -> set[str]:
    """Every message the templates and the Python code ask for, found as ``pybabel extract`` finds them."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map)
    }


def texts(message_string: str | tuple[str, ...]) -> tuple[str, ...]:
    return (message_string,) if isinstance(message_string, str) else tuple(message_string)


def test_every_language_has_a_catalog() -> None:
    assert sorted(path.parent.parent.name for path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")) == sorted(
        TRANSLATED
    )


def test_the_template_catalog_holds_every_message_the_app_asks_for() -> None:
    known = {
        message.id if isinstance(message.id, str) else message.id[0] for message in template_catalog() if message.id
    }

    assert extracted_messages() - known == set()


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_catalog_is_complete(code: str) -> None:
    translated = catalog(code)
    untranslated = []
    for message in template_catalog():
        if not message.id:
            continue
        entry = translated.get(message.id)
        if entry is None or entry.fuzzy or not all(text.strip() for text in texts(entry.string)):
            untranslated.append(message.id)

    assert untranslated == [], f"{code}: {len(untranslated)} messages not translated"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_translation_keeps_its_placeholders(code: str) -> None:
    broken = []
    for message in catalog(code):
        if not message.id:
            continue
        expected = set(PLACEHOLDER.findall(" ".join(texts(message.id))))
        for text in texts(message.string):
            found = set(PLACEHOLDER.findall(text))
            # A plural form may leave the count out when its words say it ("two services" in Arabic's dual).
            if message.pluralizable:
                found |= {"num"} & expected
            if text and found != expected:
                broken.append((message.id, text))

    assert broken == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_a_translated_page_is_in_its_language(app: Flask, code: str) -> None:
    browser = InProcessBrowser(app)
    browser.set_cookie("lang", code)
    english = InProcessBrowser(app).get("/").get_data(as_text=True)

    page = browser.get("/").get_data(as_text=True)

    assert "Connect your music" in english
    assert "Connect your music" not in page
    translation = catalog(code).get("Connect your music")
    assert translation is not None
    assert str(escape(translation.string)) in page


# -- the lint: no text a person reads outside the catalog -------------------------------------------------------

JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
JINJA_TAG = re.compile(r"\{%.*?%\}", re.DOTALL)
JINJA_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
# Code samples and scripts are not prose: nobody translates JSON keys or JavaScript.
NOT_PROSE = re.compile(r"<(code|script|style)\b[^>]*>.*?</\1>", re.DOTALL | re.IGNORECASE)
HTML_TAG = re.compile(r"<[^>]*>", re.DOTALL)
HTML_ENTITY = re.compile(r"&#?\w+;")
LETTERS = re.compile(r"[^\W\d_]+")
HUMAN_ATTRIBUTE = re.compile(r"""\s(alt|title|aria-label|placeholder|data-[\w-]+)=(["'])(.*?)\2""", re.DOTALL)
# Attributes whose data-* words a person reads: every data-* of the developers' page, the busy label elsewhere.
DATA_WORDS_EVERYWHERE = {"data-busy-label"}


def without_jinja(source: str) -> str:
    return JINJA_EXPRESSION.sub(" ", JINJA_TAG.sub(" ", JINJA_COMMENT.sub(" ", source)))


def untranslated_text(source: str) -> list[str]:
    """Words a person would read that do not come from the catalog."""
    text = HTML_TAG.sub(" ", NOT_PROSE.sub(" ", without_jinja(source)))
    return LETTERS.findall(HTML_ENTITY.sub(" ", text))


def literal_attributes(source: str, *, all_data_words: bool) -> list[str]:
    """Human-facing attributes whose value holds letters outside a Jinja expression."""
    found = []
    for name, _, value in HUMAN_ATTRIBUTE.findall(JINJA_COMMENT.sub(" ", source)):
        if name.startswith("data-") and not all_data_words and name not in DATA_WORDS_EVERYWHERE:
            continue
        if LETTERS.search(JINJA_EXPRESSION.sub(" ", JINJA_TAG.sub(" ", value))):
            found.append(f"{name}={value!r}")
    return found


def app_templates() -> list[Path]:
    """The templates people read in their language (the simulator's own English pages left out)."""
    return sorted(path for path in TEMPLATES.rglob("*.html") if "simulator" not in path.relative_to(TEMPLATES).parts)


@pytest.mark.parametrize("template", app_templates(), ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_no_template_shows_text_outside_the_catalog(template: Path) -> None:
    assert untranslated_text(template.read_text()) == []


@pytest.mark.parametrize("template", app_templates(), ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_no_template_has_a_human_facing_attribute_written_as_literal_text(template: Path) -> None:
    source = template.read_text()

    assert literal_attributes(source, all_data_words=template.name == "developer.html") == []


def test_the_lint_finds_untranslated_text_and_attributes() -> None:
    sample = """{# a comment with words #}{% block title %}{{ _("Fine") }}{% endblock %}
    <p class="lede">{{ _("Fine too") }} &amp; <code>{"json": true}</code></p>
    <p>Forgotten words</p>
    <img src="x.png" alt="A badge"><img alt="{{ _('Fine') }}" title="{{ name }}">
    <div data-loading="Loading" data-count="{{ n }}" aria-label='Menu'></div>
    <form data-busy-label="Connecting…"></form>"""

    assert untranslated_text(sample) == ["Forgotten", "words"]
    assert literal_attributes(sample, all_data_words=True) == [
        "alt='A badge'",
        "data-loading='Loading'",
        "aria-label='Menu'",
        "data-busy-label='Connecting…'",
    ]
    assert literal_attributes(sample, all_data_words=False) == [
        "alt='A badge'",
        "aria-label='Menu'",
        "data-busy-label='Connecting…'",
    ]


def test_the_lint_reads_every_template_people_see() -> None:
    names = {str(path.relative_to(TEMPLATES)) for path in app_templates()}

    assert {"base.html", "index.html", "error.html", "errors/messages.html", "developer.html"} <= names
    assert not any(name.startswith("simulator/") for name in names)

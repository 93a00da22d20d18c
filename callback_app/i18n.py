"""Languages: the visitor's from ``Accept-Language`` (or the one they picked), through Flask-Babel.

The message catalogs (``translations/<code>/LC_MESSAGES/messages.po``) are compiled when the
app starts, in memory: no build step that a platform could skip, and a translator's edit is
live on the next deploy. Adding a language is a new catalog and one line in ``LANGUAGES``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask, request
from flask_babel import Babel, Domain, get_locale

LANGUAGE_COOKIE = "lang"
LANGUAGE_LIFETIME = 365 * 24 * 3600
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Language:
    code: str
    tag: str
    name: str
    rtl: bool = False


# The language of the source texts comes first; names are written in their own language.
LANGUAGES: tuple[Language, ...] = (
    Language("en", "en", "English"),
    Language("de", "de", "Deutsch"),
    Language("fr", "fr", "Français"),
    Language("es", "es", "Español"),
    Language("pt_BR", "pt-BR", "Português (Brasil)"),
    Language("pl", "pl", "Polski"),
    Language("ja", "ja", "日本語"),
    Language("ar", "ar", "العربية", rtl=True),
)
BY_CODE = {language.code: language for language in LANGUAGES}


def compile_catalog(path: Path, code: str) -> Translations:
    """One ``.po`` catalog as gettext reads it (fuzzy entries left out, as ``pybabel compile`` does)."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


class CatalogDomain(Domain):  # type: ignore[misc]
    """Flask-Babel's domain, its cache filled at startup with every compiled catalog."""

    def __init__(self, directory: Path) -> None:
        super().__init__(translation_directories=[str(directory)])
        self.compiled: dict[tuple[str, str], Translations] = {(DEFAULT_LANGUAGE, "messages"): Translations()}
        for language in LANGUAGES[1:]:
            path = directory / language.code / "LC_MESSAGES" / "messages.po"
            self.compiled[language.code, "messages"] = compile_catalog(path, language.code)

    def get_translations_cache(self, ctx: Any) -> dict[tuple[str, str], Translations]:
        return self.compiled


def language_for(accepted: Iterable[str]) -> str:
    """The first accepted language (best first) that we speak, by its whole tag or by its language alone.

    ``pt-PT`` gets Brazilian Portuguese and ``pl-PL,en;q=0.5`` Polish, not English.
    """
    for tag in accepted:
        wanted = tag.lower()
        same_tag = [language for language in LANGUAGES if language.tag.lower() == wanted]
        same_language = [language for language in LANGUAGES if language.tag.split("-")[0] == wanted.split("-")[0]]
        if same_tag or same_language:
            return (same_tag or same_language)[0].code
    return DEFAULT_LANGUAGE


def current_language() -> Language:
    locale = get_locale()
    return BY_CODE.get(str(locale), LANGUAGES[0])


def init_i18n(app: Flask, directory: Path, cookie_name: str) -> None:
    """Choose each request's language: the visitor's pick (a cookie), else their browser's, else English."""

    def select_locale() -> str:
        picked = request.cookies.get(cookie_name)
        if picked in BY_CODE:
            return picked
        return language_for(tag for tag, _ in request.accept_languages)

    def languages_in_pages() -> dict[str, Any]:
        return {"language": current_language(), "languages": LANGUAGES}

    babel = Babel(app, locale_selector=select_locale, default_domain="messages")
    babel.domain_instance = CatalogDomain(directory)
    app.context_processor(languages_in_pages)

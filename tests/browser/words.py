"""What the pages say in each language, read from the message catalogs as the translators wrote them.

Tests find buttons and headings by the words a person of that language reads, and look for English
left on a translated page.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from tests.support.servers import ROOT

TRANSLATIONS = ROOT / "translations"
ENGLISH = "en"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Shorter pieces of an English text ("as", "of") are words of other languages too.
MIN_LETTERS = 4


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


@functools.cache
def english_texts() -> tuple[str, ...]:
    """Every text of the pages, in English: the msgids of the catalog template."""
    return tuple(str(message.id) for message in read_catalog(TRANSLATIONS / "messages.pot") if message.id)


@functools.cache
def translations(code: str) -> dict[str, str]:
    """msgid -> msgstr for what ``code``'s catalog translates (fuzzy entries count as untranslated, as in the app)."""
    catalog = read_catalog(TRANSLATIONS / code / "LC_MESSAGES" / "messages.po")
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


@dataclass(frozen=True)
class Words:
    """The texts of one language: ``words("Connect %(service)s", service="Spotify")``."""

    code: str

    def __call__(self, english: str, **values: str) -> str:
        if self.code == ENGLISH:
            text = english
        else:
            translated = translations(self.code).get(english)
            if translated is None:
                pytest.fail(f"the {self.code} catalog does not translate {english!r}")
            text = translated
        return text % values if values else text

    def pattern(self, english: str, **values: str) -> re.Pattern[str]:
        """The text as a pattern: the placeholders given in ``values`` are themselves, the others any text."""
        pieces = PLACEHOLDER.split(self(english))
        literal, names = pieces[::2], pieces[1::2]
        parts = [re.escape(literal[0])]
        for name, after in zip(names, literal[1:], strict=True):
            parts.append(re.escape(values[name]) if name in values else ".+?")
            parts.append(re.escape(after))
        return re.compile("".join(parts))

    def english_left_in(self, text: str) -> list[str]:
        """English pieces of the catalog found in ``text`` that this language's catalog says differently.

        Texts the translator kept as they are (a name such as the app's) are not leftovers, and are
        taken out of ``text`` first so that their words do not count either.
        """
        if self.code == ENGLISH:
            return []
        translated = translations(self.code)
        kept = [english for english in english_texts() if translated.get(english) == english]
        for english in sorted(kept, key=len, reverse=True):
            text = text.replace(english, " ")
        found = []
        for english in english_texts():
            if english in kept:
                continue
            for between_placeholders in PLACEHOLDER.split(english)[::2]:
                piece = between_placeholders.strip(" .,:;·")
                if sum(character.isalpha() for character in piece) < MIN_LETTERS:
                    continue
                if re.search(rf"(?<!\w){re.escape(piece)}(?!\w)", text):
                    found.append(piece)
        return sorted(set(found))


IN_ENGLISH = Words(ENGLISH)

"""A strict reading of the HTML our server sends (not the browser's repaired DOM): a stand-in for a validator."""

from __future__ import annotations

from html.parser import HTMLParser

VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class MarkupChecker(HTMLParser):
    """A strict reading of our own pages: every element closed in order, ids unique, the document basics present."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open_elements: list[str] = []
        self.ids: set[str] = set()
        self.seen: set[str] = set()
        self.problems: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.seen.add(decl.lower())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        attributes = dict(attrs)
        if tag == "html" and not attributes.get("lang"):
            self.problems.append("<html> without lang")
        if (element_id := attributes.get("id")) is not None:
            if element_id in self.ids:
                self.problems.append(f"duplicate id {element_id!r}")
            self.ids.add(element_id)
        if tag not in VOID_ELEMENTS:
            self.open_elements.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open_elements or self.open_elements[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.open_elements[-1] if self.open_elements else 'nothing'}>")
            return
        self.open_elements.pop()


def markup_problems(html: str) -> list[str]:
    """Unclosed or misnested elements, duplicate ids, and a missing doctype, lang, title, main or h1."""
    checker = MarkupChecker()
    checker.feed(html)
    checker.close()
    problems = checker.problems
    problems += [f"<{tag}> never closed" for tag in checker.open_elements]
    problems += [f"no <{tag}>" for tag in ("doctype html", "title", "main", "h1") if tag not in checker.seen]
    return problems

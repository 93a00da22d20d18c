"""The house's rooms: each module imports only the rooms below it, and nothing imports the factory."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.servers import ROOT

PACKAGE = ROOT / "callback_app"

# Each room and the rooms it may use. A room not named here may not be imported by it.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "types": set(),
    "urls": set(),
    "singleflight": set(),
    "musicapi.protocol": {"errors"},
    "settings": {"musicapi.protocol", "urls"},
    "config": {"errors", "musicapi.protocol", "settings", "urls"},
    "logs": {"types"},
    "cookies": {"errors", "types"},
    "musicapi.client": {"errors", "musicapi.protocol", "settings"},
    "session": {"cookies", "errors", "musicapi.protocol", "musicapi.client", "settings", "singleflight", "types"},
    "notices": {"cookies", "errors"},
    "security": {"cookies", "errors", "urls"},
    "i18n": set(),
    "login": {
        "cookies",
        "errors",
        "logs",
        "musicapi.protocol",
        "musicapi.client",
        "session",
        "settings",
        "singleflight",
        "types",
    },
    "context": {"cookies", "login", "notices", "security", "session", "settings", "types"},
    "views": {"context", "errors", "i18n", "login", "logs", "musicapi.protocol", "notices", "security", "session"},
    "simulator": {"musicapi.protocol"},
}


def room_of(module: str) -> str:
    """``callback_app.session.refresh`` -> ``session``; ``callback_app.musicapi.client`` -> ``musicapi.client``."""
    parts = module.split(".")[1:]
    if not parts:
        return "callback_app"
    if parts[0] == "musicapi":
        return ".".join(parts[:2]) if len(parts) > 1 else "musicapi"
    return parts[0]


def imports_of(path: Path) -> set[str]:
    """The callback_app modules a file imports, at any depth of the file (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callback_app"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("callback_app"))
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    return ".".join(part for part in relative.parts if part != "__init__")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_room_imports_only_the_rooms_below_it(path: Path) -> None:
    room = room_of(module_name(path))
    if room not in MAY_IMPORT:
        # The top: the factory, the gunicorn entry points, the package itself.
        assert room in {"app", "wsgi", "serving", "callback_app", "musicapi"}, room
        return
    used = {room_of(module) for module in imports_of(path)} - {room}
    assert used <= MAY_IMPORT[room], f"{room} imports {sorted(used - MAY_IMPORT[room])}"


def test_nothing_but_the_entry_point_imports_the_factory() -> None:
    importers = {module_name(path) for path in MODULES if "callback_app.app" in imports_of(path)}

    assert importers == {"callback_app.wsgi"}


def test_no_module_of_the_package_exceeds_300_lines() -> None:
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in MODULES}

    assert max(lengths.values()) <= 300, {path: length for path, length in lengths.items() if length > 300}

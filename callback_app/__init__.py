"""callback_app: connect a user's music streaming account through MusicAPI.

``create_app`` lives in :mod:`callback_app.app` and is loaded on first use, so that the
gunicorn master can read :mod:`callback_app.config` without importing the web stack before
the gevent worker has patched it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)

"""Routes, by concern: pages, login, account, api, health, and error handling.

Views turn outcomes into responses (status codes and templates); the rooms below do the work.
"""

from __future__ import annotations

from flask import Flask

from callback_app.views import account, api, errors, health, hooks, login, pages


def register_views(app: Flask) -> None:
    for module in (hooks, errors, pages, login, account, api, health):
        app.register_blueprint(module.bp)

"""A bare Flask route returning "ok": the ceiling of this server configuration, for comparison.

Served exactly like the app: ``gunicorn --config gunicorn.conf.py bench.bare_app:app``.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok() -> str:
    return "ok"

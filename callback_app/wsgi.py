"""The WSGI entry point for gunicorn: ``callback_app.wsgi:app``."""

from __future__ import annotations

import sys

from callback_app.app import create_app
from callback_app.errors import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One line naming every problem, not a traceback: this is what a deployer reads first.
    print(f"callback_app: configuration error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None

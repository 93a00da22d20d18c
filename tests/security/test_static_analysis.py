"""bandit, the Python security linter, finds nothing in the app (``make lint`` runs the same command)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.servers import ROOT


def test_bandit_finds_nothing_in_the_app() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "--quiet", "-c", "pyproject.toml", "-r", "callback_app", "gunicorn.conf.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr

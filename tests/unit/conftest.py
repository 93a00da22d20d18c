"""Fixtures of the unit tests: a clock that moves only when a test moves it."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from tests.unit.helpers import START


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)

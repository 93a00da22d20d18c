"""An embedded stand-in for MusicAPI, over real HTTP, for development, demos, tests and benchmarks.

Production never imports it: the app mounts it only when MUSICAPI_SIMULATOR=1.
"""

from __future__ import annotations

from callback_app.simulator.fake_data import AUTH_DATA_SIZES, fake_auth_data
from callback_app.simulator.server import (
    create_simulator_app,
    create_simulator_blueprint,
    encode_data64,
)
from callback_app.simulator.state import FAULTS, ExchangeCall, ExchangeResult, Simulator

__all__ = [
    "AUTH_DATA_SIZES",
    "FAULTS",
    "ExchangeCall",
    "ExchangeResult",
    "Simulator",
    "create_simulator_app",
    "create_simulator_blueprint",
    "encode_data64",
    "fake_auth_data",
]

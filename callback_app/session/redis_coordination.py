"""What instances share through Redis besides sessions: login flows spent once, and refresh locks.

Any instance can finish a login another one started, and a repeat of a callback on another
instance waits for the first copy's outcome instead of sending the one-time token again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from callback_app.session.redis_backend import KEY_PREFIX, RedisBackend, digest
from callback_app.settings import REDIS_TIMEOUT
from callback_app.types import Clock

# How long a finished login's outcome waits for a repeat of its callback on another instance.
OUTCOME_KEPT = 60
# Blocking reads stay well inside the socket timeout, so a wait is a series of short calls.
WAIT_STEP_MS = int(REDIS_TIMEOUT * 500)


class RedisFlowLedger:
    """Login flows on the server: opened at the start, spent once, their outcome kept for repeats."""

    def __init__(self, backend: RedisBackend, *, lifetime: int) -> None:
        self.backend = backend
        self.lifetime = lifetime

    def open(self, key: str) -> None:
        self.backend.call(lambda: self.backend.client.set(self._state(key), "pending", ex=self.lifetime))

    def claim(self, key: str) -> str | dict[str, Any] | None:
        """ "claimed" for the one caller that may spend the token, "inflight", the outcome, or None."""
        state = self.backend.call(lambda: self.backend.claim_flow(keys=[self._state(key)], args=[self.lifetime]))
        if state is None:
            return None
        text = state.decode() if isinstance(state, bytes) else str(state)
        if text.startswith("done:"):
            outcome: dict[str, Any] = json.loads(text.removeprefix("done:"))
            return outcome
        return text

    def settle(self, key: str, outcome: Mapping[str, Any]) -> None:
        text = json.dumps(dict(outcome), separators=(",", ":"))

        def record() -> None:
            with self.backend.client.pipeline(transaction=True) as pipeline:
                pipeline.set(self._state(key), "done:" + text, ex=self.lifetime)
                pipeline.xadd(self._outcomes(key), {"o": text}, maxlen=1)
                pipeline.expire(self._outcomes(key), OUTCOME_KEPT)
                pipeline.execute()

        self.backend.call(record)

    def wait(self, key: str, seconds: float, clock: Clock) -> dict[str, Any] | None:
        """The outcome the instance spending this flow's token reports, or None after ``seconds``."""
        deadline = clock() + seconds
        stream = self._outcomes(key)
        while clock() < deadline:
            entries: Any = self.backend.call(
                lambda: self.backend.client.xread({stream: "0-0"}, count=1, block=WAIT_STEP_MS)
            )
            if entries:
                _, messages = entries[0]
                outcome: dict[str, Any] = json.loads(messages[0][1][b"o"])
                return outcome
        return None

    def _state(self, key: str) -> str:
        return KEY_PREFIX + "f:" + key

    def _outcomes(self, key: str) -> str:
        return KEY_PREFIX + "o:" + key


class RedisRefreshLocks:
    """A short lock per integration user, so one instance refreshes while the others do not."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend

    def acquire(self, integration_user_uuid: str, seconds: float) -> bool:
        key = KEY_PREFIX + "r:" + digest(integration_user_uuid)
        return bool(self.backend.call(lambda: self.backend.client.set(key, 1, nx=True, px=int(seconds * 1000))))

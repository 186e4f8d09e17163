"""Time for the simulator: real UTC by default, a hand-driven clock for tests.

Every state change in the fleet is computed from the clock when it is read, so a test
moves time forward with ``advance`` instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: the real time, timezone-aware UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; callable, so it can be passed as ``clock``.

    It starts at the real current time (to the second) unless given ``start``: the
    simulator checks request timestamps against this clock, and real clients (the
    official SDK) stamp requests with the real time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        initial = start if start is not None else utc_now().replace(microsecond=0)
        if initial.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = initial
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    __call__ = now

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds`` (may be fractional) and return the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        with self._lock:
            self._now = moment

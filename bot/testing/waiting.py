"""Waiting on real time, for tests against real processes and threads, where the
simulator's manual clock does not reach: poll a condition until it holds or a
deadline passes, and then fail saying what never happened."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """Return as soon as ``condition()`` holds (checked every ``interval`` seconds);
    raise ``AssertionError`` naming ``what`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)

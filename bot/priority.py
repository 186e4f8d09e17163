"""Acks first (docs/decisions/0010): which work goes first when threads compete.

Python threads have no priorities and share one interpreter lock, and SQLite lets one
transaction write at a time. The thread answering a Slack request (what Slack times,
against its 3 s limit) marks itself here for as long as it answers; the after-ack work
(``bot.slack.jobs``) waits for a moment with no such thread before it starts, and the
SQLite write queue (``bot.db.engine``) lets a waiting ack writer go before the others.
Shared by the HTTP front, the job pool and the database adapter, like ``bot.logs``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# How long after-ack work waits, at most, for the acks being answered before it starts.
ACKS_FIRST_SECONDS = 0.25
# A burst of Slack requests (twenty commands posted at once) does not reach the server
# all at the same instant: work waits until none has been answered for this long.
QUIET_GAP_SECONDS = 0.02

_local = threading.local()


class AckGate:
    """Counts the Slack requests being answered; lets slow work wait until none is."""

    def __init__(self) -> None:
        self._answering = 0
        self._last_answered = 0.0
        self._quiet = threading.Condition()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one Slack request, up to its ack (this thread is
        urgent meanwhile)."""
        with self._quiet:
            self._answering += 1
        _local.urgent = True
        try:
            yield
        finally:
            _local.urgent = False
            with self._quiet:
                self._answering -= 1
                self._last_answered = time.monotonic()
                if not self._answering:
                    self._quiet.notify_all()

    def wait_quiet(self, timeout: float = ACKS_FIRST_SECONDS) -> bool:
        """Wait until no Slack request is being answered, nor was for
        :data:`QUIET_GAP_SECONDS` (at most ``timeout`` in all); whether it got quiet."""
        deadline = time.monotonic() + timeout
        with self._quiet:
            while True:
                now = time.monotonic()
                if not self._answering:
                    gap = self._last_answered + QUIET_GAP_SECONDS - now
                    if gap <= 0:
                        return True
                    wait = gap
                else:
                    wait = deadline - now
                if now >= deadline:
                    return False
                self._quiet.wait(min(wait, deadline - now))


def urgent() -> bool:
    """Whether this thread is answering a Slack request right now."""
    return bool(getattr(_local, "urgent", False))

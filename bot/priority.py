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
from collections.abc import Iterator
from contextlib import contextmanager

# How long after-ack work waits, at most, for the acks being answered before it starts.
ACKS_FIRST_SECONDS = 0.25

_local = threading.local()


class AckGate:
    """Counts the Slack requests being answered; lets slow work wait until none is."""

    def __init__(self) -> None:
        self._answering = 0
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
                if not self._answering:
                    self._quiet.notify_all()

    def wait_quiet(self, timeout: float = ACKS_FIRST_SECONDS) -> bool:
        """Wait until no Slack request is being answered (at most ``timeout``)."""
        with self._quiet:
            return self._quiet.wait_for(lambda: not self._answering, timeout=timeout)


def urgent() -> bool:
    """Whether this thread is answering a Slack request right now."""
    return bool(getattr(_local, "urgent", False))

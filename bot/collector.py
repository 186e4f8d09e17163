"""The garbage collector's settings for the long-running processes (``serve``,
``socket``, ``poller``): docs/decisions/0018.

CPython starts a young-generation collection once 700 more container objects (dicts,
lists, …) are alive than at the last one. A poll decodes 100 ``DescribeInstances``
answers of about 800 containers each and drops each answer a moment later, so nearly
every answer set off a collection that found nothing to free. Every tenth of those
collects the middle generation, and every tenth of those may collect everything: with
10,000 instances in flight that was a pause of about 0.1 s every few ticks, landing on
whatever ran then (a tick, or an ack in a burst). With the threshold at 10,000, an answer
in hand never sets one off; only lasting growth does.

Garbage with reference cycles waits a little longer to be collected, 10,000 objects at
the most, which is a few megabytes. Reference counting frees everything else at once,
as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


def tune_for_service() -> tuple[int, int, int]:
    """Set the young generation's threshold the long-running processes use, keeping
    the other two as they are; returns the thresholds as they were."""
    previous = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, previous[1], previous[2])
    return previous


@contextmanager
def tuned_for_service() -> Iterator[None]:
    """:func:`tune_for_service` for a block (a benchmark's bot), then as it was."""
    previous = tune_for_service()
    try:
        yield
    finally:
        gc.set_threshold(*previous)


__all__ = ["YOUNG_THRESHOLD", "tune_for_service", "tuned_for_service"]

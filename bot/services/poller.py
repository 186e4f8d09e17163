"""The status poller (DESIGN §5.5): ``poll_once(now)`` advances every due request once;
``Poller`` is the loop around it, with the sleep outside the step.

Requests are leased (one poller at a time per request, the lease expiring so that a dead
poller's work is taken over), which is what lets several replicas run side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from bot import metrics
from bot.logs import request_context
from bot.services.confirm import expire_due
from bot.services.context import Context
from bot.services.execution import advance

log = logging.getLogger(__name__)

# A request is leased for this long per tick; a poller that dies loses it after that.
LEASE_SECONDS = 60.0
# At most this many requests per tick and poller, so one tick stays short.
BATCH = 50


@dataclass(frozen=True)
class PollReport:
    expired: list[str] = field(default_factory=list)
    advanced: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def poll_once(ctx: Context, now: datetime) -> PollReport:
    """Expire stale previews, then advance each due ``executing`` request once."""
    expired = expire_due(ctx, now)
    with ctx.uow() as uow:
        claimed = uow.requests.claim_due(ctx.owner, now, LEASE_SECONDS, BATCH)
        uow.commit()
    advanced: list[str] = []
    failed: list[str] = []
    for request_id in claimed:
        next_poll_at = None
        try:
            with request_context(request_id):
                next_poll_at = advance(ctx, request_id, now=now).next_poll_at
            advanced.append(request_id)
        except Exception:
            # One broken request must not stop the others; it is retried next tick.
            log.exception("advancing request %s failed", request_id)
            failed.append(request_id)
        finally:
            with ctx.uow() as uow:
                uow.requests.release(request_id, ctx.owner, next_poll_at=next_poll_at)
                uow.commit()
    return PollReport(expired=expired, advanced=advanced, failed=failed)


class Poller:
    """Runs ``poll_once`` every ``interval`` seconds in a thread until stopped."""

    def __init__(self, ctx: Context, *, interval: float) -> None:
        self._ctx = ctx
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> PollReport:
        started = time.perf_counter()
        try:
            report = poll_once(self._ctx, self._ctx.clock())
            metrics.POLLER_REQUESTS.set(len(report.advanced))
            return report
        finally:
            metrics.POLL_SECONDS.observe(time.perf_counter() - started)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                # The database or Slack may be away for a while: keep trying.
                log.exception("poller tick failed; trying again in %.1f s", self._interval)
            self._stop.wait(self._interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="ecsbot-poller", daemon=True)
        self._thread.start()

    def stop_soon(self) -> None:
        """Ask the loop to stop after the current tick (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

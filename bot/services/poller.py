"""The status poller (docs/PRODUCT.md §5.5): ``poll_once(now)`` advances every due request once;
``Poller`` is the loop around it, with the sleep outside the step.

Requests are leased (one poller at a time per request, the lease expiring so that a dead
poller's work is taken over), which is what lets several replicas run side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import metrics
from bot.logs import request_context
from bot.services.catch_up import catch_up
from bot.services.context import Context
from bot.services.event_watch import EventWatch
from bot.services.execution import advance
from bot.services.expiry import expire_due
from bot.services.lease import Claimed, LeaseKeeper, hand_over, release_or_owe, settle_owed

log = logging.getLogger(__name__)

# At most this many requests per tick and poller, so one tick stays bounded; the rest
# are due still and go first next tick (or to another replica).
MAX_REQUESTS_PER_TICK = 500
# How often a running poller asks whether a platform event pass is due.
WATCH_ASK_SECONDS = 5.0
# Requests advanced side by side in a running poller: their time is mostly spent
# waiting on ECS and Slack, and one slow request must not stall the rest.
WORKERS = 4


@dataclass(frozen=True)
class PollReport:
    expired: list[str] = field(default_factory=list)
    advanced: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    redrawn: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)


def poll_once(
    ctx: Context, now: datetime, *, workers: int = 1, stopping: threading.Event | None = None
) -> PollReport:
    """Expire stale previews, post what finished requests still owe Slack (a redraw, an
    end notification it did not take), then advance each due ``executing`` request once.

    Requests are leased one at a time, just before each is advanced, and given back
    right after: a process that dies mid-tick holds one request per worker for at most
    ``LEASE_SECONDS``, never a batch it would not have reached. With ``workers`` > 1
    that many threads advance requests side by side, each under a lease owner of its
    own, so one request whose ECS or Slack calls are slow (throttling, 429s, timeouts)
    does not hold up the others.

    Once ``stopping`` is set (SIGTERM) no further request is claimed, and the one in
    hand is given back due now, so another replica takes it on its next tick.
    """
    # Leases a step cut short by the database could not give back: due at once.
    settle_owed(ctx)
    expired = expire_due(ctx, now)
    owed = catch_up(ctx, now)
    tally = _Tally()
    if workers <= 1:
        _work(ctx, ctx.owner, now, tally, stopping)
    else:
        _work_side_by_side(ctx, now, tally, workers, stopping)
    return PollReport(
        expired=expired,
        advanced=tally.advanced,
        failed=tally.failed,
        redrawn=owed.redrawn,
        notified=owed.notified,
    )


class _Tally:
    """What the workers of one tick advanced, shared between their threads."""

    def __init__(self) -> None:
        self.advanced: list[str] = []
        self.failed: list[str] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def full(self) -> bool:
        with self._lock:
            return len(self._seen) >= MAX_REQUESTS_PER_TICK

    def take(self, request_id: str) -> bool:
        """False when ``request_id`` was advanced already this tick."""
        with self._lock:
            if request_id in self._seen:
                return False
            self._seen.add(request_id)
            return True

    def record(self, request_id: str, *, ok: bool) -> None:
        with self._lock:
            (self.advanced if ok else self.failed).append(request_id)


def _work(
    ctx: Context, owner: str, now: datetime, tally: _Tally, stopping: threading.Event | None
) -> None:
    """One worker: claim the next due request, advance it, give it back; until none is
    due, the tick is full or the process is stopping. Each request is given back in the
    transaction that claims the next (``lease.hand_over``)."""
    done: tuple[str, datetime | None] | None = None
    candidates: list[str] = []
    with LeaseKeeper(ctx, owner) as keeper:
        try:
            while True:
                more = not tally.full() and not _stopping(stopping)
                claimed = hand_over(ctx, owner, now, done, candidates if more else None)
                done = None
                if claimed is None:
                    return
                request_id = claimed.request_id
                if not tally.take(request_id):
                    # Due again within the same tick (its step set no later poll time):
                    # leave it for the next tick rather than spin on it.
                    done = (request_id, None)
                    return
                keeper.hold(request_id)
                # Should the step not return (an interrupt), it is given back all the same.
                done = (request_id, now + timedelta(seconds=ctx.config.poll_interval))
                ok, next_poll_at = _advance_one(ctx, claimed, now, stopping)
                keeper.hold(None)
                done = (request_id, next_poll_at)
                tally.record(request_id, ok=ok)
        finally:
            if done is not None:
                # Leaving (none due, a stop, or an error): give back the one in hand.
                release_or_owe(ctx, done[0], owner, done[1])


def _stopping(stopping: threading.Event | None) -> bool:
    return stopping is not None and stopping.is_set()


def _work_side_by_side(
    ctx: Context, now: datetime, tally: _Tally, workers: int, stopping: threading.Event | None
) -> None:
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        try:
            _work(ctx, owner, now, tally, stopping)
        except BaseException as error:  # handed to the tick's caller below
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(f"{ctx.owner}/poll-{n}",), name=f"ecsbot-poll-{n}")
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        # The database went away, most likely: the tick failed as a whole, as it does
        # with one worker.
        raise errors[0]


def _advance_one(
    ctx: Context,
    claimed: Claimed,
    now: datetime,
    stopping: threading.Event | None = None,
) -> tuple[bool, datetime | None]:
    """One step for one leased request: whether it went well (a failed step is logged,
    and the request is due again after one poll interval), and when the request is next
    due, for the release."""
    # A broken request must not be retried in a tight loop, nor stop the others.
    next_poll_at: datetime | None = now + timedelta(seconds=ctx.config.poll_interval)
    ok = False
    try:
        with request_context(claimed.request_id):
            step = advance(ctx, claimed.request_id, now=now, loaded=claimed.request)
            next_poll_at = step.next_poll_at
        ok = True
    except Exception:
        log.exception("advancing request %s failed", claimed.request_id)
    if _stopping(stopping):
        # Shutting down: hand it back due now, not after this step's wait, so the
        # replica that takes over polls it on its very next tick.
        next_poll_at = ctx.clock()
    return ok, next_poll_at


class Poller:
    """Runs ``poll_once`` every ``interval`` seconds in a thread until stopped."""

    def __init__(
        self,
        ctx: Context,
        *,
        interval: float,
        workers: int = WORKERS,
        watch: EventWatch | None = None,
    ) -> None:
        self._ctx = ctx
        # The platform event watch (§5.11): a thread of its own, so that a slow or
        # throttled DescribeInstanceHistoryEvents never holds up the requests' polls.
        self._watch = watch
        self._watch_thread: threading.Thread | None = None
        self._interval = interval
        self._workers = workers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> PollReport:
        started = time.perf_counter()
        try:
            report = poll_once(
                self._ctx, self._ctx.clock(), workers=self._workers, stopping=self._stop
            )
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
        if self._watch is not None:
            self._watch_thread = threading.Thread(
                target=self._run_watch, name="ecsbot-events", daemon=True
            )
            self._watch_thread.start()

    def _run_watch(self) -> None:
        """A pass whenever one is due (the watch's lease and ``next_pass_at`` decide);
        asking costs one conditional UPDATE, so it is asked every few seconds."""
        assert self._watch is not None
        every = min(self._watch.config.interval, WATCH_ASK_SECONDS)
        while not self._stop.is_set():
            try:
                self._watch.tick()
            except Exception:
                log.exception("the platform event watch failed; trying again in %.1f s", every)
            self._stop.wait(every)

    def stop_soon(self) -> None:
        """Ask the loop to stop after the current tick (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let the step in hand finish and give its lease back due now
        (waiting at most ``timeout`` seconds: see :attr:`busy`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        if self._watch_thread is not None:
            self._watch_thread.join(timeout=timeout)

    @property
    def busy(self) -> bool:
        """Whether the loop's thread is still running (after ``stop``: it overran)."""
        return self._thread is not None and self._thread.is_alive()

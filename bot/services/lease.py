"""Short leases, renewed while the work goes on.

A request is leased to one worker (a poller, or the confirm worker sending the reboot
calls) while that worker advances it. The lease is short, so that a process that dies
holds nothing for long and another replica takes over soon; a heartbeat thread renews
it while the worker is still busy (slow ECS answers, retries with backoff), so a live
worker never loses the request in the middle of a step.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from bot.domain.errors import StoreUnavailable
from bot.domain.request import RebootRequest
from bot.services.context import Context
from bot.services.ports import UnitOfWork

log = logging.getLogger(__name__)

# A dead worker's request is taken over after this long.
LEASE_SECONDS = 30.0
# Renewed this often while held: three renewals may fail before the lease runs out.
RENEW_EVERY_SECONDS = LEASE_SECONDS / 4


class LeaseKeeper:
    """Renews the lease of the request a worker is holding, from a thread of its own.

    Use as a context manager around a worker's loop; :meth:`hold` names the request
    being worked on (``None`` between requests). The worker still releases the lease
    itself; the keeper only keeps it from running out meanwhile.
    """

    def __init__(self, ctx: Context, owner: str, *, every: float = RENEW_EVERY_SECONDS) -> None:
        self._ctx = ctx
        self._owner = owner
        self._every = every
        self._held: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._run, name="ecsbot-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def hold(self, request_id: str | None) -> None:
        with self._lock:
            self._held = request_id

    def renew(self) -> bool:
        """Extend the held lease now; False when nothing is held or the lease is lost."""
        with self._lock:
            request_id = self._held
        if request_id is None:
            return False
        return renew(self._ctx, request_id, self._owner)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.renew()
            except Exception:
                # The database may be away for a moment; the next beat tries again.
                log.warning("renewing the lease failed", exc_info=True)


def renew(ctx: Context, request_id: str, owner: str) -> bool:
    """Extend ``owner``'s lease on ``request_id`` by :data:`LEASE_SECONDS` from now;
    False when ``owner`` no longer holds it (it ran out and another worker took it)."""
    with ctx.uow(durable=False) as uow:
        held = uow.leases.renew_lease(request_id, owner, ctx.clock(), LEASE_SECONDS)
        uow.commit()
    return held


def release(ctx: Context, request_id: str, owner: str, next_poll_at: datetime | None) -> None:
    """Give ``owner``'s lease back, setting when the next poll is due (unchanged when
    None) in the same statement."""
    with ctx.uow(durable=False) as uow:
        uow.leases.release(request_id, owner, next_poll_at=next_poll_at)
        uow.commit()


def settle_owed(ctx: Context) -> list[str]:
    """Give back, due now, every lease this process owes (``Context.owed_releases``);
    the ids given back. Raises StoreUnavailable, keeping what is still owed, while the
    database is away. Called first in each poller tick."""
    settled = []
    for request_id, owner in ctx.owed_releases.owed().items():
        release(ctx, request_id, owner, ctx.clock())
        ctx.owed_releases.paid(request_id, owner)
        settled.append(request_id)
    return settled


def release_or_owe(
    ctx: Context, request_id: str, owner: str, next_poll_at: datetime | None
) -> None:
    """:func:`release`, or, while the database is away, a debt the next poller tick
    pays (:func:`settle_owed`)."""
    try:
        release(ctx, request_id, owner, next_poll_at)
    except StoreUnavailable as error:
        log.warning("lease on request %s not given back yet: %s", request_id, error)
        ctx.owed_releases.owe(request_id, owner)


def hand_over(
    ctx: Context,
    owner: str,
    now: datetime,
    done: tuple[str, datetime | None] | None,
    candidates: list[str] | None,
) -> Claimed | None:
    """Give back the lease on the request just stepped (``done``: its id and next poll
    time, as :func:`release`), then claim the next due request and read it, all in one
    transaction: one per request stepped, besides the step's own writes.

    ``candidates``: due requests peeked earlier (``LeaseStore.peek_due``), tried in turn
    and consumed; a few more are peeked when they run out. Claiming a known id is a
    primary-key update, where picking the most overdue request sorts every due one.
    None: claim nothing (stopping, or the tick is full). Returns what was claimed, or
    None. While the database is away the release becomes a debt (:func:`release_or_owe`)
    and ``StoreUnavailable`` is raised."""
    try:
        with ctx.uow(durable=False) as uow:
            if done is not None:
                uow.leases.release(done[0], owner, next_poll_at=done[1])
            claimed = _claim_next(uow, owner, now, candidates)
            uow.commit()
    except StoreUnavailable:
        if done is not None:
            ctx.owed_releases.owe(done[0], owner)
        raise
    return claimed


# Due requests peeked at once for a worker to claim one by one.
PEEK = 8


def _claim_next(
    uow: UnitOfWork, owner: str, now: datetime, candidates: list[str] | None
) -> Claimed | None:
    if candidates is None:
        return None
    if not candidates:
        candidates.extend(uow.leases.peek_due(owner, now, PEEK))
    while candidates:
        request_id = candidates.pop(0)
        # A candidate another worker took, or stepped already, is passed over.
        if uow.leases.claim(request_id, owner, now, LEASE_SECONDS):
            return Claimed(request_id, uow.requests.get(request_id))
    return None


@dataclass(frozen=True)
class Claimed:
    """A request a worker now holds, as read in the transaction that claimed it (None if
    it is gone)."""

    request_id: str
    request: RebootRequest | None

"""The leases pollers (and the confirm worker) hold on ``executing`` requests.

The poller claims and releases one request at a time, hundreds a tick; building these
statements anew each time cost more than running them, so they are built once. Values
come as bind parameters (``:owner``, ``:now``, …), typed by the columns they are
compared with.
"""

from __future__ import annotations

import builtins
import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from bot.db.repositories.rows import REQUESTS, rowcount
from bot.db.repositories.source import ConnectionSource
from bot.domain.model import RequestState


class LeaseRepository:
    """Who advances which ``executing`` request: one holder at a time, and a lease that
    runs out, so a dead worker's request is taken over."""

    def __init__(self, session: ConnectionSource) -> None:
        self._session = session

    def peek_due(self, owner: str, now: datetime, limit: int) -> builtins.list[str]:
        """Up to ``limit`` requests ``owner`` may claim now, never-polled first, then the
        most overdue, leasing none: candidates for :meth:`claim`, which decides.

        Due: ``next_poll_at`` is unset or not after ``now``; free: no lease, an expired
        lease (its poller died), or a lease ``owner`` already holds."""
        return builtins.list(
            self._connection()
            .execute(_peek_statement(limit), {"owner": owner, "now": now})
            .scalars()
        )

    def claim(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Lease ``request_id`` to ``owner`` if it is still running, due and free (the
        conditions of :meth:`peek_due`); False when not (another worker took it, or it
        moved on). Two owners never hold the same request."""
        values = {
            "request_id": request_id,
            "owner": owner,
            "now": now,
            "expires": now + timedelta(seconds=lease_seconds),
        }
        connection = self._connection()
        return rowcount(connection.execute(_claim_one(connection.dialect.name), values)) == 1

    def renew_lease(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Extend ``owner``'s lease; False when it no longer holds it."""
        result = self._connection().execute(
            _RENEW,
            {
                "request_id": request_id,
                "owner": owner,
                "expires": now + timedelta(seconds=lease_seconds),
            },
        )
        return rowcount(result) == 1

    def release(self, request_id: str, owner: str, *, next_poll_at: datetime | None = None) -> bool:
        """Give the lease back so any poller may take the next poll, setting when that
        is due (``next_poll_at``) in the same statement; False when ``owner`` did not
        hold it."""
        values: dict[str, Any] = {"request_id": request_id, "owner": owner}
        if next_poll_at is None:
            result = self._connection().execute(_RELEASE, values)
        else:
            result = self._connection().execute(_RELEASE_UNTIL, {**values, "poll_at": next_poll_at})
        return rowcount(result) == 1

    def _connection(self) -> Connection:
        return self._session.connection()


def _claimable() -> ColumnElement[bool]:
    row = REQUESTS.c
    free = or_(
        row.lease_owner.is_(None),
        row.lease_expires_at <= bindparam("now"),
        row.lease_owner == bindparam("owner"),
    )
    due = or_(row.next_poll_at.is_(None), row.next_poll_at <= bindparam("now"))
    # Paused rollouts too: the wave in flight when it was paused is still watched. And
    # scheduled requests, at their reminder and their start (next_poll_at): the lease
    # keeps a second replica off while one checks and starts it.
    # Equalities rather than IN (…): a list of values becomes an "expanding" parameter
    # SQLAlchemy renders anew at every execution, twice per claim, hundreds a tick.
    running = or_(
        row.state == RequestState.EXECUTING.value,
        row.state == RequestState.PAUSED.value,
        row.state == RequestState.SCHEDULED.value,
    )
    return and_(running, free, due)


# Most overdue first; never-polled (just confirmed) requests before all.
_CLAIM_ORDER = (
    REQUESTS.c.next_poll_at.asc().nulls_first(),
    REQUESTS.c.created_at,
    REQUESTS.c.id,
)


@functools.cache
def _peek_statement(limit: int) -> Any:
    return select(REQUESTS.c.id).where(_claimable()).order_by(*_CLAIM_ORDER).limit(limit)


@functools.cache
def _claim_one(dialect: str) -> Any:
    """One request by its id, on the claim conditions: a primary-key update, no sort.

    On PostgreSQL the row is locked with SKIP LOCKED first, in the same statement: a row
    another poller (or a click) is writing right now is passed over, not waited for.
    SQLite has no row locks (its write lock serialises claimers)."""
    row = REQUESTS.c
    where = [row.id == bindparam("request_id"), _claimable()]
    if dialect == "postgresql":
        locked = select(row.id).where(*where).with_for_update(skip_locked=True)
        # The conditions again in the update, on the row as it is now.
        where = [row.id.in_(locked.scalar_subquery()), _claimable()]
    return (
        update(REQUESTS)
        .where(*where)
        .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("expires"))
    )


def _held_by_owner() -> ColumnElement[bool]:
    return and_(
        REQUESTS.c.id == bindparam("request_id"), REQUESTS.c.lease_owner == bindparam("owner")
    )


_RENEW = update(REQUESTS).where(_held_by_owner()).values(lease_expires_at=bindparam("expires"))
_RELEASE = update(REQUESTS).where(_held_by_owner()).values(lease_owner=None, lease_expires_at=None)
_RELEASE_UNTIL = _RELEASE.values(next_poll_at=bindparam("poll_at"))

"""Reboot requests and their instances."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.repositories.memo import TwoGenerations
from bot.db.repositories.rows import (
    APPROVALS,
    GET_INSTANCES,
    GET_REQUEST,
    INSTANCES,
    REQUESTS,
    SELECT_APPROVALS,
    SELECT_REQUEST,
    SELECT_STORED_INSTANCES,
    instance_from_stored,
    instance_row,
    instance_update_values,
    instance_values,
    new_instances_token,
    request_from_row,
    request_row,
    request_update_values,
    rowcount,
)
from bot.db.repositories.source import ConnectionSource
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState
from bot.domain.request import Approval, PlannedInstance, RebootRequest, may_follow
from bot.services.ports import InstanceUpdate, Lease, RequestUpdate

# Each request's instances as last read, by the request's ``version`` and
# ``instances_token`` (docs/decisions/0015); a few ticks' worth of requests in flight.
_INSTANCES_READ: TwoGenerations[tuple[str, int, str], tuple[PlannedInstance, ...]] = TwoGenerations(
    2_000
)


class RequestRepository:
    """Reboot requests and their instances (the leases on them: ``LeaseRepository``)."""

    def __init__(self, session: ConnectionSource) -> None:
        self._session = session

    def add(self, request: RebootRequest) -> None:
        """Store a new request with its instances (flushed, not committed).

        Raises ``sqlalchemy.exc.IntegrityError`` when the id is already taken.
        """
        # The instances in one executemany: a preview stores up to 500 of them.
        connection = self._connection()
        row = request_row(request)
        connection.execute(insert(REQUESTS), row)
        if request.instances:
            connection.execute(
                insert(INSTANCES),
                [instance_row(request.id, instance) for instance in request.instances],
            )
        # Read back as stored, so the rows are decoded here (a preview, after its ack)
        # rather than by the first click on it, before its ack (rows.instance_from_stored).
        instances = tuple(
            map(instance_from_stored, connection.execute(GET_INSTANCES, {"request_id": request.id}))
        )
        _INSTANCES_READ.put((request.id, row["version"], row["instances_token"]), instances)

    def get(self, request_id: str) -> RebootRequest | None:
        """The request with its instances in the order the user gave, or None."""
        # Statements built once (the poller loads every in-flight request each tick,
        # 100 instances each).
        connection = self._connection()
        row = connection.execute(GET_REQUEST, {"request_id": request_id}).one_or_none()
        if row is None:
            return None
        *values, version, token = row
        # The instance rows are read again only once they changed (docs/decisions/0015):
        # from one tick to the next, most requests in flight are unchanged.
        # A row from before migration 0014 has no token until its instances are first
        # written: it is read every time, as its key could be another database's.
        key = (request_id, version, token)
        instances = _INSTANCES_READ.get(key) if token else None
        if instances is None:
            rows = connection.execute(GET_INSTANCES, {"request_id": request_id})
            # Rows as stored, each distinct row decoded once (rows.instance_from_stored).
            instances = tuple(map(instance_from_stored, rows))
            if token:
                _INSTANCES_READ.put(key, instances)
        # Approvals exist only where a rule asked for them: most requests, and the
        # poller's every tick, skip the statement.
        approvals = (
            self._approvals([request_id]).get(request_id, ()) if row.approvals_needed else ()
        )
        return request_from_row(values, instances, approvals)

    def _approvals(self, request_ids: builtins.list[str]) -> dict[str, tuple[Approval, ...]]:
        found: dict[str, builtins.list[Approval]] = {}
        for request_id, *values in self._connection().execute(
            SELECT_APPROVALS, {"request_ids": request_ids}
        ):
            found.setdefault(request_id, []).append(Approval(*values))
        return {request_id: tuple(approvals) for request_id, approvals in found.items()}

    def list_recent(
        self,
        limit: int = 20,
        *,
        state: RequestState | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> builtins.list[RebootRequest]:
        """Newest first (``history``); ``user`` filters on the requester and ``since``
        keeps requests created at or after that moment."""
        query = SELECT_REQUEST.order_by(REQUESTS.c.created_at.desc(), REQUESTS.c.id.desc()).limit(
            limit
        )
        if state is not None:
            query = query.where(REQUESTS.c.state == state.value)
        if user is not None:
            query = query.where(REQUESTS.c.requester == user)
        if since is not None:
            query = query.where(REQUESTS.c.created_at >= since)
        connection = self._connection()
        rows = connection.execute(query).fetchall()
        if not rows:
            return []
        instances: dict[str, builtins.list[PlannedInstance]] = {row.id: [] for row in rows}
        for values in connection.execute(
            SELECT_STORED_INSTANCES.add_columns(INSTANCES.c.request_id)
            .where(INSTANCES.c.request_id.in_(builtins.list(instances)))
            .order_by(INSTANCES.c.request_id, INSTANCES.c.position)
        ):
            instances[values[-1]].append(instance_from_stored(values[:-1]))
        approvals = self._approvals(builtins.list(instances))
        return [
            request_from_row(row, tuple(instances[row.id]), approvals.get(row.id, ()))
            for row in rows
        ]

    def transition(
        self,
        request_id: str,
        from_states: RequestState | Iterable[RequestState],
        to_state: RequestState,
        changes: RequestUpdate | None = None,
        *,
        lease: Lease | None = None,
        unstopped: bool = False,
    ) -> bool:
        """Move the request to ``to_state`` if it is still in one of ``from_states``
        (and, with ``unstopped``, no stop is recorded: see ``RequestStore.transition``),
        writing ``changes`` and taking ``lease`` in the same statement (the worker that
        wins ``previewed → executing`` holds the request while it sends the calls).

        True means this caller won: exactly one of any number of concurrent callers
        (double clicks, Slack retries, replicas) sees True for the same move. Moving to
        a final state also drops the lease and the next poll time: a finished request
        is never polled again.
        """
        sources = (
            [from_states] if isinstance(from_states, RequestState) else builtins.list(from_states)
        )
        if not sources:
            raise ValueError("transition needs at least one state to move from")
        for source in sources:
            if not may_follow(source, to_state):
                raise ValueError(f"a request cannot move from {source} to {to_state}")
        values = request_update_values(changes) if changes is not None else {}
        values["state"] = to_state.value
        if lease is not None:
            values.update(lease_owner=lease.owner, lease_expires_at=lease.expires_at)
        if to_state.is_final:
            values.update(
                lease_owner=None, lease_expires_at=None, next_poll_at=None, message_redraw_due=True
            )
        statement = _transition_statement(
            tuple(source.value for source in sources), tuple(sorted(values)), unstopped
        )
        result = self._connection().execute(
            statement,
            {"match_request_id": request_id, **{f"new_{k}": v for k, v in values.items()}},
        )
        return rowcount(result) == 1

    def set_fields(
        self,
        request_id: str,
        changes: RequestUpdate,
        *,
        owner: str | None = None,
        while_in: RequestState | None = None,
    ) -> bool:
        """Write bookkeeping fields (message ts, progress text, next poll time, …)
        without changing the state.

        With ``owner``, the write happens only while that poller still holds the lease
        (a poller whose lease was taken over must not overwrite the new owner's work);
        with ``while_in``, only while the request is in that state, in the same
        statement (an Abort must not mark a request that has just finished). False when
        the request does not exist or a condition does not hold.
        """
        return self._bump(request_id, owner, while_in, **request_update_values(changes))

    def update_instances(
        self,
        request_id: str,
        changes: Mapping[InstanceRef, InstanceUpdate],
        *,
        owner: str | None = None,
    ) -> bool:
        """Apply one poll's (or one reboot batch's) changes to several instances.

        Bumps the request's ``version`` once. With ``owner``, nothing is written unless
        that poller still holds the lease; on PostgreSQL the bump also locks the
        request row, so a takeover waits until this unit of work ends. False when the
        lease check fails or an instance is not part of the request.
        """
        return self._write_instances(
            request_id,
            {ref: instance_update_values(change) for ref, change in changes.items()},
            owner,
        )

    def save_instances(
        self,
        request_id: str,
        instances: Iterable[PlannedInstance],
        *,
        owner: str | None = None,
    ) -> bool:
        """Write every mutable field of these snapshots, matched by region and instance
        id; the use cases' way to persist a ``dataclasses.replace``-d instance. Returns
        as :meth:`update_instances`."""
        return self._write_instances(
            request_id, {instance.ref: instance_values(instance) for instance in instances}, owner
        )

    def skip_pending(self, request_id: str) -> None:
        """Every instance of the request still ``pending`` and never sent ends
        ``skipped`` (cancelled, expired, or its verdict was not "will reboot"). One sent
        whose answer was lost stays ``pending`` until it is resolved."""
        connection = self._connection()
        skipped = connection.execute(
            update(INSTANCES)
            .where(
                INSTANCES.c.request_id == request_id,
                INSTANCES.c.outcome == InstanceOutcome.PENDING.value,
                INSTANCES.c.reboot_sent_at.is_(None),
            )
            .values(outcome=InstanceOutcome.SKIPPED.value)
        )
        if rowcount(skipped):
            connection.execute(
                update(REQUESTS)
                .where(REQUESTS.c.id == request_id)
                .values(version=REQUESTS.c.version + 1, instances_token=new_instances_token())
            )

    def expire_due(self, now: datetime) -> builtins.list[str]:
        """Move every ``previewed`` request whose buttons expired (``expires_at`` not
        after ``now``), and every one ``awaiting_approval`` whose wait ended
        (``approval_expires_at``), to ``expired``; returns the ids this caller expired,
        sorted, so each expiry is announced and audited once."""
        expired = self._connection().execute(
            update(REQUESTS)
            .where(
                or_(
                    and_(
                        REQUESTS.c.state == RequestState.PREVIEWED.value,
                        REQUESTS.c.expires_at <= now,
                    ),
                    and_(
                        REQUESTS.c.state == RequestState.AWAITING_APPROVAL.value,
                        REQUESTS.c.approval_expires_at <= now,
                    ),
                )
            )
            .values(
                state=RequestState.EXPIRED.value,
                finished_at=now,
                message_redraw_due=True,
                version=REQUESTS.c.version + 1,
            )
            .returning(REQUESTS.c.id)
        )
        return sorted(expired.scalars())

    def add_approval(self, request_id: str, user: str, at: datetime) -> bool | None:
        """Record an approval (see ``RequestStore.add_approval``). The version bump,
        conditional on the state, locks the request row until the unit of work ends (on
        SQLite the first write takes the database's write lock), so the approvals
        counted after it include every approval committed before: two approvers who
        click at once cannot both count one and leave the request waiting forever."""
        connection = self._connection()
        locked = connection.execute(
            update(REQUESTS)
            .where(
                REQUESTS.c.id == request_id,
                REQUESTS.c.state == RequestState.AWAITING_APPROVAL.value,
            )
            .values(version=REQUESTS.c.version + 1)
        )
        if rowcount(locked) != 1:
            return None
        dialect = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        inserted = connection.execute(
            dialect(APPROVALS)
            .values(request_id=request_id, user=user, at=at)
            .on_conflict_do_nothing(index_elements=["request_id", "user"])
            # RETURNING rather than rowcount: on PostgreSQL (psycopg) the count did not
            # tell a new row from a conflict here; a returned id does, on both.
            .returning(APPROVALS.c.id)
        )
        return inserted.first() is not None

    def claim_retry(self, request_id: str, retry_id: str) -> bool:
        """Set ``retried_by_request`` if it is unset (see ``RequestStore.claim_retry``)."""
        result = self._connection().execute(
            update(REQUESTS)
            .where(REQUESTS.c.id == request_id, REQUESTS.c.retried_by_request.is_(None))
            .values(retried_by_request=retry_id, version=REQUESTS.c.version + 1)
        )
        return rowcount(result) == 1

    def release_retry(self, request_id: str, retry_id: str) -> None:
        self._connection().execute(
            update(REQUESTS)
            .where(REQUESTS.c.id == request_id, REQUESTS.c.retried_by_request == retry_id)
            .values(retried_by_request=None, version=REQUESTS.c.version + 1)
        )

    def redraw_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> builtins.list[str]:
        """Finished requests whose message does not show their final state yet, oldest
        first: those finished between ``finished_after`` and ``finished_before``, so the
        worker that finished one gets the first go at drawing it, and a message Slack
        keeps refusing (deleted, say) is not tried forever."""
        return self._due(REQUESTS.c.message_redraw_due, finished_before, finished_after, limit)

    def notify_end_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> builtins.list[str]:
        """Finished requests whose end the notify channel was not told yet; the same
        window as :meth:`redraw_due`."""
        return self._due(REQUESTS.c.notify_end_due, finished_before, finished_after, limit)

    def _due(
        self,
        flag: Column[Any],
        finished_before: datetime,
        finished_after: datetime,
        limit: int,
    ) -> builtins.list[str]:
        ids = self._connection().execute(
            select(REQUESTS.c.id)
            .where(
                flag.is_(True),
                REQUESTS.c.finished_at <= finished_before,
                REQUESTS.c.finished_at >= finished_after,
            )
            .order_by(REQUESTS.c.finished_at, REQUESTS.c.id)
            .limit(limit)
        )
        return builtins.list(ids.scalars())

    def _write_instances(
        self, request_id: str, changes: Mapping[InstanceRef, Mapping[str, Any]], owner: str | None
    ) -> bool:
        if not self._bump(request_id, owner, instances_token=new_instances_token()):
            return False
        # One statement per set of fields changed, run for every instance at once
        # (executemany): a confirm saves 100 instances several times, and building an
        # UPDATE per instance cost more CPU than anything else after the click.
        batches: dict[tuple[str, ...], builtins.list[dict[str, Any]]] = {}
        for ref, values in changes.items():
            if values:
                names = tuple(sorted(values))
                batches.setdefault(names, []).append(
                    {
                        "match_request_id": request_id,
                        "match_region": ref.region,
                        "match_instance_id": ref.instance_id,
                        **{f"new_{name}": values[name] for name in names},
                    }
                )
        connection = self._connection()
        all_found = True
        for names, rows in batches.items():
            result = connection.execute(_update_instances_statement(names), rows)
            all_found = all_found and rowcount(result) == len(rows)
        return all_found

    def _bump(
        self,
        request_id: str,
        owner: str | None,
        while_in: RequestState | None = None,
        **values: Any,
    ) -> bool:
        statement = _bump_statement(
            owner is not None, None if while_in is None else while_in.value, tuple(sorted(values))
        )
        result = self._connection().execute(
            statement,
            {
                "match_request_id": request_id,
                "match_owner": owner,
                **{f"new_{k}": v for k, v in values.items()},
            },
        )
        return rowcount(result) == 1

    def _connection(self) -> Connection:
        return self._session.connection()


@functools.cache
def _update_instances_statement(names: tuple[str, ...]) -> Any:
    """``UPDATE reboot_instances SET <names> WHERE <one instance of one request>``, with
    the values as ``new_<name>`` and the match as ``match_*`` bind parameters."""
    return (
        update(INSTANCES)
        .where(
            INSTANCES.c.request_id == bindparam("match_request_id"),
            INSTANCES.c.region == bindparam("match_region"),
            INSTANCES.c.instance_id == bindparam("match_instance_id"),
        )
        .values({name: bindparam(f"new_{name}") for name in names})
    )


# The request-row updates, built once per shape (the states, the fields written): a
# click's conditional move runs before its ack, and building an UPDATE cost more than
# running it.


@functools.cache
def _transition_statement(sources: tuple[str, ...], names: tuple[str, ...], unstopped: bool) -> Any:
    condition = [
        REQUESTS.c.id == bindparam("match_request_id"),
        REQUESTS.c.state.in_(sources),
    ]
    if unstopped:
        condition.append(REQUESTS.c.stop_reason.is_(None))
    return (
        update(REQUESTS)
        .where(*condition)
        .values(
            version=REQUESTS.c.version + 1,
            **{name: bindparam(f"new_{name}") for name in names},
        )
    )


@functools.cache
def _bump_statement(by_owner: bool, while_in: str | None, names: tuple[str, ...]) -> Any:
    condition = [REQUESTS.c.id == bindparam("match_request_id")]
    if by_owner:
        condition.append(REQUESTS.c.lease_owner == bindparam("match_owner"))
    if while_in is not None:
        condition.append(REQUESTS.c.state == while_in)
    return (
        update(REQUESTS)
        .where(*condition)
        .values(
            version=REQUESTS.c.version + 1,
            **{name: bindparam(f"new_{name}") for name in names},
        )
    )

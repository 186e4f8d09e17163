"""Repositories: the only code that reads and writes the tables.

Every repository works inside the caller's ``Session`` and never commits: the
:class:`~bot.db.unit_of_work.UnitOfWork` decides when a change becomes durable.

What goes in and out is always a frozen snapshot, never an ORM row:
:class:`~bot.domain.request.RebootRequest` (with its ``PlannedInstance`` tuple, ordered
by the position the user gave), :class:`~bot.domain.policy.Binding` (or
:class:`BindingRecord` when who granted it matters) and :class:`AuditEntry`. Nothing
outside ``bot.db`` can therefore lazily load, mutate or accidentally flush a row.

Writes that decide who acts (``transition``, ``claim_due``, ``expire_due``, ``grant``)
are conditional statements whose result says who won, so they are race-free across
threads, processes and replicas at the default isolation level. No method reads the
clock: ``now`` is passed in.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from bot.db.tables import AuditLogRow, RebootInstanceRow, RebootRequestRow, RoleBindingRow
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Role, Verdict
from bot.domain.policy import Binding
from bot.domain.request import PlannedInstance, RebootRequest, may_follow

# Request columns a caller may set through ``transition`` and ``set_fields``. ``state``
# only moves through ``transition``; the lease only through ``claim_due``,
# ``renew_lease`` and ``release``; ``version`` is bumped by the repository itself.
REQUEST_FIELDS = frozenset(
    {
        "confirmed_by",
        "confirmed_at",
        "cancelled_by",
        "cancelled_at",
        "finished_at",
        "message_ts",
        "notify_ts",
        "permalink",
        "progress_text",
        "reported_at",
        "next_poll_at",
        "message_redraw_due",
        "notify_end_due",
    }
)

# ``transition`` may also take the lease in the same statement: the worker that wins
# ``previewed → executing`` holds the request while it sends the reboot calls.
TRANSITION_FIELDS = REQUEST_FIELDS | {"lease_owner", "lease_expires_at"}

# Instance columns the executor and the poller may set. Identity (request, region,
# instance id) and ``position`` are fixed when the request is added.
INSTANCE_FIELDS = frozenset(
    {
        "name",
        "zone",
        "status",
        "tags",
        "verdict",
        "verdict_code",
        "verdict_message",
        "outcome",
        "code",
        "message",
        "api_request_id",
        "reboot_sent_at",
        "reboot_acked_at",
        "start_time_before",
        "seen_leaving_running",
        "finished_at",
        "reported_outcome",
    }
)


@dataclass(frozen=True)
class BindingRecord:
    """A stored role binding with who granted it and when (``roles list``)."""

    binding: Binding
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail."""

    id: int
    at: datetime
    actor: str
    action: str
    request_id: str | None
    detail: Mapping[str, Any]


def _checked(fields: Mapping[str, object], allowed: frozenset[str], what: str) -> dict[str, Any]:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        # A typo here would otherwise be a silently lost write.
        raise TypeError(f"{what} cannot set {', '.join(unknown)}")
    # Enum members are stored by value; unwrap them so every driver sees a plain str.
    values = {k: v.value if isinstance(v, Enum) else v for k, v in fields.items()}
    if "tags" in values and values["tags"] is not None:
        values["tags"] = dict(cast(Mapping[str, str], values["tags"]))
    return values


def _rowcount(result: object) -> int:
    return cast(CursorResult[Any], result).rowcount


class RequestRepository:
    """Reboot requests and their instances, and the leases pollers hold on them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, request: RebootRequest) -> None:
        """Store a new request with its instances (flushed, not committed).

        Raises ``sqlalchemy.exc.IntegrityError`` when the id is already taken.
        """
        # Core inserts (the instances in one executemany), not ORM objects: a preview
        # stores up to 500 instances, and the unit-of-work machinery for each row cost
        # more than the rows themselves.
        connection = self._session.connection()
        connection.execute(
            insert(RebootRequestRow),
            {
                "id": request.id,
                "state": request.state.value,
                "force": request.force,
                "requester": request.requester,
                "channel": request.channel,
                "command_text": request.command_text,
                "created_at": request.created_at,
                "expires_at": request.expires_at,
                "confirmed_by": request.confirmed_by,
                "confirmed_at": request.confirmed_at,
                "cancelled_by": request.cancelled_by,
                "cancelled_at": request.cancelled_at,
                "finished_at": request.finished_at,
                "message_ts": request.message_ts,
                "notify_ts": request.notify_ts,
                "permalink": request.permalink,
                "progress_text": request.progress_text,
                "reported_at": request.reported_at,
                "message_redraw_due": request.message_redraw_due,
                "notify_end_due": request.notify_end_due,
                "version": 0,
            },
        )
        if request.instances:
            connection.execute(
                insert(RebootInstanceRow),
                [
                    {
                        "request_id": request.id,
                        "region": instance.ref.region,
                        "instance_id": instance.ref.instance_id,
                        "position": instance.position,
                        **_instance_values(instance),
                    }
                    for instance in request.instances
                ],
            )

    def get(self, request_id: str) -> RebootRequest | None:
        """The request with its instances in the order the user gave, or None."""
        # Plain column rows, not mapped objects, from statements built once and run on
        # the session's connection (past the ORM's per-statement work): the poller loads
        # every in-flight request each tick, 100 instances each.
        connection = self._session.connection()
        row = connection.execute(_GET_REQUEST, {"request_id": request_id}).one_or_none()
        if row is None:
            return None
        rows = connection.execute(_GET_INSTANCES, {"request_id": request_id}).fetchall()
        return _to_request(row, tuple(_unpack_instance(*values) for values in rows))

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
        query = (
            select(RebootRequestRow)
            .options(selectinload(RebootRequestRow.instances))
            .order_by(RebootRequestRow.created_at.desc(), RebootRequestRow.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if state is not None:
            query = query.where(RebootRequestRow.state == state.value)
        if user is not None:
            query = query.where(RebootRequestRow.requester == user)
        if since is not None:
            query = query.where(RebootRequestRow.created_at >= since)
        return [
            _to_request(row, tuple(_to_instance(instance) for instance in row.instances))
            for row in self._session.scalars(query)
        ]

    def transition(
        self,
        request_id: str,
        from_states: RequestState | Iterable[RequestState],
        to_state: RequestState,
        **fields: object,
    ) -> bool:
        """Move the request to ``to_state`` if it is still in one of ``from_states``,
        setting ``fields`` (see :data:`REQUEST_FIELDS`) in the same statement.

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
        values = _checked(fields, TRANSITION_FIELDS, "transition")
        values["state"] = to_state.value
        if to_state.is_final:
            values.update(
                lease_owner=None, lease_expires_at=None, next_poll_at=None, message_redraw_due=True
            )
        result = self._session.execute(
            update(RebootRequestRow)
            .where(
                RebootRequestRow.id == request_id,
                RebootRequestRow.state.in_([source.value for source in sources]),
            )
            .values(version=RebootRequestRow.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    def set_fields(self, request_id: str, *, owner: str | None = None, **fields: object) -> bool:
        """Set bookkeeping fields (message ts, progress text, next poll time, …; see
        :data:`REQUEST_FIELDS`) without changing the state.

        With ``owner``, the write happens only while that poller still holds the lease
        (a poller whose lease was taken over must not overwrite the new owner's work).
        False when the request does not exist or the lease is someone else's.
        """
        values = _checked(fields, REQUEST_FIELDS, "set_fields")
        return self._bump(request_id, owner, **values)

    def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int = 10
    ) -> builtins.list[str]:
        """Lease up to ``limit`` executing requests that are due for a poll to ``owner``.

        Due: ``next_poll_at`` is unset or not after ``now``; free: no lease, an expired
        lease (its poller died), or a lease ``owner`` already holds. Returns the ids
        this owner now holds, oldest poll time first; two owners never get the same id.
        """
        statements = _claim_statements(self._dialect, limit)
        values = {
            "owner": owner,
            "now": now,
            "expires": now + timedelta(seconds=lease_seconds),
        }
        if statements.lock is not None:
            # PostgreSQL: lock the candidates, passing over rows another poller is
            # claiming right now, so concurrent pollers split the work instead of queueing.
            ids = builtins.list(self._session.scalars(statements.lock, values))
            if not ids:
                return []
            values["ids"] = ids
        won = builtins.list(self._session.scalars(statements.claim, values))
        if len(won) <= 1:
            return won
        # RETURNING promises no order; callers (and logs) get the claim order.
        return builtins.list(self._session.scalars(statements.in_claim_order, {"ids": won}))

    def renew_lease(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Extend ``owner``'s lease; False when it no longer holds it."""
        result = self._session.execute(
            update(RebootRequestRow)
            .where(RebootRequestRow.id == request_id, RebootRequestRow.lease_owner == owner)
            .values(
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                version=RebootRequestRow.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    def release(self, request_id: str, owner: str, *, next_poll_at: datetime | None = None) -> bool:
        """Give the lease back so any poller may take the next poll, setting when that
        is due (``next_poll_at``) in the same statement; False when ``owner`` did not
        hold it."""
        if next_poll_at is None:
            result = self._session.execute(_RELEASE, {"request_id": request_id, "owner": owner})
        else:
            result = self._session.execute(
                _RELEASE_UNTIL,
                {"request_id": request_id, "owner": owner, "poll_at": next_poll_at},
            )
        return _rowcount(result) == 1

    def update_instance(
        self, request_id: str, ref: InstanceRef, *, owner: str | None = None, **fields: object
    ) -> bool:
        """Set fields (see :data:`INSTANCE_FIELDS`) on one instance of a request.

        ``owner`` works as in :meth:`set_fields`. False when the lease is someone else's
        or the instance is not part of the request.
        """
        return self.update_instances(request_id, {ref: fields}, owner=owner)

    def update_instances(
        self,
        request_id: str,
        changes: Mapping[InstanceRef, Mapping[str, object]],
        *,
        owner: str | None = None,
    ) -> bool:
        """Apply one poll's (or one reboot batch's) changes to several instances.

        Bumps the request's ``version`` once. With ``owner``, nothing is written unless
        that poller still holds the lease; on PostgreSQL the bump also locks the
        request row, so a takeover waits until this unit of work ends. False when the
        lease check fails or an instance is not part of the request.
        """
        checked = {
            ref: _checked(values, INSTANCE_FIELDS, "update_instance")
            for ref, values in changes.items()
        }
        if not self._bump(request_id, owner):
            return False
        # One statement per set of fields changed, run for every instance at once
        # (executemany): a confirm saves 100 instances several times, and building an
        # UPDATE per instance cost more CPU than anything else after the click.
        batches: dict[tuple[str, ...], builtins.list[dict[str, Any]]] = {}
        for ref, values in checked.items():
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
        connection = self._session.connection()
        all_found = True
        for names, rows in batches.items():
            result = connection.execute(_update_instances_statement(names), rows)
            all_found = all_found and _rowcount(result) == len(rows)
        return all_found

    def save_instances(
        self,
        request_id: str,
        instances: Iterable[PlannedInstance],
        *,
        owner: str | None = None,
    ) -> bool:
        """Write every mutable field (:data:`INSTANCE_FIELDS`) of these snapshots,
        matched by region and instance id; the use cases' way to persist a
        ``dataclasses.replace``-d instance. Returns as :meth:`update_instances`."""
        return self.update_instances(
            request_id,
            {instance.ref: _instance_values(instance) for instance in instances},
            owner=owner,
        )

    def skip_pending(self, request_id: str) -> None:
        """Every instance of the request still ``pending`` ends ``skipped``: it was
        never sent (cancelled, expired, or its verdict was not "will reboot")."""
        self._session.execute(
            update(RebootInstanceRow)
            .where(
                RebootInstanceRow.request_id == request_id,
                RebootInstanceRow.outcome == InstanceOutcome.PENDING.value,
            )
            .values(outcome=InstanceOutcome.SKIPPED.value)
            .execution_options(synchronize_session=False)
        )

    def expire_due(self, now: datetime) -> builtins.list[str]:
        """Move every ``previewed`` request whose buttons expired (``expires_at`` not
        after ``now``) to ``expired``; returns the ids this caller expired, sorted, so
        each expiry is announced and audited once."""
        expired = self._session.scalars(
            update(RebootRequestRow)
            .where(
                RebootRequestRow.state == RequestState.PREVIEWED.value,
                RebootRequestRow.expires_at <= now,
            )
            .values(
                state=RequestState.EXPIRED.value,
                finished_at=now,
                message_redraw_due=True,
                version=RebootRequestRow.version + 1,
            )
            .returning(RebootRequestRow.id)
            .execution_options(synchronize_session=False)
        )
        return sorted(expired)

    def redraw_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> builtins.list[str]:
        """Finished requests whose message does not show their final state yet, oldest
        first: those finished between ``finished_after`` and ``finished_before``, so the
        worker that finished one gets the first go at drawing it, and a message Slack
        keeps refusing (deleted, say) is not tried forever."""
        return self._due(
            RebootRequestRow.message_redraw_due, finished_before, finished_after, limit
        )

    def notify_end_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> builtins.list[str]:
        """Finished requests whose end the notify channel was not told yet; the same
        window as :meth:`redraw_due`."""
        return self._due(RebootRequestRow.notify_end_due, finished_before, finished_after, limit)

    def _due(
        self,
        flag: InstrumentedAttribute[bool],
        finished_before: datetime,
        finished_after: datetime,
        limit: int,
    ) -> builtins.list[str]:
        return builtins.list(
            self._session.scalars(
                select(RebootRequestRow.id)
                .where(
                    flag.is_(True),
                    RebootRequestRow.finished_at <= finished_before,
                    RebootRequestRow.finished_at >= finished_after,
                )
                .order_by(RebootRequestRow.finished_at, RebootRequestRow.id)
                .limit(limit)
            )
        )

    def _bump(self, request_id: str, owner: str | None, **values: Any) -> bool:
        condition = [RebootRequestRow.id == request_id]
        if owner is not None:
            condition.append(RebootRequestRow.lease_owner == owner)
        result = self._session.execute(
            update(RebootRequestRow)
            .where(*condition)
            .values(version=RebootRequestRow.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name


# --- the poller's statements, built once -------------------------------------------------
#
# The poller claims and releases one request at a time, hundreds a tick; building these
# expressions anew each time cost more than running them. Values come as bind
# parameters (``:owner``, ``:now``, …), typed by the columns they are compared with.


@dataclass(frozen=True)
class _ClaimStatements:
    lock: Any  # PostgreSQL only: SELECT … FOR UPDATE SKIP LOCKED
    claim: Any  # UPDATE … RETURNING id
    in_claim_order: Any


def _claimable() -> ColumnElement[bool]:
    row = RebootRequestRow
    free = or_(
        row.lease_owner.is_(None),
        row.lease_expires_at <= bindparam("now"),
        row.lease_owner == bindparam("owner"),
    )
    due = or_(row.next_poll_at.is_(None), row.next_poll_at <= bindparam("now"))
    return and_(row.state == RequestState.EXECUTING.value, free, due)


# Most overdue first; never-polled (just confirmed) requests before all.
_CLAIM_ORDER = (
    RebootRequestRow.next_poll_at.asc().nulls_first(),
    RebootRequestRow.created_at,
    RebootRequestRow.id,
)


@functools.cache
def _claim_statements(dialect: str, limit: int) -> _ClaimStatements:
    row = RebootRequestRow
    candidates = select(row.id).where(_claimable()).order_by(*_CLAIM_ORDER).limit(limit)
    if dialect == "postgresql":
        lock = candidates.with_for_update(skip_locked=True)
        where = row.id.in_(bindparam("ids", expanding=True))
    else:
        # SQLite: one statement, which holds the database's write lock from its first
        # read, so the next poller only sees what is still unclaimed.
        lock = None
        where = row.id.in_(candidates.scalar_subquery())
    claim = (
        update(row)
        # The claim conditions again: cheap, and they make the statement correct on its
        # own whatever isolation the database runs at.
        .where(where, _claimable())
        .values(
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("expires"),
            version=row.version + 1,
        )
        .returning(row.id)
        .execution_options(synchronize_session=False)
    )
    in_claim_order = (
        select(row.id).where(row.id.in_(bindparam("ids", expanding=True))).order_by(*_CLAIM_ORDER)
    )
    return _ClaimStatements(lock, claim, in_claim_order)


@functools.cache
def _update_instances_statement(names: tuple[str, ...]) -> Any:
    """``UPDATE reboot_instances SET <names> WHERE <one instance of one request>``, with
    the values as ``new_<name>`` and the match as ``match_*`` bind parameters."""
    row = RebootInstanceRow
    return (
        update(row)
        .where(
            row.request_id == bindparam("match_request_id"),
            row.region == bindparam("match_region"),
            row.instance_id == bindparam("match_instance_id"),
        )
        .values({name: bindparam(f"new_{name}") for name in names})
    )


def _release_statement(*, with_next_poll: bool) -> Any:
    row = RebootRequestRow
    due: dict[str, Any] = {"next_poll_at": bindparam("poll_at")} if with_next_poll else {}
    return (
        update(row)
        .where(row.id == bindparam("request_id"), row.lease_owner == bindparam("owner"))
        .values(lease_owner=None, lease_expires_at=None, version=row.version + 1, **due)
        .execution_options(synchronize_session=False)
    )


_RELEASE = _release_statement(with_next_poll=False)
_RELEASE_UNTIL = _release_statement(with_next_poll=True)


class RoleRepository:
    """Role bindings. Read at every authorization decision, so a grant or revoke
    takes effect at once (DESIGN §5.2)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def grant(self, binding: Binding, *, by: str, now: datetime) -> bool:
        """Add the binding; False when the very same binding already existed.

        An ``INSERT … ON CONFLICT DO NOTHING``, so two admins granting the same thing
        at once never fail: one gets True, the other False, and one row exists.
        """
        if binding.tag_value and not binding.tag_key:
            raise ValueError("a tag value needs a tag key")
        values = {**_binding_key(binding), "created_by": by, "created_at": now}
        table = cast(Table, RoleBindingRow.__table__)
        dialect = self._session.get_bind().dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(table).values(values)
        elif dialect == "sqlite":
            statement = sqlite.insert(table).values(values)
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise NotImplementedError(f"role bindings are not supported on {dialect}")
        # RETURNING rather than rowcount: with an implicit RETURNING of the primary key
        # psycopg reports rowcount -1. A skipped row returns nothing.
        inserted = self._session.execute(
            statement.on_conflict_do_nothing(index_elements=builtins.list(_BINDING_KEY)).returning(
                table.c.id
            )
        ).first()
        return inserted is not None

    def revoke(self, binding: Binding) -> bool:
        """Remove exactly that binding (same subject, role and scope); False when there
        was nothing to remove. Broader or narrower bindings stay."""
        key = _binding_key(binding)
        result = self._session.execute(
            delete(RoleBindingRow)
            .where(
                RoleBindingRow.subject == key["subject"],
                RoleBindingRow.role == key["role"],
                RoleBindingRow.region == key["region"],
                RoleBindingRow.tag_key == key["tag_key"],
                RoleBindingRow.tag_value == key["tag_value"],
            )
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) > 0

    def bindings_for(self, subjects: Collection[str]) -> builtins.list[Binding]:
        """Every binding held by any of ``subjects`` (a user and their user groups)."""
        if not subjects:
            return []
        rows = self._session.scalars(
            select(RoleBindingRow)
            .where(RoleBindingRow.subject.in_(builtins.list(subjects)))
            .order_by(RoleBindingRow.id)
        )
        return [_to_binding(row) for row in rows]

    def group_subjects(self) -> builtins.list[str]:
        """User group ids (``S…``) holding any binding: the groups whose membership an
        authorization decision has to look up."""
        rows = self._session.scalars(
            select(RoleBindingRow.subject)
            .where(RoleBindingRow.subject.startswith("S"))
            .distinct()
            .order_by(RoleBindingRow.subject)
        )
        return builtins.list(rows)

    def list_all(self) -> builtins.list[Binding]:
        """Every binding, by subject then role and scope (``roles list``)."""
        return [record.binding for record in self.list_records()]

    def list_records(self) -> builtins.list[BindingRecord]:
        """Every binding with who granted it and when, in :meth:`list_all`'s order."""
        rows = self._session.scalars(
            select(RoleBindingRow).order_by(
                RoleBindingRow.subject,
                RoleBindingRow.role,
                RoleBindingRow.region,
                RoleBindingRow.tag_key,
                RoleBindingRow.tag_value,
            )
        )
        return [
            BindingRecord(_to_binding(row), created_by=row.created_by, created_at=row.created_at)
            for row in rows
        ]


class AuditRepository:
    """The append-only audit trail: there is deliberately no update or delete."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(
        self,
        at: datetime,
        actor: str,
        action: str,
        request_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one event. ``actor`` is a Slack user id, ``cli:<os user>`` or
        ``system``; ``detail`` must be JSON-serialisable."""
        self._session.execute(
            insert(AuditLogRow).values(
                at=at,
                actor=actor,
                action=action,
                request_id=request_id,
                detail=dict(detail or {}),
            )
        )

    def list(self, request_id: str | None = None, limit: int = 100) -> builtins.list[AuditEntry]:
        """The latest ``limit`` entries (of one request, if given), oldest first so
        they read as a story."""
        query = select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(limit)
        if request_id is not None:
            query = query.where(AuditLogRow.request_id == request_id)
        rows = builtins.list(self._session.scalars(query))
        rows.reverse()
        return [
            AuditEntry(
                id=row.id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                request_id=row.request_id,
                detail=dict(row.detail),
            )
            for row in rows
        ]


def _instance_values(instance: PlannedInstance) -> dict[str, Any]:
    """The columns of :data:`INSTANCE_FIELDS` from a snapshot."""
    return {
        "name": instance.name,
        "zone": instance.zone,
        "status": instance.status,
        "tags": dict(instance.tags),
        "verdict": instance.verdict.value,
        "verdict_code": instance.verdict_code,
        "verdict_message": instance.verdict_message,
        "outcome": instance.outcome.value,
        "code": instance.code,
        "message": instance.message,
        "api_request_id": instance.api_request_id,
        "reboot_sent_at": instance.reboot_sent_at,
        "reboot_acked_at": instance.reboot_acked_at,
        "start_time_before": instance.start_time_before,
        "seen_leaving_running": instance.seen_leaving_running,
        "finished_at": instance.finished_at,
        "reported_outcome": None
        if instance.reported_outcome is None
        else instance.reported_outcome.value,
    }


def _to_instance(row: RebootInstanceRow) -> PlannedInstance:
    return PlannedInstance(
        ref=InstanceRef(region=row.region, instance_id=row.instance_id),
        position=row.position,
        verdict=Verdict(row.verdict),
        name=row.name,
        status=row.status,
        zone=row.zone,
        tags=dict(row.tags),
        verdict_code=row.verdict_code,
        verdict_message=row.verdict_message,
        outcome=InstanceOutcome(row.outcome),
        code=row.code,
        message=row.message,
        api_request_id=row.api_request_id,
        start_time_before=row.start_time_before,
        reboot_sent_at=row.reboot_sent_at,
        reboot_acked_at=row.reboot_acked_at,
        seen_leaving_running=row.seen_leaving_running,
        finished_at=row.finished_at,
        reported_outcome=None
        if row.reported_outcome is None
        else InstanceOutcome(row.reported_outcome),
    )


# The columns ``get`` reads, in the order ``_unpack_instance`` takes them: unpacking a
# tuple is much cheaper than reading a row's fields by name, 100 rows a request a poll.
_INSTANCE_COLUMNS = (
    "region",
    "instance_id",
    "position",
    "verdict",
    "name",
    "status",
    "zone",
    "tags",
    "verdict_code",
    "verdict_message",
    "outcome",
    "code",
    "message",
    "api_request_id",
    "start_time_before",
    "reboot_sent_at",
    "reboot_acked_at",
    "seen_leaving_running",
    "finished_at",
    "reported_outcome",
)


def _get_statements() -> tuple[Any, Any]:
    requests = cast(Table, RebootRequestRow.__table__)
    instances = cast(Table, RebootInstanceRow.__table__)
    request = select(requests).where(requests.c.id == bindparam("request_id"))
    its_instances = (
        select(*(instances.c[name] for name in _INSTANCE_COLUMNS))
        .where(instances.c.request_id == bindparam("request_id"))
        .order_by(instances.c.position)
    )
    return request, its_instances


_GET_REQUEST, _GET_INSTANCES = _get_statements()


def _unpack_instance(
    region: str,
    instance_id: str,
    position: int,
    verdict: str,
    name: str | None,
    status: str | None,
    zone: str | None,
    tags: Mapping[str, str],
    verdict_code: str | None,
    verdict_message: str | None,
    outcome: str,
    code: str | None,
    message: str | None,
    api_request_id: str | None,
    start_time_before: datetime | None,
    reboot_sent_at: datetime | None,
    reboot_acked_at: datetime | None,
    seen_leaving_running: bool,
    finished_at: datetime | None,
    reported_outcome: str | None,
) -> PlannedInstance:
    """``_to_instance`` for the values of ``_INSTANCE_COLUMNS``."""
    return PlannedInstance(
        ref=InstanceRef(region=region, instance_id=instance_id),
        position=position,
        verdict=_VERDICTS[verdict],
        name=name,
        status=status,
        zone=zone,
        tags=dict(tags),
        verdict_code=verdict_code,
        verdict_message=verdict_message,
        outcome=_OUTCOMES[outcome],
        code=code,
        message=message,
        api_request_id=api_request_id,
        start_time_before=start_time_before,
        reboot_sent_at=reboot_sent_at,
        reboot_acked_at=reboot_acked_at,
        seen_leaving_running=seen_leaving_running,
        finished_at=finished_at,
        reported_outcome=None if reported_outcome is None else _OUTCOMES[reported_outcome],
    )


# Enum lookups by value, a dict away: three per instance row, 10,000 rows a tick.
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
_OUTCOMES = {outcome.value: outcome for outcome in InstanceOutcome}


def _to_request(
    row: RebootRequestRow | Row[Any], instances: tuple[PlannedInstance, ...]
) -> RebootRequest:
    return RebootRequest(
        id=row.id,
        state=RequestState(row.state),
        force=row.force,
        requester=row.requester,
        channel=row.channel,
        created_at=row.created_at,
        expires_at=row.expires_at,
        instances=instances,
        command_text=row.command_text,
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
        cancelled_by=row.cancelled_by,
        cancelled_at=row.cancelled_at,
        finished_at=row.finished_at,
        message_ts=row.message_ts,
        notify_ts=row.notify_ts,
        permalink=row.permalink,
        progress_text=row.progress_text,
        reported_at=row.reported_at,
        message_redraw_due=row.message_redraw_due,
        notify_end_due=row.notify_end_due,
    )


# The columns that make a binding unique (and its unique constraint).
_BINDING_KEY = ("subject", "role", "region", "tag_key", "tag_value")


def _binding_key(binding: Binding) -> dict[str, str]:
    return {
        "subject": binding.subject,
        "role": binding.role.value,
        "region": binding.region,
        "tag_key": binding.tag_key,
        "tag_value": binding.tag_value,
    }


def _to_binding(row: RoleBindingRow) -> Binding:
    return Binding(
        subject=row.subject,
        role=Role(row.role),
        region=row.region,
        tag_key=row.tag_key,
        tag_value=row.tag_value,
    )


__all__ = [
    "INSTANCE_FIELDS",
    "REQUEST_FIELDS",
    "AuditEntry",
    "AuditRepository",
    "BindingRecord",
    "RequestRepository",
    "RoleRepository",
]

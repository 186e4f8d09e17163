"""In-memory fakes of every port in :mod:`bot.services.ports`, so a use case runs in
milliseconds, with no database, Slack or ECS (cosmicpython's fakes, in the package so
tests, demos and benchmarks share them).

The fakes keep the ports' promises that use cases depend on, and record what happened
for tests to assert on::

    bot = memory_bot()
    bot.ecs.add_instance("cn-hangzhou", "i-1")
    request = bot.db.add_request(...)        # or run preview(bot.ctx, ...)
    poll_once(bot.ctx, bot.clock())
    assert bot.db.request(request.id).state is RequestState.SUCCEEDED
    assert bot.ecs.calls_of("reboot") == [...]

The stores' promises are the ones the SQL repositories keep, held to the same tests
(``tests/integration/store/``, run on this fake, SQLite and PostgreSQL alike).

:class:`MemoryDatabase` is the stores' shared state; each :class:`MemoryUnitOfWork`
reads a copy of it and writes back what it changed on ``commit``, so a unit left
without committing changes nothing. A write locks its row until the unit ends, as
PostgreSQL's ``UPDATE`` does, and decides on the row's latest committed version: of
units racing for one conditional move, exactly one wins (a claim passes over rows
another unit holds, as ``SKIP LOCKED`` does).
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from bot.db.repositories import AuditEntry, BindingRecord
from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.alarms import AlarmCard, CardState
from bot.domain.ecs_values import (
    MAX_AGENT_IDS_PER_CALL,
    MAX_IDS_PER_CALL,
    RUNNING,
    TAG_FILTER_LIMIT,
    AgentStatus,
    DryRunBatch,
    FoundInstances,
    InstanceInfo,
    RebootResult,
)
from bot.domain.errors import EcsError
from bot.domain.model import InstanceOutcome, RequestState, RolloutEvent
from bot.domain.policy import Binding
from bot.domain.request import Approval, PlannedInstance, RebootRequest, may_follow
from bot.domain.schedule import ScheduleEvent
from bot.domain.selectors import InstanceFilter
from bot.ecs import catalogue
from bot.services.answers import Answer, PreviewNote
from bot.services.context import Context, FlowConfig
from bot.services.ports import Lease, RequestUpdate
from bot.simulator.clock import ManualClock

# --- persistence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRequest:
    """A request as the fake stores it: the snapshot and the poller's bookkeeping."""

    request: RebootRequest
    next_poll_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    version: int = 0


BindingKey = tuple[str, str, str, str, str, str]
# A locked row: ("request", id) or ("binding", key).
RowKey = tuple[str, object]

# How long a write waits for a row another unit of work holds: far more than any unit
# takes in a test, so reaching it means a unit was left open, not a slow one.
LOCK_WAIT_SECONDS = 10.0


def _key(binding: Binding) -> BindingKey:
    return (
        binding.subject,
        binding.role.value,
        binding.region,
        binding.tag_key,
        binding.tag_value,
        binding.account,
    )


@dataclass
class _Tables:
    requests: dict[str, StoredRequest] = field(default_factory=dict)
    bindings: dict[BindingKey, BindingRecord] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    alarm_cards: dict[str, AlarmCard] = field(default_factory=dict)
    deliveries: dict[str, str | None] = field(default_factory=dict)

    def copy(self) -> _Tables:
        return _Tables(
            dict(self.requests),
            dict(self.bindings),
            list(self.audit),
            dict(self.alarm_cards),
            dict(self.deliveries),
        )


class MemoryDatabase:
    """What the stores hold, shared by every unit of work made by :meth:`uow`."""

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.Lock()
        self._unlocked = threading.Condition(self._lock)
        self._holders: dict[RowKey, MemoryUnitOfWork] = {}
        self.commits = 0

    def uow(self) -> MemoryUnitOfWork:
        """A new unit of work (a ``UnitOfWorkFactory``: pass ``db.uow``)."""
        return MemoryUnitOfWork(self)

    # What tests read and seed, outside any unit of work.

    def request(self, request_id: str) -> RebootRequest:
        return self._tables.requests[request_id].request

    def stored(self, request_id: str) -> StoredRequest:
        return self._tables.requests[request_id]

    def add_request(self, request: RebootRequest) -> RebootRequest:
        with self.uow() as uow:
            uow.requests.add(request)
            uow.commit()
        return request

    def grant(self, binding: Binding, *, by: str = "system", now: datetime | None = None) -> None:
        with self.uow() as uow:
            uow.roles.grant(binding, by=by, now=now or datetime.now(UTC))
            uow.commit()

    @property
    def audit(self) -> list[AuditEntry]:
        return list(self._tables.audit)

    def actions(self, request_id: str | None = None) -> list[str]:
        """The audit trail's actions (of one request, if given), oldest first."""
        return [
            entry.action
            for entry in self._tables.audit
            if request_id is None or entry.request_id == request_id
        ]

    # What units of work do.

    def _begin(self) -> _Tables:
        with self._lock:
            return self._tables.copy()

    def _latest_request(self, request_id: str) -> StoredRequest | None:
        with self._lock:
            return self._tables.requests.get(request_id)

    def _latest_binding(self, key: BindingKey) -> BindingRecord | None:
        with self._lock:
            return self._tables.bindings.get(key)

    def _request_ids(self) -> set[str]:
        with self._lock:
            return set(self._tables.requests)

    def _lock_row(self, key: RowKey, unit: MemoryUnitOfWork, *, wait: bool) -> bool:
        """Take ``key`` for ``unit`` until it ends; False (without ``wait``) when another
        unit holds it. Waiting on a unit of this very thread would never end: that raises,
        as SQLite's busy timeout would."""
        with self._unlocked:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while (holder := self._holders.get(key)) not in (None, unit):
                if not wait:
                    return False
                if holder is not None and holder.thread is threading.current_thread():
                    raise RuntimeError(
                        f"{key} is locked by another unit of work of this thread: "
                        "commit or leave it first"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"{key} stayed locked {LOCK_WAIT_SECONDS:g} s")
                self._unlocked.wait(remaining)
            self._holders[key] = unit
            return True

    def _holds(self, key: RowKey, unit: MemoryUnitOfWork) -> bool:
        with self._lock:
            return self._holders.get(key) is unit

    def _unlock_all(self, unit: MemoryUnitOfWork) -> None:
        with self._unlocked:
            for key in [key for key, holder in self._holders.items() if holder is unit]:
                del self._holders[key]
            self._unlocked.notify_all()

    def _commit(self, work: _Tables, changes: _Changes) -> None:
        with self._lock:
            for request_id in changes.requests:
                if request_id in work.requests:
                    self._tables.requests[request_id] = work.requests[request_id]
            for key in changes.bindings:
                if key in work.bindings:
                    self._tables.bindings[key] = work.bindings[key]
                else:
                    self._tables.bindings.pop(key, None)
            for card_id in changes.alarm_cards:
                self._tables.alarm_cards[card_id] = work.alarm_cards[card_id]
            for trans_id in changes.deliveries:
                self._tables.deliveries[trans_id] = work.deliveries[trans_id]
            for entry in work.audit[changes.audit_from :]:
                self._tables.audit.append(
                    dataclasses.replace(entry, id=len(self._tables.audit) + 1)
                )
            self.commits += 1


@dataclass
class _Changes:
    # Dicts, not sets: rows are written back in the order they were first written, as
    # a database numbers its inserts (``bindings_for`` lists in that order).
    requests: dict[str, None] = field(default_factory=dict)
    bindings: dict[BindingKey, None] = field(default_factory=dict)
    audit_from: int = 0
    alarm_cards: set[str] = field(default_factory=set)
    deliveries: set[str] = field(default_factory=set)


class _Rows:
    """One unit of work's copy of the tables, and the row locks its writes take."""

    def __init__(
        self, db: MemoryDatabase, unit: MemoryUnitOfWork, tables: _Tables, changes: _Changes
    ) -> None:
        self.db = db
        self.unit = unit
        self.tables = tables
        self.changes = changes

    def request_for_write(self, request_id: str, *, wait: bool = True) -> StoredRequest | None:
        """The request's row, locked for this unit, as it reads now: this unit's own
        version once it holds the lock, else the latest committed one (an ``UPDATE``
        re-reads the row it locked). None when it does not exist (or, without ``wait``,
        another unit holds it)."""
        key: RowKey = ("request", request_id)
        if self.db._holds(key, self.unit):
            return self.tables.requests.get(request_id)
        if not self.db._lock_row(key, self.unit, wait=wait):
            return None
        latest = self.db._latest_request(request_id)
        if latest is None:
            self.tables.requests.pop(request_id, None)
        else:
            self.tables.requests[request_id] = latest
        return latest

    def latest_request(self, request_id: str) -> StoredRequest | None:
        """The row as a statement would find it, without locking it."""
        if self.db._holds(("request", request_id), self.unit):
            return self.tables.requests.get(request_id)
        return self.db._latest_request(request_id)

    def request_ids(self) -> set[str]:
        return self.db._request_ids() | set(self.tables.requests)

    def binding_for_write(self, key: BindingKey) -> BindingRecord | None:
        row: RowKey = ("binding", key)
        if self.db._holds(row, self.unit):
            return self.tables.bindings.get(key)
        self.db._lock_row(row, self.unit, wait=True)
        latest = self.db._latest_binding(key)
        if latest is None:
            self.tables.bindings.pop(key, None)
        else:
            self.tables.bindings[key] = latest
        return latest


class MemoryRequestStore:
    """``RequestStore`` and ``LeaseStore`` on one unit of work's copy of the tables."""

    def __init__(self, rows: _Rows) -> None:
        self._rows = rows
        self._tables = rows.tables

    # RequestStore

    def add(self, request: RebootRequest) -> None:
        if self._rows.request_for_write(request.id) is not None:
            raise ValueError(f"request {request.id} exists already")
        # Stored as read back: the instances in the order the user gave them.
        instances = tuple(sorted(request.instances, key=lambda i: i.position))
        self._put(StoredRequest(_with_instances(request, instances)))

    def get(self, request_id: str) -> RebootRequest | None:
        stored = self._tables.requests.get(request_id)
        return None if stored is None else stored.request

    def transition(
        self,
        request_id: str,
        from_states: RequestState | Collection[RequestState],
        to_state: RequestState,
        changes: RequestUpdate | None = None,
        *,
        lease: Lease | None = None,
        unstopped: bool = False,
    ) -> bool:
        sources = [from_states] if isinstance(from_states, RequestState) else list(from_states)
        if not sources:
            raise ValueError("transition needs at least one state to move from")
        for source in sources:
            if not may_follow(source, to_state):
                raise ValueError(f"a request cannot move from {source} to {to_state}")
        stored = self._rows.request_for_write(request_id)
        if stored is None or stored.request.state not in sources:
            return False
        if unstopped and stored.request.stop_reason is not None:
            return False
        stored = self._updated(stored, changes or RequestUpdate())
        request = dataclasses.replace(stored.request, state=to_state)
        if lease is not None:
            stored = dataclasses.replace(
                stored, lease_owner=lease.owner, lease_expires_at=lease.expires_at
            )
        if to_state.is_final:
            request = dataclasses.replace(request, message_redraw_due=True)
            stored = dataclasses.replace(
                stored, lease_owner=None, lease_expires_at=None, next_poll_at=None
            )
        self._put(dataclasses.replace(stored, request=request))
        return True

    def set_fields(
        self,
        request_id: str,
        changes: RequestUpdate,
        *,
        owner: str | None = None,
        while_in: RequestState | None = None,
    ) -> bool:
        stored = self._held(request_id, owner)
        if stored is None or (while_in is not None and stored.request.state is not while_in):
            return False
        self._put(self._updated(stored, changes))
        return True

    def save_instances(
        self, request_id: str, instances: Sequence[PlannedInstance], *, owner: str | None = None
    ) -> bool:
        stored = self._held(request_id, owner)
        if stored is None:
            return False
        saved = {instance.ref: instance for instance in instances}
        current = stored.request.instances
        merged = tuple(
            dataclasses.replace(saved[i.ref], position=i.position) if i.ref in saved else i
            for i in current
        )
        self._put(dataclasses.replace(stored, request=_with_instances(stored.request, merged)))
        return set(saved) <= {i.ref for i in current}

    def skip_pending(self, request_id: str) -> None:
        stored = self._rows.request_for_write(request_id)
        if stored is None:
            return
        instances = tuple(
            dataclasses.replace(i, outcome=InstanceOutcome.SKIPPED)
            if i.outcome is InstanceOutcome.PENDING and i.reboot_sent_at is None
            else i
            for i in stored.request.instances
        )
        self._put(dataclasses.replace(stored, request=_with_instances(stored.request, instances)))

    def list_recent(
        self,
        limit: int = 20,
        *,
        state: RequestState | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> list[RebootRequest]:
        requests = [
            r
            for r in (stored.request for stored in self._tables.requests.values())
            if (state is None or r.state is state)
            and (user is None or r.requester == user)
            and (since is None or r.created_at >= since)
        ]
        requests.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return requests[:limit]

    def expire_due(self, now: datetime) -> list[str]:
        expired = []
        for request_id in self._rows.request_ids():
            # As the UPDATE: find the rows that match, then lock each and check again.
            found = self._rows.latest_request(request_id)
            if found is None or not found.request.is_expired(now):
                continue
            stored = self._rows.request_for_write(request_id)
            if stored is None or not stored.request.is_expired(now):
                continue
            request = dataclasses.replace(
                stored.request,
                state=RequestState.EXPIRED,
                finished_at=now,
                message_redraw_due=True,
            )
            self._put(dataclasses.replace(stored, request=request))
            expired.append(request_id)
        return sorted(expired)

    def add_approval(self, request_id: str, user: str, at: datetime) -> bool | None:
        # Locking the row first counts concurrent approvals one after the other.
        stored = self._rows.request_for_write(request_id)
        if stored is None or stored.request.state is not RequestState.AWAITING_APPROVAL:
            return None
        if any(approval.user == user for approval in stored.request.approvals):
            return False
        approvals = (*stored.request.approvals, Approval(user, at))
        self._put(
            dataclasses.replace(
                stored, request=dataclasses.replace(stored.request, approvals=approvals)
            )
        )
        return True

    def claim_retry(self, request_id: str, retry_id: str) -> bool:
        stored = self._rows.request_for_write(request_id)
        if stored is None or stored.request.retried_by_request is not None:
            return False
        request = dataclasses.replace(stored.request, retried_by_request=retry_id)
        self._put(dataclasses.replace(stored, request=request))
        return True

    def release_retry(self, request_id: str, retry_id: str) -> None:
        stored = self._rows.request_for_write(request_id)
        if stored is not None and stored.request.retried_by_request == retry_id:
            request = dataclasses.replace(stored.request, retried_by_request=None)
            self._put(dataclasses.replace(stored, request=request))

    def redraw_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> list[str]:
        return self._due("message_redraw_due", finished_before, finished_after, limit)

    def notify_end_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> list[str]:
        return self._due("notify_end_due", finished_before, finished_after, limit)

    # LeaseStore

    def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int = 10
    ) -> list[str]:
        def claimable(stored: StoredRequest | None) -> bool:
            return (
                stored is not None
                # Scheduled requests too, at their reminder and their start (§5.10).
                and (
                    stored.request.state.is_running
                    or stored.request.state is RequestState.SCHEDULED
                )
                and (
                    stored.lease_owner is None
                    or stored.lease_owner == owner
                    or (stored.lease_expires_at is not None and stored.lease_expires_at <= now)
                )
                and (stored.next_poll_at is None or stored.next_poll_at <= now)
            )

        candidates = [
            stored
            for stored in map(self._rows.latest_request, self._rows.request_ids())
            if stored is not None and claimable(stored)
        ]
        # Most overdue first; never-polled requests before all (as the real claim).
        candidates.sort(
            key=lambda s: (
                s.next_poll_at is not None,
                s.next_poll_at or now,
                s.request.created_at,
                s.request.id,
            )
        )
        expires = now + timedelta(seconds=lease_seconds)
        claimed: list[str] = []
        for candidate in candidates:
            if len(claimed) == limit:
                break
            # SKIP LOCKED: a row another unit is writing is passed over, not waited for.
            stored = self._rows.request_for_write(candidate.request.id, wait=False)
            if stored is None or not claimable(stored):
                continue
            self._put(dataclasses.replace(stored, lease_owner=owner, lease_expires_at=expires))
            claimed.append(stored.request.id)
        return claimed

    def renew_lease(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        stored = self._held(request_id, owner)
        if stored is None:
            return False
        expires = now + timedelta(seconds=lease_seconds)
        self._put(dataclasses.replace(stored, lease_expires_at=expires))
        return True

    def release(self, request_id: str, owner: str, *, next_poll_at: datetime | None = None) -> bool:
        stored = self._held(request_id, owner)
        if stored is None:
            return False
        stored = dataclasses.replace(stored, lease_owner=None, lease_expires_at=None)
        if next_poll_at is not None:
            stored = dataclasses.replace(stored, next_poll_at=next_poll_at)
        self._put(stored)
        return True

    # helpers

    def _held(self, request_id: str, owner: str | None) -> StoredRequest | None:
        """The row locked for a write, when it exists and (with ``owner``) that owner
        holds its lease."""
        stored = self._rows.request_for_write(request_id)
        if stored is None or (owner is not None and stored.lease_owner != owner):
            return None
        return stored

    @staticmethod
    def _updated(stored: StoredRequest, changes: RequestUpdate) -> StoredRequest:
        next_poll_at = changes.changes().get("next_poll_at", stored.next_poll_at)
        return dataclasses.replace(
            stored, request=changes.applied_to(stored.request), next_poll_at=next_poll_at
        )

    def _put(self, stored: StoredRequest) -> None:
        stored = dataclasses.replace(stored, version=stored.version + 1)
        self._tables.requests[stored.request.id] = stored
        self._rows.changes.requests[stored.request.id] = None

    def _due(
        self, flag: str, finished_before: datetime, finished_after: datetime, limit: int
    ) -> list[str]:
        due = [
            r
            for r in (stored.request for stored in self._tables.requests.values())
            if getattr(r, flag)
            and r.finished_at is not None
            and finished_after <= r.finished_at <= finished_before
        ]
        due.sort(key=lambda r: (r.finished_at, r.id))
        return [r.id for r in due[:limit]]


def _with_instances(
    request: RebootRequest, instances: tuple[PlannedInstance, ...]
) -> RebootRequest:
    return dataclasses.replace(request, instances=instances)


class MemoryRoleStore:
    """``RoleStore`` on one unit of work's copy of the tables."""

    def __init__(self, rows: _Rows) -> None:
        self._rows = rows
        self._tables = rows.tables

    def grant(self, binding: Binding, *, by: str, now: datetime) -> bool:
        if binding.tag_value and not binding.tag_key:
            raise ValueError("a tag value needs a tag key")
        key = _key(binding)
        # Locked as the unique index locks it: of concurrent grants, one inserts.
        if self._rows.binding_for_write(key) is not None:
            return False
        self._tables.bindings[key] = BindingRecord(binding, created_by=by, created_at=now)
        self._rows.changes.bindings[key] = None
        return True

    def revoke(self, binding: Binding) -> bool:
        key = _key(binding)
        if self._rows.binding_for_write(key) is None:
            return False
        del self._tables.bindings[key]
        self._rows.changes.bindings[key] = None
        return True

    def bindings_for(self, subjects: Collection[str]) -> list[Binding]:
        return [
            record.binding
            for record in self._tables.bindings.values()
            if record.binding.subject in subjects
        ]

    def group_subjects(self) -> list[str]:
        return sorted({key[0] for key in self._tables.bindings if key[0].startswith("S")})

    def list_all(self) -> list[Binding]:
        return [record.binding for record in self.list_records()]

    def list_records(self) -> list[BindingRecord]:
        return [self._tables.bindings[key] for key in sorted(self._tables.bindings)]


class MemoryAuditLog:
    """``AuditLog`` on one unit of work's copy of the tables."""

    def __init__(self, tables: _Tables) -> None:
        self._tables = tables

    def append(
        self,
        at: datetime,
        actor: str,
        action: str,
        request_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            id=len(self._tables.audit) + 1,
            at=at,
            actor=actor,
            action=action,
            request_id=request_id,
            detail=dict(detail or {}),
        )
        self._tables.audit.append(entry)

    def list(self, request_id: str | None = None, limit: int = 100) -> builtins.list[AuditEntry]:
        entries = [e for e in self._tables.audit if request_id in (None, e.request_id)]
        return entries[-limit:]


class MemoryAlarmStore:
    """``AlarmStore`` on one unit of work's copy of the tables."""

    def __init__(self, tables: _Tables, changes: _Changes) -> None:
        self._tables = tables
        self._changes = changes

    def first_delivery(self, trans_id: str, *, now: datetime) -> bool:
        if trans_id in self._tables.deliveries:
            return False
        self._tables.deliveries[trans_id] = None
        self._changes.deliveries.add(trans_id)
        return True

    def link_delivery(self, trans_id: str, card_id: str) -> None:
        if trans_id in self._tables.deliveries:
            self._tables.deliveries[trans_id] = card_id
            self._changes.deliveries.add(trans_id)

    def open_card(self, rule: str, instance_id: str) -> AlarmCard | None:
        for card in self._tables.alarm_cards.values():
            if (card.rule, card.instance_id, card.state) == (rule, instance_id, CardState.OPEN):
                return card
        return None

    def get(self, card_id: str) -> AlarmCard | None:
        return self._tables.alarm_cards.get(card_id)

    def add(self, card: AlarmCard) -> bool:
        if card.state is CardState.OPEN and self.open_card(card.rule, card.instance_id):
            return False
        self._tables.alarm_cards[card.id] = card
        self._changes.alarm_cards.add(card.id)
        return True

    def save(self, card: AlarmCard) -> bool:
        if card.id not in self._tables.alarm_cards:
            return False
        self._tables.alarm_cards[card.id] = card
        self._changes.alarm_cards.add(card.id)
        return True

    def claim_post(self, card_id: str) -> bool:
        card = self._tables.alarm_cards.get(card_id)
        if card is None or card.message_ts is not None:
            return False
        return self.save(dataclasses.replace(card, message_ts=""))

    def release_post(self, card_id: str) -> None:
        card = self._tables.alarm_cards.get(card_id)
        if card is not None and card.message_ts == "":
            self.save(dataclasses.replace(card, message_ts=None))

    def set_shown(
        self,
        card_id: str,
        *,
        message_ts: str | None = None,
        instance_name: str | None = None,
        instance_status: str | None = None,
    ) -> None:
        card = self._tables.alarm_cards.get(card_id)
        if card is None:
            return
        self.save(
            dataclasses.replace(
                card,
                message_ts=message_ts or card.message_ts,
                instance_name=instance_name or card.instance_name,
                instance_status=instance_status or card.instance_status,
            )
        )


class MemoryUnitOfWork:
    """``UnitOfWork``: nothing reaches the :class:`MemoryDatabase` until ``commit``; the
    rows it wrote stay locked until then (or until it ends)."""

    requests: MemoryRequestStore
    leases: MemoryRequestStore
    roles: MemoryRoleStore
    audit: MemoryAuditLog
    alarms: MemoryAlarmStore

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._work: _Tables | None = None
        self._changes = _Changes()
        self.committed = False
        self.thread = threading.current_thread()

    def __enter__(self) -> MemoryUnitOfWork:
        if self._work is not None:
            raise RuntimeError("this unit of work is already in use; make a new one")
        self.thread = threading.current_thread()
        self._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._work = None
        self._db._unlock_all(self)
        del self.requests, self.leases, self.roles, self.audit, self.alarms

    def commit(self) -> None:
        if self._work is None:
            raise RuntimeError("use the unit of work inside a `with` block")
        self._db._commit(self._work, self._changes)
        self._db._unlock_all(self)
        self.committed = True
        # Later writes in the block start afresh, as after a real commit.
        self._begin()

    def _begin(self) -> None:
        work = self._db._begin()
        self._work = work
        self._changes = _Changes(audit_from=len(work.audit))
        rows = _Rows(self._db, self, work, self._changes)
        self.requests = self.leases = MemoryRequestStore(rows)
        self.roles = MemoryRoleStore(rows)
        self.audit = MemoryAuditLog(work)
        self.alarms = MemoryAlarmStore(work, self._changes)


# --- ECS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EcsCall:
    """One call the fake ECS answered."""

    method: str  # "describe_instances", "dry_run_reboot" or "reboot"
    region: str
    instance_ids: tuple[str, ...]
    force: bool | None = None


class FakeEcs:
    """``EcsGateway`` over a dict of instances; records every call.

    ``reboot`` turns each instance it accepts ``Stopping``; tests move instances on
    with :meth:`set_status`. :attr:`dry_run_errors` and :attr:`reboot_errors` make a
    call fail (by region, as an ``EcsError`` raised); :attr:`refused` makes single
    instances fail inside a ``SuccessFirst`` answer (by instance id, as ``(code,
    message)``); :meth:`fail_next_reboot` makes only the next call fail, after it acted
    or not (a lost answer, a throttle).
    """

    def __init__(self) -> None:
        self.instances: dict[tuple[str, str], InstanceInfo] = {}
        self.calls: list[EcsCall] = []
        # (method, account, acting user) of each DryRun and reboot: whose session signed it.
        self.acting: list[tuple[str, str, str | None]] = []
        self.dry_run_errors: dict[str, EcsError] = {}
        self.reboot_errors: dict[str, EcsError] = {}
        self.refused: dict[str, tuple[str, str]] = {}
        # One-shot faults of the next reboot calls by region: (error, whether it acted).
        self.next_reboot_faults: dict[str, list[tuple[EcsError, bool]]] = {}
        # The Cloud Assistant agents by (region, id); an instance not listed has none.
        self.agents: dict[tuple[str, str], AgentStatus] = {}

    def add_instance(
        self,
        region: str,
        instance_id: str,
        *,
        name: str | None = None,
        status: str = RUNNING,
        tags: Mapping[str, str] | None = None,
        start_time: datetime | None = None,
    ) -> InstanceInfo:
        info = InstanceInfo(
            instance_id=instance_id,
            region=region,
            name=name or instance_id,
            status=status,
            zone=f"{region}-a",
            tags=dict(tags or {}),
            start_time=start_time,
        )
        self.instances[(region, instance_id)] = info
        return info

    def set_status(
        self, region: str, instance_id: str, status: str, *, start_time: datetime | None = None
    ) -> None:
        info = self.instances[(region, instance_id)]
        self.instances[(region, instance_id)] = dataclasses.replace(
            info, status=status, start_time=start_time or info.start_time
        )

    def fail_next_reboot(self, region: str, error: EcsError, *, rebooted: bool = False) -> None:
        """The next reboot call in ``region`` raises ``error``: an ``EcsOutcomeUnknown``
        after rebooting its instances (``rebooted``) or not, an ``EcsTransientError``
        (a throttle: nothing reached ECS) without. Later calls answer as usual."""
        self.next_reboot_faults.setdefault(region, []).append((error, rebooted))

    def calls_of(self, method: str) -> list[EcsCall]:
        return [call for call in self.calls if call.method == method]

    # EcsGateway

    def describe_instances(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[InstanceInfo]:
        self.calls.append(EcsCall("describe_instances", region, tuple(instance_ids)))
        return [self.instances[(region, i)] for i in instance_ids if (region, i) in self.instances]

    def describe_agents(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[AgentStatus]:
        ids = tuple(instance_ids)
        for start in range(0, len(ids), MAX_AGENT_IDS_PER_CALL):
            # One recorded call per API call the real client would make.
            batch = ids[start : start + MAX_AGENT_IDS_PER_CALL]
            self.calls.append(EcsCall("describe_agents", region, batch))
        return [
            self.agents.get((region, i), AgentStatus(i, online=False, installed=False))
            for i in instance_ids
            if (region, i) in self.instances
        ]

    def find_instances(
        self,
        region: str,
        *,
        tags: Sequence[tuple[str, str]],
        name: str | None,
        account: str = DEFAULT_ACCOUNT,
    ) -> FoundInstances:
        self.calls.append(
            EcsCall("find_instances", region, (*(f"{k}={v}" for k, v in tags), name or ""))
        )
        wanted = InstanceFilter(tuple(tags), (name,) if name is not None else ())
        matched = tuple(
            info
            for (where, _), info in self.instances.items()
            if where == region and wanted.matches(info.name, info.tags)
        )
        if tags:
            matched = matched[:TAG_FILTER_LIMIT]
        return FoundInstances(region, matched, len(matched), tag_filtered=bool(tags))

    def dry_run_reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[DryRunBatch]:
        self.calls.append(EcsCall("dry_run_reboot", region, tuple(instance_ids), force))
        self.acting.append(("dry_run_reboot", account, acting_user))
        error = self.dry_run_errors.get(region)
        ids = list(instance_ids)
        return [
            DryRunBatch(region, tuple(ids[n : n + MAX_IDS_PER_CALL]), error)
            for n in range(0, len(ids), MAX_IDS_PER_CALL)
        ]

    def reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[RebootResult]:
        if len(instance_ids) > MAX_IDS_PER_CALL:
            raise ValueError(f"at most {MAX_IDS_PER_CALL} ids per reboot call")
        self.calls.append(EcsCall("reboot", region, tuple(instance_ids), force))
        self.acting.append(("reboot", account, acting_user))
        if region in self.reboot_errors:
            raise self.reboot_errors[region]
        if self.next_reboot_faults.get(region):
            error, rebooted = self.next_reboot_faults[region].pop(0)
            if rebooted:
                self._answer_reboot(region, instance_ids)
            raise error
        return self._answer_reboot(region, instance_ids)

    def _answer_reboot(self, region: str, instance_ids: Sequence[str]) -> list[RebootResult]:
        results = []
        for instance_id in instance_ids:
            if (region, instance_id) not in self.instances:
                results.append(_refusal(instance_id, region, "InvalidInstanceId.NotFound", ""))
            elif instance_id in self.refused:
                results.append(_refusal(instance_id, region, *self.refused[instance_id]))
            else:
                previous = self.instances[(region, instance_id)].status
                self.set_status(region, instance_id, "Stopping")
                results.append(
                    RebootResult(
                        instance_id=instance_id,
                        region=region,
                        ok=True,
                        code="200",
                        message="",
                        explanation="",
                        request_id=f"req-{len(self.calls)}",
                        current_status="Stopping",
                        previous_status=previous,
                    )
                )
        return results


def _refusal(instance_id: str, region: str, code: str, message: str) -> RebootResult:
    return RebootResult(
        instance_id=instance_id,
        region=region,
        ok=False,
        code=code,
        message=message,
        explanation=message,
        request_id=None,
        kind=catalogue.kind_of(code),
    )


# --- chat ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresenterCall:
    """One thing the use cases asked the presenter to show."""

    method: str
    request: RebootRequest | None = None
    changed: tuple[PlannedInstance, ...] = ()
    channel: str | None = None
    user: str | None = None
    # What the use case handed over to be said: an ``Answer`` for ``tell``, the
    # ``PreviewNote`` for ``publish_request``. Values, not words: the fake renders none.
    said: object = None


class FakePresenter:
    """``Presenter`` that draws nothing and records every call.

    Set :attr:`slack_down` to make every call that can fail (``refresh_request``,
    ``reply_summary``, ``notify_finished``) report that Slack did not take it.
    """

    def __init__(self) -> None:
        self.calls: list[PresenterCall] = []
        self.slack_down = False
        self._posted = 0

    def of(self, method: str) -> list[PresenterCall]:
        return [call for call in self.calls if call.method == method]

    def _ts(self) -> str:
        self._posted += 1
        return f"1700000000.{self._posted:06d}"

    def publish_request(
        self, request: RebootRequest, *, can_execute: bool, note: PreviewNote | None = None
    ) -> str | None:
        self.calls.append(PresenterCall("publish_request", request, said=note))
        return self._ts()

    def permalink(self, channel: str, ts: str) -> str | None:
        return f"https://slack.example/archives/{channel}/p{ts.replace('.', '')}"

    def refresh_request(self, request: RebootRequest) -> bool:
        self.calls.append(PresenterCall("refresh_request", request))
        return not self.slack_down

    def reply_execution(self, request: RebootRequest) -> None:
        self.calls.append(PresenterCall("reply_execution", request))

    def reply_progress(self, request: RebootRequest, changed: Sequence[PlannedInstance]) -> None:
        self.calls.append(PresenterCall("reply_progress", request, tuple(changed)))

    def reply_summary(self, request: RebootRequest) -> bool:
        self.calls.append(PresenterCall("reply_summary", request))
        return not self.slack_down

    def notify_started(self, request: RebootRequest) -> str | None:
        self.calls.append(PresenterCall("notify_started", request))
        return self._ts()

    def notify_finished(self, request: RebootRequest) -> bool:
        self.calls.append(PresenterCall("notify_finished", request))
        return not self.slack_down

    def notify_rollout(self, request: RebootRequest, event: RolloutEvent) -> bool:
        self.calls.append(PresenterCall("notify_rollout", request, said=event))
        return not self.slack_down

    def announce_schedule(self, request: RebootRequest, event: ScheduleEvent) -> bool:
        self.calls.append(PresenterCall("announce_schedule", request, said=event))
        return not self.slack_down

    def notify_awaiting_approval(
        self, request: RebootRequest, *, approver_group: str | None
    ) -> str | None:
        self.calls.append(PresenterCall("notify_awaiting_approval", request, said=approver_group))
        return self._ts()

    def tell(self, channel: str, user: str, answer: Answer) -> None:
        self.calls.append(PresenterCall("tell", channel=channel, user=user, said=answer))

    def post_alarm_card(self, card: AlarmCard) -> str | None:
        self.calls.append(PresenterCall("post_alarm_card", channel=card.channel, said=card))
        return self._ts()

    def refresh_alarm_card(self, card: AlarmCard) -> bool:
        self.calls.append(PresenterCall("refresh_alarm_card", channel=card.channel, said=card))
        return not self.slack_down


class FakeGroups:
    """``GroupDirectory`` over a dict of group id → members."""

    def __init__(self, members: Mapping[str, Iterable[str]] | None = None) -> None:
        self.groups = {group: frozenset(users) for group, users in (members or {}).items()}

    def members(self, group_id: str) -> frozenset[str]:
        return self.groups.get(group_id, frozenset())


# --- all of it ---------------------------------------------------------------------------------


@dataclass
class MemoryBot:
    """The use cases' :class:`Context` wired to the fakes, and the fakes themselves."""

    ctx: Context
    db: MemoryDatabase
    ecs: FakeEcs
    presenter: FakePresenter
    groups: FakeGroups
    clock: ManualClock


def memory_bot(
    config: FlowConfig | None = None,
    *,
    start: datetime | None = None,
    owner: str = "test-poller",
) -> MemoryBot:
    """A fresh set of fakes behind a ``Context`` (request ids ``r1``, ``r2``, …)."""
    db = MemoryDatabase()
    ecs = FakeEcs()
    presenter = FakePresenter()
    groups = FakeGroups()
    clock = ManualClock(start or datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    ids = (f"r{n}" for n in range(1, 1_000_000))
    ctx = Context(
        uow=db.uow,
        ecs=ecs,
        presenter=presenter,
        groups=groups,
        clock=clock,
        config=config or FlowConfig(),
        new_id=lambda: next(ids),
        owner=owner,
    )
    return MemoryBot(ctx=ctx, db=db, ecs=ecs, presenter=presenter, groups=groups, clock=clock)

"""The in-memory database and its unit of work behind
:func:`bot.testing.memory.memory_bot`: fakes of ``UnitOfWork`` and its factory.

:class:`MemoryDatabase` is the stores' shared state; each :class:`MemoryUnitOfWork`
reads a copy of it and writes back what it changed on ``commit``, so a unit left
without committing changes nothing. A write locks its row until the unit ends, as
PostgreSQL's ``UPDATE`` does, and decides on the row's latest committed version: of
units racing for one conditional move, exactly one wins (a claim passes over rows
another unit holds, as ``SKIP LOCKED`` does).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime
from types import TracebackType

from bot.db.repositories import AuditEntry, BindingRecord
from bot.domain.alarms import AlarmCard
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.testing.memory_rows import (
    LOCK_WAIT_SECONDS,
    BindingKey,
    RowKey,
    StoredRequest,
    _Changes,
    _Rows,
    _Tables,
)
from bot.testing.memory_stores import (
    MemoryAlarmStore,
    MemoryAuditLog,
    MemoryRequestStore,
    MemoryRoleStore,
)


class MemoryDatabase:
    """What the stores hold, shared by every unit of work made by :meth:`uow`."""

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.Lock()
        self._unlocked = threading.Condition(self._lock)
        self._holders: dict[RowKey, MemoryUnitOfWork] = {}
        self.commits = 0

    def uow(self, *, durable: bool = True) -> MemoryUnitOfWork:
        """A new unit of work (a ``UnitOfWorkFactory``: pass ``db.uow``); nothing here
        is on disk, so ``durable`` changes nothing."""
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

    def _latest_card(self, card_id: str) -> AlarmCard | None:
        with self._lock:
            return self._tables.alarm_cards.get(card_id)

    def _cards_of(self, rule: str, instance_id: str) -> list[AlarmCard]:
        with self._lock:
            return [
                card
                for card in self._tables.alarm_cards.values()
                if (card.rule, card.instance_id) == (rule, instance_id)
            ]

    def _latest_delivery(self, trans_id: str) -> tuple[bool, str | None]:
        """Whether ``trans_id`` was delivered (committed), and the card it is linked to."""
        with self._lock:
            return trans_id in self._tables.deliveries, self._tables.deliveries.get(trans_id)

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
        self.alarms = MemoryAlarmStore(rows)

"""The in-memory database's tables, as each unit of work copies them, and the row
locks its writes take (:class:`_Rows`): what the stores of
:mod:`bot.testing.memory_stores` read and write through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from bot.db.repositories import AuditEntry, BindingRecord
from bot.domain.alarms import AlarmCard, CardState
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest

if TYPE_CHECKING:
    from bot.testing.memory_database import MemoryDatabase, MemoryUnitOfWork


@dataclass(frozen=True)
class StoredRequest:
    """A request as the fake stores it: the snapshot and the poller's bookkeeping."""

    request: RebootRequest
    next_poll_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    version: int = 0


BindingKey = tuple[str, str, str, str, str, str]
Row = TypeVar("Row")
# A locked row: ("request", id), ("binding", key), ("card", id), ("delivery", transId),
# or ("open card", (rule, instance id)): the slot the partial unique index guards.
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


@dataclass
class _Changes:
    # Dicts, not sets: rows are written back in the order they were first written, as
    # a database numbers its inserts (``bindings_with_groups`` lists in that order).
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
        """The request's row, locked for this unit (see :meth:`_row_for_write`); None
        also when, without ``wait``, another unit holds it."""
        return self._row_for_write(
            ("request", request_id),
            self.tables.requests,
            request_id,
            lambda: self.db._latest_request(request_id),
            wait=wait,
        )

    def latest_request(self, request_id: str) -> StoredRequest | None:
        return self._row_now(
            ("request", request_id),
            self.tables.requests,
            request_id,
            lambda: self.db._latest_request(request_id),
        )

    def request_ids(self) -> set[str]:
        return self.db._request_ids() | set(self.tables.requests)

    def binding_for_write(self, key: BindingKey) -> BindingRecord | None:
        return self._row_for_write(
            ("binding", key), self.tables.bindings, key, lambda: self.db._latest_binding(key)
        )

    def _row_now(
        self,
        key: RowKey,
        table: dict[Any, Row],
        row_id: object,
        committed: Callable[[], Row | None],
    ) -> Row | None:
        """Row ``row_id`` as a statement would find it, without locking it: this unit's
        own version while it holds the row, else the latest ``committed`` one."""
        if self.db._holds(key, self.unit):
            return table.get(row_id)
        return committed()

    def _row_for_write(
        self,
        key: RowKey,
        table: dict[Any, Row],
        row_id: object,
        committed: Callable[[], Row | None],
        *,
        wait: bool = True,
    ) -> Row | None:
        """Row ``row_id`` of this unit's copy of ``table``, locked for this unit, as it
        reads now: this unit's own version once it holds the lock, else the latest
        ``committed`` one (an ``UPDATE`` re-reads the row it locked). None when it does
        not exist (or, without ``wait``, another unit holds it)."""
        if self.db._holds(key, self.unit):
            return table.get(row_id)
        if not self.db._lock_row(key, self.unit, wait=wait):
            return None
        latest = committed()
        if latest is None:
            table.pop(row_id, None)
        else:
            table[row_id] = latest
        return latest

    # Alarm cards and deliveries: the row an ``INSERT``/``UPDATE`` would wait for, read
    # as committed once it is this unit's (or as this unit wrote it).

    def card_for_write(self, card_id: str) -> AlarmCard | None:
        return self._row_for_write(
            ("card", card_id),
            self.tables.alarm_cards,
            card_id,
            lambda: self.db._latest_card(card_id),
        )

    def latest_card(self, card_id: str) -> AlarmCard | None:
        return self._row_now(
            ("card", card_id),
            self.tables.alarm_cards,
            card_id,
            lambda: self.db._latest_card(card_id),
        )

    def open_card_now(self, rule: str, instance_id: str) -> AlarmCard | None:
        """The open card of ``rule`` and ``instance_id`` as a statement finds it now:
        committed, or as this unit wrote it."""
        cards = {card.id: card for card in self.db._cards_of(rule, instance_id)}
        for card_id in self.changes.alarm_cards:
            card = self.tables.alarm_cards[card_id]
            if (card.rule, card.instance_id) == (rule, instance_id):
                cards[card_id] = card
        return next((card for card in cards.values() if card.state is CardState.OPEN), None)

    def lock_open_slot(self, rule: str, instance_id: str) -> None:
        """Lock the one open card's place of ``rule`` and ``instance_id`` for this unit: a
        second unit opening or closing one waits, as at the partial unique index."""
        key: RowKey = ("open card", (rule, instance_id))
        if not self.db._holds(key, self.unit):
            self.db._lock_row(key, self.unit, wait=True)

    def delivered_for_write(self, trans_id: str) -> bool:
        """Whether ``trans_id`` was delivered, with its row locked for this unit."""
        key: RowKey = ("delivery", trans_id)
        if not self.db._holds(key, self.unit):
            self.db._lock_row(key, self.unit, wait=True)
            delivered, card_id = self.db._latest_delivery(trans_id)
            if delivered:
                self.tables.deliveries[trans_id] = card_id
            else:
                self.tables.deliveries.pop(trans_id, None)
        return trans_id in self.tables.deliveries

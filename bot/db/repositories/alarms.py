"""CloudMonitor alarm cards and the ``transId`` of every callback seen."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.db.repositories.rows import rowcount
from bot.db.repositories.source import ConnectionSource
from bot.db.tables import AlarmCardRow, AlarmDeliveryRow
from bot.domain.alarms import AlarmCard, CardState

_CARDS = cast(Table, AlarmCardRow.__table__)
_DELIVERIES = cast(Table, AlarmDeliveryRow.__table__)
# The card's columns are its snapshot's fields, in order.
_CARD_COLUMNS = tuple(f.name for f in dataclasses.fields(AlarmCard))
_SELECT_CARD = select(*(_CARDS.c[name] for name in _CARD_COLUMNS))


class AlarmRepository:
    """Alarm cards: at most one open per rule and instance (a partial unique index)."""

    def __init__(self, session: ConnectionSource) -> None:
        self._session = session

    def first_delivery(self, trans_id: str, *, now: datetime) -> bool:
        """Record ``trans_id``; False when it was seen before (a callback sent again).
        An ``INSERT … ON CONFLICT DO NOTHING``: of two replicas receiving the same
        callback, exactly one gets True."""
        connection = self._connection()
        values = {"trans_id": trans_id, "received_at": now}
        dialect = connection.dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(_DELIVERIES).values(values)
        else:
            statement = sqlite.insert(_DELIVERIES).values(values)
        inserted = connection.execute(
            statement.on_conflict_do_nothing(index_elements=["trans_id"]).returning(
                _DELIVERIES.c.trans_id
            )
        ).first()
        return inserted is not None

    def link_delivery(self, trans_id: str, card_id: str) -> None:
        self._connection().execute(
            update(_DELIVERIES).where(_DELIVERIES.c.trans_id == trans_id).values(card_id=card_id)
        )

    def open_card(self, rule: str, instance_id: str) -> AlarmCard | None:
        """The open card of this rule and instance, locked for this transaction on
        PostgreSQL so a concurrent repeat waits instead of counting from a stale row."""
        statement = _SELECT_CARD.where(
            _CARDS.c.rule == rule,
            _CARDS.c.instance_id == instance_id,
            _CARDS.c.state == CardState.OPEN.value,
        ).with_for_update()
        row = self._connection().execute(statement).first()
        return None if row is None else _card(row)

    def get(self, card_id: str) -> AlarmCard | None:
        row = self._connection().execute(_SELECT_CARD.where(_CARDS.c.id == card_id)).first()
        return None if row is None else _card(row)

    def add(self, card: AlarmCard) -> bool:
        """Insert a new card; False when an open card of its rule and instance exists
        already (another replica opened it a moment ago)."""
        connection = self._connection()
        if connection.dialect.name == "postgresql":
            statement: Any = postgresql.insert(_CARDS).values(_values(card))
        else:
            statement = sqlite.insert(_CARDS).values(_values(card))
        inserted = connection.execute(
            statement.on_conflict_do_nothing(
                index_elements=["rule", "instance_id"], index_where=_CARDS.c.state == "open"
            ).returning(_CARDS.c.id)
        ).first()
        return inserted is not None

    def save(self, card: AlarmCard) -> bool:
        """Write every field of ``card`` over its row; False when it does not exist."""
        values = _values(card)
        del values["id"]
        result = self._connection().execute(
            update(_CARDS).where(_CARDS.c.id == card.id).values(values)
        )
        return rowcount(result) > 0

    def claim_post(self, card_id: str) -> bool:
        """Take the card's first posting (its ``message_ts`` from null to ``""``): of
        two drawings at once, exactly one posts the message."""
        result = self._connection().execute(
            update(_CARDS)
            .where(_CARDS.c.id == card_id, _CARDS.c.message_ts.is_(None))
            .values(message_ts="")
        )
        return rowcount(result) == 1

    def release_post(self, card_id: str) -> None:
        """The posting failed: the next alarm of the card tries again."""
        self._connection().execute(
            update(_CARDS)
            .where(_CARDS.c.id == card_id, _CARDS.c.message_ts == "")
            .values(message_ts=None)
        )

    def set_shown(
        self,
        card_id: str,
        *,
        message_ts: str | None = None,
        instance_name: str | None = None,
        instance_status: str | None = None,
    ) -> None:
        """What the card's message showed: its ts once posted, the instance's name and
        status once described (each only when given)."""
        values = {
            name: value
            for name, value in (
                ("message_ts", message_ts),
                ("instance_name", instance_name),
                ("instance_status", instance_status),
            )
            if value is not None
        }
        if values:
            self._connection().execute(update(_CARDS).where(_CARDS.c.id == card_id).values(values))

    def _connection(self) -> Connection:
        return self._session.connection()


def _values(card: AlarmCard) -> dict[str, Any]:
    values = {name: getattr(card, name) for name in _CARD_COLUMNS}
    values["state"] = card.state.value
    return values


def _card(row: Any) -> AlarmCard:
    fields = dict(zip(_CARD_COLUMNS, row, strict=True))
    fields["state"] = CardState(fields["state"])
    return AlarmCard(**fields)

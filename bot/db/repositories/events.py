"""Platform maintenance events, their cards, the requests opened from them, and the
watch's lease (docs/PRODUCT.md §5.11).

Like every repository it never commits and never reads the clock. The watch's lease is
one row (``event_watch`` ``events``) claimed by a conditional update, as requests are:
the replica whose update matched makes the pass; the others see 0 rows and wait.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, and_, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from bot.db.repositories.rows import REQUESTS, rowcount
from bot.db.repositories.source import ConnectionSource
from bot.db.tables import EventCardRow, EventWatchRow, PlatformEventRow, RequestEventRow
from bot.domain.events import FINAL_STATES, EventCard, EventState, KnownEvent, PlatformEvent

EVENTS = cast(Table, PlatformEventRow.__table__)
CARDS = cast(Table, EventCardRow.__table__)
LINKS = cast(Table, RequestEventRow.__table__)
WATCH = cast(Table, EventWatchRow.__table__)
WATCH_NAME = "events"
_FINAL = [state.value for state in FINAL_STATES]


class EventRepository:
    """What the bot knows of the platform's events, and who makes the next pass."""

    def __init__(self, session: ConnectionSource) -> None:
        self._session = session

    # --- the watch's lease ------------------------------------------------------------

    def claim_watch(self, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Lease the watch to ``owner`` when a pass is due and no one else holds it."""
        row = WATCH.c
        free = or_(row.lease_owner.is_(None), row.lease_expires_at <= now, row.lease_owner == owner)
        due = or_(row.next_pass_at.is_(None), row.next_pass_at <= now)
        result = self._connection().execute(
            update(WATCH)
            .where(row.name == WATCH_NAME, free, due)
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
        )
        return rowcount(result) == 1

    def renew_watch(self, owner: str, now: datetime, lease_seconds: float) -> bool:
        row = WATCH.c
        result = self._connection().execute(
            update(WATCH)
            .where(row.name == WATCH_NAME, row.lease_owner == owner)
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        )
        return rowcount(result) == 1

    def release_watch(
        self, owner: str, *, next_pass_at: datetime, passed_at: datetime | None
    ) -> bool:
        """Give the lease back and say when the next pass is due; ``passed_at`` the
        moment of a pass that completed (None: it did not, e.g. ECS throttled it)."""
        row = WATCH.c
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_expires_at": None,
            "next_pass_at": next_pass_at,
        }
        if passed_at is not None:
            values["last_pass_at"] = passed_at
        result = self._connection().execute(
            update(WATCH).where(row.name == WATCH_NAME, row.lease_owner == owner).values(values)
        )
        return rowcount(result) == 1

    def make_due(self) -> None:
        """The next pass may start at once (tests, ``events`` after a restart)."""
        self._connection().execute(
            update(WATCH).where(WATCH.c.name == WATCH_NAME).values(next_pass_at=None)
        )

    # --- events -----------------------------------------------------------------------

    def known(self, account: str, region: str, also: Collection[str] = ()) -> dict[str, KnownEvent]:
        """The events of ``account`` and ``region`` still pending as last seen, and
        those of ``also`` (ids just listed) whatever their state."""
        row = EVENTS.c
        wanted: ColumnElement[bool] = row.state.not_in(_FINAL)
        if also:
            wanted = or_(wanted, row.event_id.in_(builtins.list(also)))
        query = select(EVENTS).where(row.account == account, row.region == region, wanted)
        return {known.event_id: known for known in self._read(query)}

    def get(self, event_ids: Iterable[str]) -> builtins.list[KnownEvent]:
        ids = builtins.list(event_ids)
        if not ids:
            return []
        return self._read(select(EVENTS).where(EVENTS.c.event_id.in_(ids)))

    def pending(self) -> builtins.list[KnownEvent]:
        """Every event not ended, soonest first."""
        return self._read(
            select(EVENTS)
            .where(EVENTS.c.state.not_in(_FINAL))
            .order_by(EVENTS.c.not_before, EVENTS.c.instance_id)
        )

    def all(self, limit: int = 1000) -> builtins.list[KnownEvent]:
        """What the bot knows, newest deadline first."""
        return self._read(
            select(EVENTS).order_by(EVENTS.c.not_before.desc(), EVENTS.c.event_id).limit(limit)
        )

    def pending_for_instances(
        self, instances: Iterable[tuple[str, str]]
    ) -> builtins.list[KnownEvent]:
        """Pending reboot events of these ``(region, instance id)`` pairs."""
        pairs = set(instances)
        if not pairs:
            return []
        ids = sorted({instance_id for _, instance_id in pairs})
        found = self._read(
            select(EVENTS).where(EVENTS.c.instance_id.in_(ids), EVENTS.c.state.not_in(_FINAL))
        )
        return [k for k in found if (k.event.region, k.event.instance_id) in pairs]

    def add(
        self,
        events: Sequence[PlatformEvent],
        card_id: str | None,
        now: datetime,
        names: Mapping[str, str] | None = None,
        locks: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Record newly announced events (the pass holds the watch's lease); ``names``:
        instance id → name of the instances the bot could see, ``locks`` → their
        operation locks."""
        if not events:
            return
        self._connection().execute(
            insert(EVENTS),
            [
                {
                    **_event_values(event),
                    "card_id": card_id,
                    "first_seen_at": now,
                    "instance_name": (names or {}).get(event.instance_id),
                    "instance_locks": ",".join((locks or {}).get(event.instance_id, ())) or None,
                }
                for event in events
            ],
        )

    def update_event(self, event: PlatformEvent) -> None:
        """Write the state ECS now reports; the event's card is due a redraw."""
        self._connection().execute(
            update(EVENTS)
            .where(EVENTS.c.event_id == event.event_id)
            .values(
                state=event.state.value, finished_at=event.finished_at, not_before=event.not_before
            )
        )
        self._connection().execute(
            update(CARDS)
            .where(
                CARDS.c.id
                == select(EVENTS.c.card_id)
                .where(EVENTS.c.event_id == event.event_id)
                .scalar_subquery()
            )
            .values(redraw_due=True)
        )

    def set_fields(self, event_id: str, **fields: Any) -> None:
        """``reminded``, ``back_at``, ``passes_since_back``, ``stuck_noted``."""
        allowed = {"reminded", "back_at", "passes_since_back", "stuck_noted"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not event bookkeeping: {', '.join(sorted(unknown))}")
        self._connection().execute(
            update(EVENTS).where(EVENTS.c.event_id == event_id).values(**fields)
        )

    # --- cards ------------------------------------------------------------------------

    def add_card(
        self, card_id: str, account: str, region: str, channel: str, now: datetime
    ) -> None:
        self._connection().execute(
            insert(CARDS).values(
                id=card_id, account=account, region=region, channel=channel, created_at=now
            )
        )

    def card(self, card_id: str) -> EventCard | None:
        row = self._connection().execute(select(CARDS).where(CARDS.c.id == card_id)).first()
        if row is None:
            return None
        events = self._read(
            select(EVENTS)
            .where(EVENTS.c.card_id == card_id)
            .order_by(EVENTS.c.not_before, EVENTS.c.instance_id, EVENTS.c.event_id)
        )
        return EventCard(
            id=row.id,
            account=row.account,
            region=row.region,
            channel=row.channel,
            created_at=row.created_at,
            message_ts=row.message_ts,
            events=tuple(events),
        )

    def set_card_posted(self, card_id: str, message_ts: str) -> None:
        self._connection().execute(
            update(CARDS).where(CARDS.c.id == card_id).values(message_ts=message_ts)
        )

    def set_card_drawn(self, card_id: str) -> None:
        self._connection().execute(
            update(CARDS).where(CARDS.c.id == card_id).values(redraw_due=False)
        )

    def cards_owed(self) -> builtins.list[str]:
        """Cards Slack has not taken yet, or whose message is behind their events."""
        rows = self._connection().execute(
            select(CARDS.c.id)
            .where(or_(CARDS.c.message_ts.is_(None), CARDS.c.redraw_due.is_(True)))
            .order_by(CARDS.c.created_at, CARDS.c.id)
        )
        return builtins.list(rows.scalars())

    # --- requests opened from cards ----------------------------------------------------

    def link(self, request_id: str, event_ids: Iterable[str]) -> None:
        values = [{"request_id": request_id, "event_id": e} for e in dict.fromkeys(event_ids)]
        if values:
            self._connection().execute(insert(LINKS), values)

    def of_request(self, request_id: str) -> builtins.list[KnownEvent]:
        ids = select(LINKS.c.event_id).where(LINKS.c.request_id == request_id)
        return self._read(
            select(EVENTS).where(EVENTS.c.event_id.in_(ids)).order_by(EVENTS.c.not_before)
        )

    # --- reading ------------------------------------------------------------------------

    def _read(self, query: Any) -> builtins.list[KnownEvent]:
        rows = builtins.list(self._connection().execute(query))
        requests = self._rebooting_requests([row.event_id for row in rows])
        return [_known(row, requests.get(row.event_id)) for row in rows]

    def _rebooting_requests(self, event_ids: Sequence[str]) -> dict[str, str]:
        """Per event, the latest request opened for it that someone confirmed."""
        if not event_ids:
            return {}
        query = (
            select(LINKS.c.event_id, REQUESTS.c.id)
            .join(REQUESTS, REQUESTS.c.id == LINKS.c.request_id)
            .where(
                and_(
                    LINKS.c.event_id.in_(builtins.list(event_ids)),
                    REQUESTS.c.confirmed_at.is_not(None),
                )
            )
            .order_by(REQUESTS.c.created_at, REQUESTS.c.id)
        )
        return {event_id: request_id for event_id, request_id in self._connection().execute(query)}

    def _connection(self) -> Connection:
        return self._session.connection()


def _event_values(event: PlatformEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "account": event.account,
        "region": event.region,
        "instance_id": event.instance_id,
        "event_type": event.event_type,
        "state": event.state.value,
        "not_before": event.not_before,
        "published_at": event.published_at,
        "finished_at": event.finished_at,
    }


def _known(row: Row[Any], request_id: str | None) -> KnownEvent:
    return KnownEvent(
        event=PlatformEvent(
            event_id=row.event_id,
            account=row.account,
            region=row.region,
            instance_id=row.instance_id,
            event_type=row.event_type,
            state=EventState(row.state),
            not_before=row.not_before,
            published_at=row.published_at,
            finished_at=row.finished_at,
        ),
        card_id=row.card_id,
        instance_name=row.instance_name,
        instance_locks=tuple(row.instance_locks.split(",")) if row.instance_locks else (),
        request_id=request_id,
        reminded=row.reminded,
        back_at=row.back_at,
        passes_since_back=row.passes_since_back,
        stuck_noted=row.stuck_noted,
    )

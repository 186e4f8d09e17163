"""Alibaba Cloud's own scheduled maintenance reboots (PRODUCT §5.11), as pure rules.

The watch pass (``bot/services/event_watch.py``) asks ECS for the pending reboot events
and for the final state of those it knew that left the list; everything it then decides
is decided here, from plain values and ``now``:

* which events are new, which changed, which the bot knew and ECS no longer lists
  (``reconcile``);
* one card per account and region for the new events of a pass, soonest first, the
  soonest ``CARD_LINES`` shown and the rest counted (``cards_for``);
* how long until a deadline, as a value the Slack layer words ("in 1 d 3 h",
  ``countdown``);
* the reminder, once, ``remind`` before a still pending ``NotBefore``
  (``reminder_due``);
* an instance the bot rebooted whose event is still ``Scheduled`` two passes after it
  was back (``still_scheduled_after_reboot``);
* whether a card offers to reboot in the events window (``window_offer``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.model import InstanceRef

# The reboot-type maintenance events, the ones a reboot through the API avoids.
REBOOT_EVENT_TYPES: tuple[str, ...] = (
    "SystemMaintenance.Reboot",
    "SystemMaintenance.RebootAndIsolateErrorDisk",
    "SystemMaintenance.RebootAndReInitErrorDisk",
)
# A card lists at most this many events; the rest are counted ("and N more").
CARD_LINES = 40
# Passes an event may stay Scheduled after the bot's reboot came back before the
# card's thread says so.
PASSES_AFTER_BACK = 2
# Most event ids one DescribeInstanceHistoryEvents call takes.
MAX_EVENT_IDS_PER_CALL = 100


class EventState(StrEnum):
    """``EventCycleStatus.Name`` as ECS reports it."""

    SCHEDULED = "Scheduled"
    EXECUTING = "Executing"
    INQUIRING = "Inquiring"
    AVOIDED = "Avoided"
    EXECUTED = "Executed"
    CANCELED = "Canceled"
    FAILED = "Failed"

    @property
    def pending(self) -> bool:
        """Still to happen or happening: what the watch lists."""
        return self in (EventState.SCHEDULED, EventState.EXECUTING)

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


# What the watch asks for (the API's default, with no status, is the finished ones).
WATCHED_STATES: tuple[EventState, ...] = (EventState.SCHEDULED, EventState.EXECUTING)
FINAL_STATES = frozenset(
    {EventState.AVOIDED, EventState.EXECUTED, EventState.CANCELED, EventState.FAILED}
)


@dataclass(frozen=True)
class PlatformEvent:
    """One system event as ``DescribeInstanceHistoryEvents`` reports it."""

    event_id: str
    account: str
    region: str
    instance_id: str
    event_type: str
    state: EventState
    not_before: datetime
    published_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ref(self) -> InstanceRef:
        """The instance the event is about, in its account."""
        return InstanceRef(self.region, self.instance_id, self.account)


@dataclass(frozen=True)
class KnownEvent:
    """What the bot keeps of an event it announced (a row of ``platform_events``)."""

    event: PlatformEvent
    card_id: str | None = None
    # The instance's name when the watch announced it; None: DescribeInstances did not
    # return it (the bot cannot see it: another account, RAM, or released).
    instance_name: str | None = None
    # Its operation locks then (``security``, ``financial``, …): ECS refuses to reboot a
    # locked instance, so the card says why Reboot now cannot help it.
    instance_locks: tuple[str, ...] = ()
    request_id: str | None = None  # the request that rebooted its instance, if any
    reminded: bool = False
    back_at: datetime | None = None  # when the bot's reboot of the instance was back
    passes_since_back: int = 0  # passes that still saw it Scheduled after back_at
    stuck_noted: bool = False

    @property
    def event_id(self) -> str:
        return self.event.event_id


@dataclass(frozen=True)
class EventCard:
    """A card as stored: where it was posted and the events it announced."""

    id: str
    account: str
    region: str
    channel: str
    created_at: datetime
    message_ts: str | None
    events: tuple[KnownEvent, ...]  # soonest first

    @property
    def finished(self) -> bool:
        return card_finished(known.event.state for known in self.events)


@dataclass(frozen=True)
class Reconciled:
    """What one pass found, against what the bot knew.

    ``new``: listed, never seen (to announce); ``changed``: known events whose state ECS
    now reports differently (the card's line changes); ``missing``: known pending events
    neither list nor lookup returned (kept as they were: a later pass asks again)."""

    new: tuple[PlatformEvent, ...]
    changed: tuple[PlatformEvent, ...]
    missing: tuple[str, ...]


def to_look_up(known: Iterable[KnownEvent], listed: Iterable[PlatformEvent]) -> list[str]:
    """Ids of the known pending events the watched list no longer holds: they ended
    (or moved to a state not watched) and are looked up by ``EventId`` for how."""
    listed_ids = {event.event_id for event in listed}
    return [
        known_event.event_id
        for known_event in known
        if known_event.event.state.pending and known_event.event_id not in listed_ids
    ]


def reconcile(
    known: Mapping[str, KnownEvent],
    listed: Sequence[PlatformEvent],
    looked_up: Sequence[PlatformEvent],
) -> Reconciled:
    """New, changed (state or ``NotBefore``) and missing events after one pass (see
    ``Reconciled``).

    ``listed``: the pending reboot events of this account and region; ``looked_up``:
    what ``EventId`` returned for ``to_look_up``'s ids. Repeats in ``listed`` (a page
    boundary moving under the listing) count once."""
    new: dict[str, PlatformEvent] = {}
    changed: dict[str, PlatformEvent] = {}
    for event in [*listed, *looked_up]:
        before = known.get(event.event_id)
        if before is None:
            if event.state.pending and event.event_type in REBOOT_EVENT_TYPES:
                new.setdefault(event.event_id, event)
        elif not before.event.state.final and (
            event.state != before.event.state or event.not_before != before.event.not_before
        ):
            # A new state, or a deadline the platform moved.
            changed[event.event_id] = event
    seen = {event.event_id for event in [*listed, *looked_up]}
    missing = tuple(
        event_id for event_id in to_look_up(known.values(), listed) if event_id not in seen
    )
    return Reconciled(tuple(new.values()), tuple(changed.values()), missing)


# --- cards --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardPlan:
    """One card: the new events of one account and region in one pass."""

    account: str
    region: str
    events: tuple[PlatformEvent, ...]  # all of them, soonest first

    @property
    def shown(self) -> tuple[PlatformEvent, ...]:
        return self.events[:CARD_LINES]

    @property
    def more(self) -> int:
        """How many the card counts without listing ("and N more")."""
        return max(0, len(self.events) - CARD_LINES)

    @property
    def earliest(self) -> datetime:
        return self.events[0].not_before


def soonest_first(events: Iterable[PlatformEvent]) -> list[PlatformEvent]:
    """By ``NotBefore``, then instance and event id so the order is stable."""
    return sorted(events, key=lambda e: (e.not_before, e.instance_id, e.event_id))


def cards_for(new: Iterable[PlatformEvent]) -> list[CardPlan]:
    """One card per account and region holding new events, in account, region order."""
    groups: dict[tuple[str, str], list[PlatformEvent]] = {}
    for event in new:
        groups.setdefault((event.account, event.region), []).append(event)
    return [
        CardPlan(account, region, tuple(soonest_first(events)))
        for (account, region), events in sorted(groups.items())
    ]


def card_finished(states: Iterable[EventState]) -> bool:
    """Every event of the card has ended."""
    return all(state.final for state in states)


def rebootable(events: Iterable[KnownEvent]) -> list[KnownEvent]:
    """The card's events a **Reboot now** acts on: those still ``Scheduled``, soonest
    first (an ``Executing`` one is the platform's reboot under way)."""
    return [
        known
        for known in sorted(events, key=lambda k: (k.event.not_before, k.event.instance_id))
        if known.event.state == EventState.SCHEDULED
    ]


def reboot_reason(events: Sequence[PlatformEvent]) -> str:
    """``Alibaba Cloud <event type> <event ids>`` (one type named per distinct type)."""
    types = list(dict.fromkeys(event.event_type for event in events))
    ids = " ".join(event.event_id for event in events)
    return f"Alibaba Cloud {', '.join(types)} {ids}"


# --- time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Countdown:
    """Time until a moment, in its two largest units (the Slack layer words it:
    "in 1 d 3 h", "in 5 min", "now"). ``past``: the moment has gone by."""

    days: int
    hours: int
    minutes: int
    past: bool = False


def countdown(now: datetime, moment: datetime) -> Countdown:
    """How long from ``now`` until ``moment``, rounded down to the minute, keeping the
    two largest units that are not zero (days and hours, hours and minutes)."""
    delta = moment - now
    if delta <= timedelta(0):
        return Countdown(0, 0, 0, past=delta < timedelta(0))
    minutes_total = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return Countdown(days, hours, 0)
    return Countdown(0, hours, minutes)


def reminder_due(known: KnownEvent, now: datetime, remind: timedelta) -> bool:
    """Once, when the event is still ``Scheduled`` within ``remind`` of its
    ``NotBefore`` (and before it)."""
    event = known.event
    return (
        not known.reminded
        and event.state == EventState.SCHEDULED
        and event.not_before - remind <= now < event.not_before
    )


def passes_after_back(known: KnownEvent, state: EventState) -> int:
    """The count of passes that saw the event ``Scheduled`` after the bot's reboot
    of its instance was back, with this pass's ``state`` counted."""
    if known.back_at is None or state != EventState.SCHEDULED:
        return known.passes_since_back
    return known.passes_since_back + 1


def still_scheduled_after_reboot(known: KnownEvent) -> bool:
    """Time to say in the card's thread that the bot's reboot did not end the event
    (said once; Alibaba advises waiting 12 h before another try)."""
    return (
        not known.stuck_noted
        and known.back_at is not None
        and known.event.state == EventState.SCHEDULED
        and known.passes_since_back >= PASSES_AFTER_BACK
    )


def window_offer(opening: datetime | None, events: Iterable[PlatformEvent], now: datetime) -> bool:
    """Whether a card offers **Reboot in window**: the window's next opening comes
    after now and before the earliest deadline of the events still ``Scheduled``."""
    deadlines = [e.not_before for e in events if e.state == EventState.SCHEDULED]
    return opening is not None and bool(deadlines) and now < opening < min(deadlines)

"""The watch for Alibaba Cloud's scheduled maintenance reboots (docs/PRODUCT.md §5.11):
``watch_once(watch, now)`` makes one pass when one is due, under the watch's lease;
``EventWatch.tick`` is what the poller's event thread calls every few seconds.

A pass, per account and region: list the pending reboot events (every page), look up
by ``EventId`` the known ones that left that list, and hand both to the pure rules of
``bot.domain.events``. New events are stored with their card in one unit of work and
committed **before** the card is posted, so a crash between the two leaves a card owed
(posted by the next pass), never a second card. State changes are written and their
cards redrawn; reminders and the still-Scheduled note are marked sent before they go
out (at most once). A pass that ECS throttles or fails stops there, is tried again
soon, and has lost nothing: what it had not written is listed again next time.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from bot import metrics
from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.ecs_values import InstanceInfo
from bot.domain.errors import EcsError
from bot.domain.events import (
    REBOOT_EVENT_TYPES,
    WATCHED_STATES,
    EventCard,
    EventState,
    KnownEvent,
    PlatformEvent,
    cards_for,
    passes_after_back,
    reconcile,
    reminder_due,
    still_scheduled_after_reboot,
    to_look_up,
)
from bot.domain.model import InstanceOutcome
from bot.services.ports import Clock, RequestStore

log = logging.getLogger(__name__)

# A dead replica's pass is taken over after this long (a pass is a few ECS calls per
# region; a slow one renews nothing, so the lease is generous).
WATCH_LEASE_SECONDS = 120.0
# A failed pass (ECS throttled or away) is tried again this soon, not a full interval
# later.
RETRY_SECONDS = 30.0


# --- ports ------------------------------------------------------------------------------


class EventSource(Protocol):
    """``DescribeInstanceHistoryEvents`` (``bot.ecs.client.EcsClient.describe_events``)
    and ``DescribeInstances`` for the names on a card."""

    def describe_instances(
        self, region: str, instance_ids: Sequence[str]
    ) -> list[InstanceInfo]: ...

    def describe_events(
        self,
        region: str,
        *,
        states: Sequence[str] = (),
        types: Sequence[str] = (),
        event_ids: Sequence[str] = (),
        account: str = DEFAULT_ACCOUNT,
    ) -> list[PlatformEvent]: ...


class EventStore(Protocol):
    """The events the bot knows (``bot.db.repositories.events.EventRepository``)."""

    def claim_watch(self, owner: str, now: datetime, lease_seconds: float) -> bool: ...
    def release_watch(
        self, owner: str, *, next_pass_at: datetime, passed_at: datetime | None
    ) -> bool: ...
    def known(
        self, account: str, region: str, also: Collection[str] = ()
    ) -> dict[str, KnownEvent]: ...
    def get(self, event_ids: Iterable[str]) -> list[KnownEvent]: ...
    def pending(self) -> list[KnownEvent]: ...
    def all(self, limit: int = 1000) -> list[KnownEvent]: ...
    def add(
        self,
        events: Sequence[PlatformEvent],
        card_id: str | None,
        now: datetime,
        names: Mapping[str, str] | None = None,
        locks: Mapping[str, Sequence[str]] | None = None,
    ) -> None: ...
    def update_event(self, event: PlatformEvent) -> None: ...
    def set_fields(self, event_id: str, **fields: Any) -> None: ...
    def add_card(
        self, card_id: str, account: str, region: str, channel: str, now: datetime
    ) -> None: ...
    def card(self, card_id: str) -> EventCard | None: ...
    def set_card_posted(self, card_id: str, message_ts: str) -> None: ...
    def set_card_drawn(self, card_id: str) -> None: ...
    def cards_owed(self) -> list[str]: ...
    def link(self, request_id: str, event_ids: Iterable[str]) -> None: ...
    def of_request(self, request_id: str) -> list[KnownEvent]: ...
    def pending_for_instances(self, instances: Iterable[tuple[str, str]]) -> list[KnownEvent]: ...


class EventUnitOfWork(Protocol):
    @property
    def events(self) -> EventStore: ...

    @property
    def requests(self) -> RequestStore: ...

    def __enter__(self) -> EventUnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


@dataclass(frozen=True)
class EventNote:
    """Something said in a card's thread (and, for a reminder, the notify channel)."""

    kind: str  # "reminder" | "still_scheduled"
    event: PlatformEvent
    request_id: str | None = None


class EventPresenter(Protocol):
    """Posts and redraws cards (``bot.slack.event_cards.SlackEventPresenter``)."""

    def post_card(self, card: EventCard, now: datetime) -> str | None: ...
    def redraw_card(self, card: EventCard, now: datetime) -> bool: ...
    def note(self, card: EventCard, note: EventNote, now: datetime) -> bool: ...


@dataclass(frozen=True)
class EventConfig:
    """``ECSBOT_EVENTS*`` as plain values."""

    regions: tuple[str, ...]
    channel: str
    interval: float = 300.0
    remind: float = 21600.0
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    window: str | None = None


@dataclass(frozen=True)
class EventWatch:
    """What a pass needs, wired once by ``bot.bootstrap``."""

    uow: Callable[[], EventUnitOfWork]
    source: EventSource
    presenter: EventPresenter
    config: EventConfig
    owner: str
    clock: Clock
    new_id: Callable[[], str] = lambda: secrets.token_hex(6)

    def tick(self) -> WatchReport:
        """One pass if one is due (the poller's event thread asks every few seconds)."""
        return watch_once(self, self.clock())


@dataclass
class WatchReport:
    """What one call to ``watch_once`` did (empty when no pass was due or ours)."""

    ran: bool = False
    completed: bool = False
    announced: list[str] = field(default_factory=list)  # event ids
    cards: list[str] = field(default_factory=list)  # card ids posted
    changed: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    still_scheduled: list[str] = field(default_factory=list)
    error: EcsError | None = None


# --- the pass -------------------------------------------------------------------------


def watch_once(watch: EventWatch, now: datetime) -> WatchReport:
    """One pass, if due and no other replica is making one."""
    report = WatchReport()
    with watch.uow() as uow:
        claimed = uow.events.claim_watch(watch.owner, now, WATCH_LEASE_SECONDS)
        uow.commit()
    if not claimed:
        return report
    report.ran = True
    next_pass = now + timedelta(seconds=watch.config.interval)
    try:
        for account in watch.config.accounts:
            for region in watch.config.regions:
                _look(watch, account, region, now, report)
        report.completed = True
    except EcsError as error:
        # Throttled, or ECS away: what was not written is listed again next pass.
        log.warning("event watch pass stopped: %s", error)
        report.error = error
        next_pass = now + timedelta(seconds=min(RETRY_SECONDS, watch.config.interval))
    finally:
        try:
            _follow_up(watch, now, report)
        finally:
            with watch.uow() as uow:
                uow.events.release_watch(
                    watch.owner,
                    next_pass_at=next_pass,
                    passed_at=now if report.completed else None,
                )
                uow.commit()
    _count(watch)
    return report


def _look(watch: EventWatch, account: str, region: str, now: datetime, report: WatchReport) -> None:
    """One account and region: list, look up, reconcile, store (then the cards go out
    in ``_follow_up``)."""
    listed = watch.source.describe_events(
        region,
        states=[state.value for state in WATCHED_STATES],
        types=REBOOT_EVENT_TYPES,
        account=account,
    )
    with watch.uow() as uow:
        known = uow.events.known(account, region, also=[e.event_id for e in listed])
    gone = to_look_up(known.values(), listed)
    looked_up = (
        watch.source.describe_events(region, event_ids=gone, account=account) if gone else []
    )
    found = reconcile(known, listed, looked_up)
    seen = (
        watch.source.describe_instances(region, sorted({e.instance_id for e in found.new}))
        if found.new
        else []
    )
    names = {info.instance_id: info.name for info in seen}
    locks = {info.instance_id: info.operation_locks for info in seen if info.operation_locks}
    seen_state = {e.event_id: e.state for e in [*listed, *looked_up]}
    with watch.uow() as uow:
        for card in cards_for(found.new):
            card_id = watch.new_id()
            uow.events.add_card(card_id, account, region, watch.config.channel, now)
            uow.events.add(card.events, card_id, now, names, locks)
            report.cards.append(card_id)
            report.announced += [e.event_id for e in card.events]
        for event in found.changed:
            uow.events.update_event(event)
            report.changed.append(event.event_id)
        for event_id, before in known.items():
            _after_the_bots_reboot(uow, before, seen_state.get(event_id, before.event.state))
        uow.commit()


def _after_the_bots_reboot(uow: EventUnitOfWork, known: KnownEvent, state: EventState) -> None:
    """Count the passes an event stays ``Scheduled`` after the bot's reboot of its
    instance was back."""
    back_at = known.back_at
    if back_at is None and known.request_id is not None:
        back_at = _back_at(uow.requests, known)
        if back_at is not None:
            uow.events.set_fields(known.event_id, back_at=back_at)
    if back_at is None or known.stuck_noted:
        return
    passes = passes_after_back(dataclasses.replace(known, back_at=back_at), state)
    if passes != known.passes_since_back:
        uow.events.set_fields(known.event_id, passes_since_back=passes)


def _back_at(requests: RequestStore, known: KnownEvent) -> datetime | None:
    """When the request that rebooted the event's instance saw it back, if it did."""
    assert known.request_id is not None
    request = requests.get(known.request_id)
    if request is None:
        return None
    for instance in request.instances:
        if (
            instance.ref.region == known.event.region
            and instance.ref.instance_id == known.event.instance_id
            and instance.outcome is InstanceOutcome.SUCCEEDED
        ):
            return instance.finished_at
    return None


def _follow_up(watch: EventWatch, now: datetime, report: WatchReport) -> None:
    """Cards Slack has not taken (or whose lines changed), reminders, and the note on
    an event still Scheduled after the bot's reboot. Each note is marked before it is
    sent: a crash loses one rather than repeating it."""
    remind = timedelta(seconds=watch.config.remind)
    with watch.uow() as uow:
        owed = uow.events.cards_owed()
    # Cards first, so that a note has the card's thread to go to.
    for card_id in owed:
        _draw(watch, card_id, now)
    with watch.uow() as uow:
        pending = uow.events.pending()
    for known in pending:
        kind = None
        if reminder_due(known, now, remind):
            kind, mark = "reminder", {"reminded": True}
        elif still_scheduled_after_reboot(known):
            kind, mark = "still_scheduled", {"stuck_noted": True}
        if kind is None or known.card_id is None:
            continue
        if kind == "reminder" and _card_unposted(watch, known.card_id):
            continue  # Slack has not taken the card yet: remind once it is there
        with watch.uow() as uow:
            uow.events.set_fields(known.event_id, **mark)
            card = uow.events.card(known.card_id)
            uow.commit()
        if card is not None:
            watch.presenter.note(card, EventNote(kind, known.event, known.request_id), now)
            (report.reminded if kind == "reminder" else report.still_scheduled).append(
                known.event_id
            )


def _card_unposted(watch: EventWatch, card_id: str) -> bool:
    with watch.uow() as uow:
        card = uow.events.card(card_id)
    return card is None or card.message_ts is None


def _draw(watch: EventWatch, card_id: str, now: datetime) -> None:
    with watch.uow() as uow:
        card = uow.events.card(card_id)
    if card is None:
        return
    if card.message_ts is None:
        ts = watch.presenter.post_card(card, now)
        if ts is None:
            return  # Slack did not take it: still owed, next pass
        with watch.uow() as uow:
            uow.events.set_card_posted(card_id, ts)
            uow.events.set_card_drawn(card_id)
            uow.commit()
        return
    if watch.presenter.redraw_card(card, now):
        with watch.uow() as uow:
            uow.events.set_card_drawn(card_id)
            uow.commit()


def _count(watch: EventWatch) -> None:
    """The metrics: events pending, avoided, executed by the platform."""
    with watch.uow() as uow:
        known = uow.events.all(limit=100_000)
    counts = {state: 0 for state in EventState}
    for k in known:
        counts[k.event.state] += 1
    metrics.EVENTS.labels(state="pending").set(
        counts[EventState.SCHEDULED] + counts[EventState.EXECUTING]
    )
    metrics.EVENTS.labels(state="avoided").set(counts[EventState.AVOIDED])
    metrics.EVENTS.labels(state="executed").set(counts[EventState.EXECUTED])


__all__ = [
    "EventConfig",
    "EventNote",
    "EventPresenter",
    "EventSource",
    "EventStore",
    "EventUnitOfWork",
    "EventWatch",
    "WatchReport",
    "watch_once",
]

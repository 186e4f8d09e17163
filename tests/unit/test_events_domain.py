"""The pure rules of the platform-event watch (bot/domain/events.py), with plain values
and a clock: which events are new, the cards' grouping and order, countdowns, the
reminder, the still-Scheduled-after-a-reboot note, the window offer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.events import (
    CARD_LINES,
    Countdown,
    EventState,
    KnownEvent,
    PlatformEvent,
    cards_for,
    countdown,
    passes_after_back,
    reboot_reason,
    rebootable,
    reconcile,
    reminder_due,
    still_scheduled_after_reboot,
    to_look_up,
    window_offer,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
REBOOT = "SystemMaintenance.Reboot"


def event(
    n: int,
    *,
    state: EventState = EventState.SCHEDULED,
    hours: float = 24,
    region: str = "cn-hangzhou",
    account: str = "default",
    kind: str = REBOOT,
) -> PlatformEvent:
    return PlatformEvent(
        event_id=f"e-{n:04d}",
        account=account,
        region=region,
        instance_id=f"i-bp1inst{n:04d}",
        event_type=kind,
        state=state,
        not_before=NOW + timedelta(hours=hours),
    )


def known(e: PlatformEvent, **fields: object) -> KnownEvent:
    return KnownEvent(event=e, card_id="c-1", **fields)  # type: ignore[arg-type]


# --- which events are new ------------------------------------------------------------------


def test_unknown_pending_reboot_events_are_new_and_known_ones_are_not() -> None:
    a, b = event(1), event(2)
    result = reconcile({}, [a, b], [])
    assert result.new == (a, b)
    again = reconcile({a.event_id: known(a), b.event_id: known(b)}, [a, b], [])
    assert again.new == ()
    assert again.changed == ()


def test_a_repeat_across_pages_counts_once_and_other_types_are_not_announced() -> None:
    a = event(1)
    stop = event(2, kind="SystemMaintenance.Stop")
    assert reconcile({}, [a, a, stop], []).new == (a,)


def test_known_events_that_left_the_list_are_looked_up_and_changed() -> None:
    a, b = event(1), event(2)
    state = {a.event_id: known(a), b.event_id: known(b)}
    assert to_look_up(state.values(), [b]) == [a.event_id]
    avoided = event(1, state=EventState.AVOIDED)
    result = reconcile(state, [b], [avoided])
    assert result.changed == (avoided,)
    assert result.new == ()
    assert result.missing == ()


def test_a_known_event_neither_listed_nor_found_is_missing_not_ended() -> None:
    a = event(1)
    result = reconcile({a.event_id: known(a)}, [], [])
    assert result.missing == (a.event_id,)
    assert result.changed == ()


def test_a_moved_deadline_is_a_change() -> None:
    a = event(1)
    later = event(1, hours=48)
    assert reconcile({a.event_id: known(a)}, [later], []).changed == (later,)


def test_scheduled_to_executing_is_a_change_and_final_states_do_not_move() -> None:
    a = event(1)
    executing = event(1, state=EventState.EXECUTING)
    assert reconcile({a.event_id: known(a)}, [executing], []).changed == (executing,)
    done = event(1, state=EventState.EXECUTED)
    assert reconcile({a.event_id: known(done)}, [], [a]).changed == ()
    # A finished event is never looked up again.
    assert to_look_up([known(done)], []) == []


# --- cards ------------------------------------------------------------------------------


def test_one_card_per_account_and_region_soonest_first() -> None:
    late = event(1, hours=30)
    soon = event(2, hours=2)
    other_region = event(3, region="cn-shanghai")
    other_account = event(4, account="prod")
    cards = cards_for([late, other_region, soon, other_account])
    assert [(c.account, c.region) for c in cards] == [
        ("default", "cn-hangzhou"),
        ("default", "cn-shanghai"),
        ("prod", "cn-hangzhou"),
    ]
    assert cards[0].events == (soon, late)
    assert cards[0].earliest == soon.not_before
    assert cards[0].more == 0


def test_more_than_40_shows_the_soonest_40_and_counts_the_rest() -> None:
    events = [event(n, hours=100 - n) for n in range(45)]
    (card,) = cards_for(events)
    assert len(card.shown) == CARD_LINES
    assert card.more == 5
    assert card.shown[0] == events[-1]  # the soonest
    assert {e.event_id for e in card.shown} == {e.event_id for e in events[5:]}


def test_reboot_now_takes_only_the_scheduled_ones_and_names_them() -> None:
    a, b = event(1, hours=5), event(2, hours=3)
    gone = event(3, state=EventState.AVOIDED)
    running = event(4, state=EventState.EXECUTING)
    chosen = rebootable([known(a), known(b), known(gone), known(running)])
    assert [k.event for k in chosen] == [b, a]
    assert reboot_reason([b.event for b in chosen]) == f"Alibaba Cloud {REBOOT} e-0002 e-0001"


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "want"),
    [
        (timedelta(days=1, hours=3, minutes=59), Countdown(1, 3, 0)),
        (timedelta(hours=5, minutes=7, seconds=30), Countdown(0, 5, 7)),
        (timedelta(minutes=4, seconds=59), Countdown(0, 0, 4)),
        (timedelta(seconds=30), Countdown(0, 0, 0)),
        (timedelta(0), Countdown(0, 0, 0)),
        (-timedelta(minutes=1), Countdown(0, 0, 0, past=True)),
    ],
)
def test_countdown_keeps_the_two_largest_units(delta: timedelta, want: Countdown) -> None:
    assert countdown(NOW, NOW + delta) == want


@given(st.integers(min_value=0, max_value=60 * 24 * 60))
def test_countdown_never_overstates(minutes: int) -> None:
    got = countdown(NOW, NOW + timedelta(minutes=minutes))
    assert timedelta(days=got.days, hours=got.hours, minutes=got.minutes) <= timedelta(
        minutes=minutes
    )
    assert got.hours < 24
    assert got.minutes < 60


# --- the reminder ---------------------------------------------------------------------------


def test_reminder_once_within_the_lead_and_only_while_scheduled() -> None:
    remind = timedelta(hours=6)
    a = known(event(1, hours=6))  # NotBefore in exactly 6 h
    assert reminder_due(a, NOW, remind)
    assert not reminder_due(a, NOW - timedelta(seconds=1), remind)  # too early
    assert not reminder_due(known(a.event, reminded=True), NOW, remind)  # once
    assert not reminder_due(a, NOW + timedelta(hours=6), remind)  # the deadline is here
    assert not reminder_due(known(event(1, hours=6, state=EventState.AVOIDED)), NOW, remind)


# --- still Scheduled after the bot's reboot -------------------------------------------------


def test_still_scheduled_two_passes_after_it_was_back_is_said_once() -> None:
    a = known(event(1), back_at=NOW)
    passes = passes_after_back(a, EventState.SCHEDULED)
    first = known(a.event, back_at=NOW, passes_since_back=passes)
    assert not still_scheduled_after_reboot(first)
    second = known(
        a.event, back_at=NOW, passes_since_back=passes_after_back(first, EventState.SCHEDULED)
    )
    assert still_scheduled_after_reboot(second)
    assert not still_scheduled_after_reboot(
        known(a.event, back_at=NOW, passes_since_back=2, stuck_noted=True)
    )
    # Not rebooted by the bot, or not Scheduled any more: never.
    assert passes_after_back(known(a.event), EventState.SCHEDULED) == 0
    assert not still_scheduled_after_reboot(known(a.event, passes_since_back=5))
    assert passes_after_back(first, EventState.AVOIDED) == 1


# --- the window offer --------------------------------------------------------------------------


def test_window_offer_only_when_the_window_opens_before_the_earliest_deadline() -> None:
    events = [event(1, hours=10), event(2, hours=30)]
    assert window_offer(NOW + timedelta(hours=9), events, NOW)
    assert not window_offer(NOW + timedelta(hours=11), events, NOW)
    assert not window_offer(None, events, NOW)
    assert not window_offer(NOW - timedelta(hours=1), events, NOW)
    assert not window_offer(NOW + timedelta(hours=1), [event(3, state=EventState.AVOIDED)], NOW)

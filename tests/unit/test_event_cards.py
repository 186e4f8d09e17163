"""Platform event cards as Slack shows them (bot/slack/event_cards.py): countdown words,
state words, the 40-line limit with "and N more", Slack's block and text limits, the
Reboot now button only while an event is still Scheduled, and Reboot in window only when
the events window opens before the earliest deadline."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.events import Countdown, EventCard, EventState, KnownEvent, PlatformEvent
from bot.domain.windows import Window, WindowsProblem, parse_windows
from bot.slack.blocks import MAX_BLOCKS, MAX_SECTION_CHARS
from bot.slack.event_cards import (
    ACTION_EVENT_REBOOT,
    ACTION_EVENT_SCHEDULE,
    card_message,
    countdown_text,
    pending_events_text,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def known(n: int, *, state: EventState = EventState.SCHEDULED, **fields: object) -> KnownEvent:
    event = PlatformEvent(
        event_id=f"e-{n:020d}",
        account="default",
        region="cn-hangzhou",
        instance_id=f"i-bp1{n:017d}",
        event_type="SystemMaintenance.RebootAndReInitErrorDisk",
        state=state,
        not_before=NOW + timedelta(hours=27, minutes=n),
    )
    return KnownEvent(event=event, card_id="c1", instance_name=f"web-{n:02d}", **fields)  # type: ignore[arg-type]


def card(events: list[KnownEvent]) -> EventCard:
    return EventCard("c1", "default", "cn-hangzhou", "C1", NOW, "1.1", tuple(events))


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (Countdown(1, 3, 0), "in 1 d 3 h"),
        (Countdown(2, 0, 0), "in 2 d"),
        (Countdown(0, 5, 7), "in 5 h 7 min"),
        (Countdown(0, 0, 4), "in 4 min"),
        (Countdown(0, 0, 0), "now"),
        (Countdown(0, 0, 0, past=True), "passed"),
    ],
)
def test_countdown_words(value: Countdown, words: str) -> None:
    assert countdown_text(value) == words


def test_a_card_of_45_shows_40_within_slacks_limits_and_counts_the_rest() -> None:
    message = card_message(card([known(n) for n in range(45)]), NOW)
    blocks = message.block_dicts()
    assert len(blocks) <= MAX_BLOCKS
    shown = json.dumps(blocks)
    assert all(f"i-bp1{n:017d}" in shown for n in range(40))
    assert f"i-bp1{44:017d}" not in shown
    assert "and 5 more" in shown
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            assert len(str(text["text"])) <= MAX_SECTION_CHARS
    assert "in 1 d 3 h" in shown


def test_state_words_and_the_button_only_while_something_is_scheduled() -> None:
    events = [
        known(1, state=EventState.AVOIDED, request_id="r-abc"),
        known(2, state=EventState.EXECUTED),
        known(3, state=EventState.CANCELED),
        replace(known(4), instance_name=None),
    ]
    message = card_message(card(events), NOW)
    shown = json.dumps(message.block_dicts())
    assert "avoided by request `r-abc`" in shown
    assert "rebooted by the platform" in shown
    assert "canceled by Alibaba Cloud" in shown
    assert "not visible to the bot" in shown
    actions = [b for b in message.block_dicts() if b["type"] == "actions"]
    elements = actions[0]["elements"]
    assert isinstance(elements, list)
    assert [e["action_id"] for e in elements] == [ACTION_EVENT_REBOOT]
    ended = card_message(card(events[:3]), NOW)
    assert not [b for b in ended.block_dicts() if b["type"] == "actions"]
    assert "Every event of this card has ended" in json.dumps(ended.block_dicts())


def test_the_events_list() -> None:
    assert "No platform maintenance reboot is pending" in pending_events_text([], NOW)
    listed = pending_events_text([known(1), known(2)], NOW)
    assert "(2)" in listed
    assert "web-01" in listed


def _window(text: str) -> Window:
    windows = parse_windows(text, default_tz="UTC")
    assert not isinstance(windows, WindowsProblem)
    (window,) = windows.values()
    return window


def _buttons(events: list[KnownEvent], window: Window | None) -> list[tuple[str, str, str]]:
    message = card_message(card(events), NOW, window)
    actions = [b for b in message.block_dicts() if b["type"] == "actions"]
    if not actions:
        return []
    elements = actions[0]["elements"]
    assert isinstance(elements, list)
    return [(e["action_id"], e["value"], e["text"]["text"]) for e in elements]


def test_reboot_in_window_is_offered_only_when_the_window_opens_before_the_deadline() -> None:
    events = [known(1), known(2)]  # not before NOW + 27 h, on 2026-12-07 15:01 UTC
    reboot_now = (ACTION_EVENT_REBOOT, "c1", "Reboot now")
    # Opens today at 14:00 UTC, before the deadline: both buttons, the value the card's id.
    night = _window("night=daily 14:00-16:00")
    assert _buttons(events, night) == [
        reboot_now,
        (ACTION_EVENT_SCHEDULE, "c1", "Reboot in window night"),
    ]
    # 2026-12-06 is a Sunday: the next opening (12-13) comes after the deadline.
    assert _buttons(events, _window("sunday=Sun 00:00-02:00")) == [reboot_now]
    # No events window set.
    assert _buttons(events, None) == [reboot_now]
    # Only events still Scheduled count, and none left: no buttons at all.
    assert _buttons([known(1, state=EventState.EXECUTED)], night) == []

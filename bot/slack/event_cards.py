"""Platform event cards (docs/PRODUCT.md §5.11): their Block Kit, the words for each
event's state and countdown, and the ``EventPresenter`` that posts them.

Pure builders first (snapshots and ``now`` in, ``Message`` out), then the presenter. As
in ``presenter.py``, a Slack failure is logged and reported as "not taken": the card
stays owed in the database and the next pass posts it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.events import (
    CARD_LINES,
    Countdown,
    EventCard,
    EventState,
    KnownEvent,
    countdown,
    rebootable,
    window_offer,
)
from bot.domain.windows import Window, next_opening
from bot.services.event_watch import EventNote
from bot.slack.blocks import MAX_SECTION_CHARS, Message, code, escape, slack_date
from bot.slack.presenter import SlackPresenter

log = logging.getLogger(__name__)

ACTION_EVENT_REBOOT = "event_reboot"
ACTION_EVENT_SCHEDULE = "event_schedule"
EVENT_ACTIONS_BLOCK_ID = "event_actions"


def countdown_text(value: Countdown) -> str:
    """ "in 1 d 3 h", "in 5 h 7 min", "in 4 min", "now", "passed"."""
    if value.past:
        return "passed"
    parts = []
    if value.days:
        parts.append(f"{value.days} d")
    if value.hours:
        parts.append(f"{value.hours} h")
    if value.minutes and not value.days:
        parts.append(f"{value.minutes} min")
    return "in " + " ".join(parts) if parts else "now"


def state_text(known: KnownEvent) -> str:
    """What became of one event, as its line on the card says it."""
    match known.event.state:
        case EventState.SCHEDULED:
            return ":hourglass_flowing_sand: scheduled"
        case EventState.EXECUTING:
            return ":arrows_counterclockwise: the platform is rebooting it now"
        case EventState.AVOIDED:
            by = f" by request {code(known.request_id)}" if known.request_id else ""
            return f":white_check_mark: avoided{by}"
        case EventState.EXECUTED:
            return ":warning: rebooted by the platform"
        case EventState.CANCELED:
            return ":heavy_multiplication_x: canceled by Alibaba Cloud"
        case EventState.FAILED:
            return ":x: the platform's maintenance failed"
        case _:
            return escape(known.event.state.value)


def event_line(known: KnownEvent, now: datetime) -> str:
    event = known.event
    name = (
        f"*{escape(known.instance_name)}*"
        if known.instance_name is not None
        else "_not visible to the bot (another account, RAM, or released)_"
    )
    if known.instance_locks:
        reasons = ", ".join(escape(r) for r in known.instance_locks)
        name += f" _(locked: {reasons}; ECS refuses to reboot it)_"
    when = slack_date(event.not_before)
    left = ""
    if not event.state.final:
        left = f" ({countdown_text(countdown(now, event.not_before))})"
    return (
        f"• {code(event.instance_id)} {name}: {escape(event.event_type)}, not before "
        f"{when}{left}, event {code(event.event_id)}: {state_text(known)}"
    )


def card_message(card: EventCard, now: datetime, window: Window | None = None) -> Message:
    """The card: every event (soonest first; the soonest ``CARD_LINES``, then a count),
    and **Reboot now** while any is still ``Scheduled``; with ``window`` (the
    ``ECSBOT_EVENTS_WINDOW``) opening before the earliest deadline, also **Reboot in
    window NAME**."""
    count = len(card.events)
    noun = "reboot" if count == 1 else "reboots"
    title = f"Alibaba Cloud scheduled {count} maintenance {noun} in {card.region}"
    if card.account != "default":
        title += f" ({card.account})"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title[:150]))]
    lines = [event_line(known, now) for known in card.events[:CARD_LINES]]
    for chunk in _chunks(lines):
        blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
    more = count - CARD_LINES
    notes = []
    if more > 0:
        notes.append(f"and {more} more")
    if card.finished:
        notes.append(":checkered_flag: Every event of this card has ended.")
    else:
        notes.append(
            "A reboot through the bot before the deadline avoids the platform's own reboot."
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" ".join(notes))]))
    if rebootable(card.events):
        actions = [
            ButtonElement(
                text=PlainTextObject(text="Reboot now"),
                action_id=ACTION_EVENT_REBOOT,
                value=card.id,
                style="primary",
            )
        ]
        opening = None if window is None else next_opening(window, now)
        if window is not None and window_offer(opening, [k.event for k in card.events], now):
            actions.append(
                ButtonElement(
                    text=PlainTextObject(text=f"Reboot in window {window.name}"[:75]),
                    action_id=ACTION_EVENT_SCHEDULE,
                    value=card.id,
                )
            )
        blocks.append(ActionsBlock(block_id=EVENT_ACTIONS_BLOCK_ID, elements=actions))
    return Message(text=title, blocks=tuple(blocks))


def note_text(note: EventNote, now: datetime) -> str:
    event = note.event
    if note.kind == "reminder":
        return (
            f":alarm_clock: Reminder: Alibaba Cloud will reboot {code(event.instance_id)} "
            f"({escape(event.event_type)}) {countdown_text(countdown(now, event.not_before))}, "
            f"not before {slack_date(event.not_before)}. *Reboot now* on the card avoids it."
        )
    by = f" (request {code(note.request_id)})" if note.request_id else ""
    return (
        f":warning: The bot rebooted {code(event.instance_id)}{by}, but event "
        f"{code(event.event_id)} is still scheduled two looks after the instance was back. "
        "The platform may need another reboot; Alibaba Cloud advises waiting 12 hours "
        "before trying again."
    )


def pending_events_text(events: Sequence[KnownEvent], now: datetime) -> str:
    """``/ecs-reboot events``: the pending events, soonest first."""
    if not events:
        return ":white_check_mark: No platform maintenance reboot is pending."
    shown = [event_line(known, now) for known in events[:CARD_LINES]]
    more = len(events) - CARD_LINES
    tail = f"\n…and {more} more" if more > 0 else ""
    return f"*Pending platform maintenance reboots ({len(events)}):*\n" + "\n".join(shown) + tail


def _chunks(lines: Sequence[str]) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MAX_SECTION_CHARS and current:
            chunks.append(current)
            candidate = line
        current = candidate[:MAX_SECTION_CHARS]
    if current:
        chunks.append(current)
    return chunks


class SlackEventPresenter(SlackPresenter):
    """``EventPresenter`` over the Slack Web API (posting and redrawing as the request
    messages are: logged and swallowed, the card stays owed). ``window``: the
    ``ECSBOT_EVENTS_WINDOW``, for **Reboot in window**."""

    def __init__(
        self, client: WebClient, *, notify_channel: str | None = None, window: Window | None = None
    ) -> None:
        super().__init__(client, notify_channel=notify_channel)
        self._window = window

    def post_card(self, card: EventCard, now: datetime) -> str | None:
        return self._post(card.channel, card_message(card, now, self._window))

    def redraw_card(self, card: EventCard, now: datetime) -> bool:
        if card.message_ts is None:
            return False
        return self._update(
            card.channel,
            card.message_ts,
            card_message(card, now, self._window),
            what=f"event card {card.id}",
        )

    def note(self, card: EventCard, note: EventNote, now: datetime) -> bool:
        text = note_text(note, now)
        ok = True
        if card.message_ts is not None:
            ok = self._post(card.channel, Message(text=text), thread_ts=card.message_ts) is not None
        if note.kind == "reminder" and self._notify_channel:
            ok = self._post(self._notify_channel, Message(text=text)) is not None and ok
        return ok

"""**Reboot now** on a platform event card (docs/PRODUCT.md §5.11): a preview requested
by whoever clicked, under every rule of a slash command, for exactly the card's
instances whose event is still ``Scheduled``, with the reason naming the events.
**Reboot in window NAME** (``event_schedule``) is the same preview with the command's
WHEN the ``ECSBOT_EVENTS_WINDOW`` (``--window NAME``), so the confirm schedules it.

Decided before the ack on the database alone, like every click: the card is read, a
card whose events all ended is answered so (ephemeral, nothing recorded), and the
channel and role checks a slash command gets before its ack are made. The preview
itself (ECS, the DryRun, the full authorization with tags) runs after the ack, and the
request it records is linked to the events, so the card and ``history`` name it.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.commands import RebootCommand
from bot.domain.events import reboot_reason, rebootable
from bot.domain.model import RequestSource
from bot.domain.schedule import InWindow, WhenProblem, resolve_when
from bot.services import preview as preview_service
from bot.services.answers import CannotSchedule, CardEventsEnded, Denied, NoSuchCard, OtherChannel
from bot.services.clicks import Click, Later, telling
from bot.services.context import Context
from bot.services.event_watch import EventWatch

COMMAND_TEXT = "(Reboot now on a platform event card)"
SCHEDULE_COMMAND_TEXT = "(Reboot in window {window} on a platform event card)"


def schedule_from_card(ctx: Context, watch: EventWatch, click: Click) -> Later:
    """``event_schedule``: as ``event_reboot``, scheduled for the events window's next
    opening (resolved by the preview, as a typed ``--window`` is)."""
    window = watch.config.window
    if window is None:  # a card drawn before ECSBOT_EVENTS_WINDOW was unset
        return telling(ctx, click, CannotSchedule(WhenProblem("ECSBOT_EVENTS_WINDOW is not set.")))
    return reboot_from_card(ctx, watch, click, window=window)


def _opens_too_late(ctx: Context, window: str, deadline: datetime) -> WhenProblem | None:
    """Why the window cannot avoid the platform's reboot now (its next opening is at or
    after the earliest ``NotBefore``: a card drawn earlier may still offer it), or None."""
    config = ctx.config
    placed = resolve_when(
        InWindow(window),
        now=ctx.clock(),
        tz=config.timezone,
        windows=config.windows,
        limits=config.schedule_limits,
    )
    if isinstance(placed, WhenProblem):
        return placed
    if placed.start >= deadline:
        return WhenProblem(
            f"Window {window} next opens at {placed.start:%Y-%m-%d %H:%M} UTC, after the "
            f"platform's reboot at {deadline:%Y-%m-%d %H:%M} UTC: use Reboot now instead."
        )
    return None


def reboot_from_card(
    ctx: Context, watch: EventWatch, click: Click, *, window: str | None = None
) -> Later:
    """``event_reboot``: ``click.request_id`` holds the card's id (the button's value);
    with ``window``, the command runs in that window."""
    card_id = click.request_id
    with watch.uow() as uow:
        card = uow.events.card(card_id)
    if card is None:
        return telling(ctx, click, NoSuchCard(card_id))
    if card.channel != click.channel:
        return telling(ctx, click, OtherChannel())
    chosen = rebootable(card.events)
    if not chosen:
        return telling(ctx, click, CardEventsEnded(card_id))
    if window is not None:
        late = _opens_too_late(ctx, window, min(k.event.not_before for k in chosen))
        if late is not None:
            return telling(ctx, click, CannotSchedule(late))
    command = RebootCommand(
        tuple(k.event.ref for k in chosen),
        reason=reboot_reason([k.event for k in chosen]),
        accounts=(card.account,),  # a card is one account's
        when=None if window is None else InWindow(window),
    )
    asked = preview_service.PreviewAsked(
        click.user,
        card.channel,
        command,
        command_text=COMMAND_TEXT
        if window is None
        else SCHEDULE_COMMAND_TEXT.format(window=window),
        request_id=ctx.new_id(),
        source=RequestSource.EVENT,
    )
    decision = preview_service.early_check(ctx, asked)
    if decision.denial is not None:
        return telling(ctx, click, Denied(decision.denial))
    event_ids = [k.event_id for k in chosen]

    def preview_for_events() -> bool:
        opened = preview_service.preview(ctx, asked)
        if opened is None:
            return False
        with watch.uow() as uow:
            uow.events.link(opened.id, event_ids)
            uow.commit()
        return True

    return preview_for_events

"""Listeners of the platform event watch (docs/PRODUCT.md §5.11): ``/ecs-reboot events``
(the pending events, ephemeral) and the cards' **Reboot now** (``event_reboot``) and
**Reboot in window NAME** (``event_schedule``).

Registered before the general command listener, so ``events`` is answered here and
every other command text still reaches the parser.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App

from bot.domain.errors import StoreUnavailable
from bot.domain.model import Role
from bot.domain.policy import Target, check_channel, check_role
from bot.services import event_reboot
from bot.services.context import Context
from bot.services.event_watch import EventWatch
from bot.slack import listeners
from bot.slack.event_cards import (
    ACTION_EVENT_REBOOT,
    ACTION_EVENT_SCHEDULE,
    pending_events_text,
)
from bot.slack.jobs import Jobs
from bot.slack.surfaces import Forms
from bot.slack.text import denied_text

log = logging.getLogger(__name__)

EVENTS_WORD = "events"


WATCH_OFF = (
    "The bot does not watch Alibaba Cloud's scheduled maintenance reboots here "
    "(ECSBOT_EVENTS is not `true`)."
)


def register_events(
    app: App, ctx: Context, jobs: Jobs, forms: Forms, watch: EventWatch | None
) -> None:
    """``/ecs-reboot events`` always (saying so when the watch is off); the cards'
    button only with the watch."""

    def is_events(body: dict[str, Any]) -> bool:
        return str(body.get("text", "")).strip().lower() == EVENTS_WORD

    @app.command(re.compile(r"^/.+"), matchers=[is_events])
    def on_events(ack: Ack, command: dict[str, Any]) -> None:
        user = str(command.get("user_id", ""))
        channel = str(command.get("channel_id", ""))
        try:
            reply = (
                WATCH_OFF if watch is None else events_reply(ctx, watch, user=user, channel=channel)
            )
        except StoreUnavailable as error:
            reply = f":x: {error}"
        ack(text=reply, response_type="ephemeral")

    if watch is None:
        return
    on = watch

    def cards_channel(_: Context, card_id: str) -> str | None:
        with on.uow() as uow:
            card = uow.events.card(card_id)
        return None if card is None else card.channel

    app.action(ACTION_EVENT_REBOOT)(
        listeners._on_click(
            ctx,
            jobs,
            forms,
            lambda c, click: event_reboot.reboot_from_card(c, on, click),
            home_channel=cards_channel,
        )
    )
    app.action(ACTION_EVENT_SCHEDULE)(
        listeners._on_click(
            ctx,
            jobs,
            forms,
            lambda c, click: event_reboot.schedule_from_card(c, on, click),
            home_channel=cards_channel,
        )
    )


def events_reply(ctx: Context, watch: EventWatch, *, user: str, channel: str) -> str:
    """The pending events, for whoever may view them (a viewer role covering them)."""
    allowed_here = check_channel(channel, ctx.config.allowed_channels)
    if allowed_here.denial is not None:
        return denied_text(allowed_here.denial)
    with watch.uow() as uow:
        pending = uow.events.pending()
    with ctx.uow() as uow:
        principal = ctx.principal(uow, user)
    # Each event in its own account; with none pending, every account and region watched
    # (an empty id reads "instances in that region").
    targets = [Target.at(k.event.ref) for k in pending] or [
        Target(region, "", None, account)
        for account in watch.config.accounts
        for region in watch.config.regions
    ]
    may_view = check_role(principal, Role.VIEWER, targets)
    if may_view.denial is not None:
        return denied_text(may_view.denial)
    return pending_events_text(pending, ctx.clock())

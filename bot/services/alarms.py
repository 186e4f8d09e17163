"""CloudMonitor alarms (docs/PRODUCT.md §5.12): an alarm makes or updates the card of its
rule and instance; the card's **Reboot** opens an ordinary preview for whoever clicked.
The bot never reboots on an alarm by itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.domain.accounts import DEFAULT_ACCOUNT, command_accounts
from bot.domain.alarms import Alarm, AlarmCard, CardChange, account_of_owner, on_alarm
from bot.domain.commands import RebootCommand
from bot.domain.errors import EcsError
from bot.domain.model import InstanceRef, RequestSource
from bot.services import preview as preview_service
from bot.services.answers import Denied, NoSuchCard
from bot.services.clicks import Click, Later, telling
from bot.services.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """What one callback did: its card (None when it changed none) and how."""

    change: CardChange
    card: AlarmCard | None = None
    repeated_delivery: bool = False


def receive(ctx: Context, alarm: Alarm, *, channel: str) -> Received:
    """Record ``alarm`` (the database only, while CloudMonitor waits): a ``transId``
    seen before changes nothing; otherwise the card of its rule and instance is opened,
    counted or marked recovered, in one transaction."""
    now = ctx.clock()
    with ctx.uow() as uow:
        if not uow.alarms.first_delivery(alarm.trans_id, now=now):
            return Received(CardChange.NONE, repeated_delivery=True)
        account = account_of_owner(alarm.owner_uid, ctx.config.account_roles)
        current = uow.alarms.open_card(alarm.rule, alarm.instance_id)
        change, card = on_alarm(
            current, alarm, new_id=ctx.new_id(), channel=channel, now=now, account=account
        )
        if change is CardChange.OPENED and card is not None and not uow.alarms.add(card):
            # Another replica opened the card a moment ago: this alarm repeats it.
            current = uow.alarms.open_card(alarm.rule, alarm.instance_id)
            change, card = on_alarm(
                current, alarm, new_id=card.id, channel=channel, now=now, account=account
            )
        if change in (CardChange.REPEATED, CardChange.RECOVERED) and card is not None:
            uow.alarms.save(card)
        if card is not None:
            uow.alarms.link_delivery(alarm.trans_id, card.id)
        uow.audit.append(
            at=now,
            actor="cloudmonitor",
            action="alarm",
            detail={
                "trans_id": alarm.trans_id,
                "state": alarm.state.value,
                "rule": alarm.rule,
                "instance": alarm.instance_id,
                "card": card.id if card is not None else None,
                "change": change.value,
            },
        )
        uow.commit()
    return Received(change, card)


def show_card(ctx: Context, card_id: str) -> None:
    """Post the card, or redraw it as it stands now (after the callback was answered).
    The instance's name and status are looked up once, for the first drawing."""
    with ctx.uow() as uow:
        card = uow.alarms.get(card_id)
    if card is None:
        return
    name = status = None
    if card.message_ts is None and card.instance_status is None:
        try:
            found = ctx.ecs.describe_instances(
                card.region, [card.instance_id], account=_describe_account(ctx, card)
            )
        except EcsError as error:
            log.warning("alarm card %s: describing %s failed: %s", card.id, card.instance_id, error)
            status = "status unknown"
        else:
            if found:
                name, status = found[0].name or None, found[0].status or "status unknown"
            else:
                status = "not found"
        with ctx.uow() as uow:
            uow.alarms.set_shown(card.id, instance_name=name, instance_status=status)
            uow.commit()
            card = uow.alarms.get(card.id) or card
    if card.message_ts is None:
        _post(ctx, card)
    elif card.message_ts:
        ctx.presenter.refresh_alarm_card(card)
    # An empty ts: another drawing is posting the card, and draws what it finds after.


def _post(ctx: Context, card: AlarmCard) -> None:
    """Post the card once, whatever the drawings at the same moment; then draw it again
    if an alarm changed it while it was being posted."""
    with ctx.uow() as uow:
        claimed = uow.alarms.claim_post(card.id)
        uow.commit()
    if not claimed:
        return
    ts = ctx.presenter.post_alarm_card(card)
    with ctx.uow() as uow:
        if ts is None:
            uow.alarms.release_post(card.id)
        else:
            uow.alarms.set_shown(card.id, message_ts=ts)
        uow.commit()
        now = uow.alarms.get(card.id)
    if ts is not None and now is not None and _shown_fields(now) != _shown_fields(card):
        ctx.presenter.refresh_alarm_card(now)


def _describe_account(ctx: Context, card: AlarmCard) -> str:
    """The account to look the card's instance up in: its own, else the one a command
    naming none would act in."""
    if card.account:
        return card.account
    settled = command_accounts((), ctx.config.accounts, ctx.config.default_account)
    return settled[0] if isinstance(settled, tuple) and settled else DEFAULT_ACCOUNT


def _shown_fields(card: AlarmCard) -> tuple[object, ...]:
    return (card.state, card.count, card.last_value, card.last_at)


def reboot_from_card(ctx: Context, click: Click) -> Later:
    """**Reboot** on an alarm card (its id is the button's value): a preview of the
    card's instance requested by the clicker, under every rule of a slash command, in
    the card's channel, with the alarm as its reason."""
    with ctx.uow() as uow:
        card = uow.alarms.get(click.request_id)
    if card is None:
        return telling(ctx, click, NoSuchCard(click.request_id))
    asked = preview_service.PreviewAsked(
        user=click.user,
        channel=card.channel,
        command=RebootCommand(
            instances=(InstanceRef(region=card.region, instance_id=card.instance_id),),
            reason=card.reason,
            accounts=(card.account,) if card.account else (),
        ),
        source=RequestSource.ALARM,
    )
    decision = preview_service.early_check(ctx, asked)
    if decision.denial is not None:
        return telling(ctx, click, Denied(decision.denial))

    def open_preview() -> bool:
        preview_service.preview(ctx, asked)
        return False

    return open_preview

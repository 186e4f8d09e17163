"""Confirm, cancel and expire (DESIGN §5.4): who may click, exactly-once execution, and
the reboot calls themselves."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.model import RequestState, Role
from bot.domain.policy import Target, check_may_act_on
from bot.domain.policy import role_needed_to_reboot as needed_role
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.context import Context
from bot.services.execution import EXECUTION_LEASE_SECONDS, advance
from bot.services.ports import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Click:
    """A button click: who, where, on which request."""

    user: str
    channel: str
    request_id: str
    # The message the button was on: the preview, even if a crash kept its ts from
    # being recorded.
    message_ts: str | None = None


def _targets(instances: Sequence[PlannedInstance]) -> list[Target]:
    return [Target(i.ref.region, i.ref.instance_id, i.tags) for i in instances]


def _load_for_click(ctx: Context, click: Click, now: datetime) -> RebootRequest | None:
    """The clicked request if it may still be decided on; otherwise tell why and None."""
    with ctx.uow() as uow:
        request = uow.requests.get(click.request_id)
    if request is None:
        # The value came from the click payload: never echo it as mrkdwn.
        shown = click.request_id.replace("`", "'").replace("<", "‹").replace(">", "›")[:64]
        ctx.presenter.tell(click.channel, click.user, f"No request `{shown}` exists.")
        return None
    if request.channel != click.channel:
        ctx.presenter.tell(
            click.channel, click.user, "That button belongs to a request in another channel."
        )
        return None
    if request.message_ts is None and click.message_ts:
        # The process died between posting the preview and recording its ts; Slack's
        # signed click names the message, so adopt it and every update can follow.
        with ctx.uow() as uow:
            uow.requests.set_fields(request.id, message_ts=click.message_ts)
            uow.commit()
        request = dataclasses.replace(request, message_ts=click.message_ts)
    if request.is_expired(now):
        expire(ctx, request.id, now, actor=click.user)
        ctx.presenter.tell(
            click.channel,
            click.user,
            f":hourglass: Request `{request.id}` expired (the buttons last "
            f"{ctx.config.confirm_ttl} s). Nothing was rebooted; run the command again.",
        )
        return None
    if request.state is not RequestState.PREVIEWED:
        ctx.presenter.tell(click.channel, click.user, _already_decided(request))
        return None
    return request


def _authorized_click(
    ctx: Context, click: Click, now: datetime, *, cancelling: bool
) -> RebootRequest | None:
    """The clicked request when it may still be decided on and this person may decide:
    the requester or an admin, checked now. Confirming also needs the role the reboot
    needs; cancelling (nothing runs) does not. Otherwise tell why and None."""
    request = _load_for_click(ctx, click, now)
    if request is None:
        return None
    with ctx.uow() as uow:
        principal = ctx.principal(uow, click.user)
    decision = check_may_act_on(
        principal,
        requester=request.requester,
        needed=Role.VIEWER if cancelling else needed_role(force=request.force),
        targets=_targets(request.instances if cancelling else request.to_reboot),
    )
    if not decision.allowed:
        ctx.presenter.tell(click.channel, click.user, f":no_entry: {decision.reason}")
        return None
    return request


def _already_decided(request: RebootRequest) -> str:
    if request.confirmed_by:
        return (
            f"Request `{request.id}` was already confirmed by <@{request.confirmed_by}>; "
            f"it is {request.state.value}."
        )
    if request.cancelled_by:
        return f"Request `{request.id}` was already cancelled by <@{request.cancelled_by}>."
    return f"Request `{request.id}` is {request.state.value}; nothing more can be done with it."


def confirm(ctx: Context, click: Click) -> bool:
    """Handle a click on ``reboot_confirm``. True when this click started the reboot."""
    now = ctx.clock()
    request = _authorized_click(ctx, click, now, cancelling=False)
    if request is None:
        return False
    if not request.to_reboot:
        ctx.presenter.tell(click.channel, click.user, "Nothing in this request can be rebooted.")
        return False

    # The one conditional update that makes double clicks, Slack retries and several
    # replicas execute a request exactly once. The lease gets an owner of its own (not
    # this process's poller's), so the poller keeps off while the calls are being sent.
    lease_owner = f"{ctx.owner}/confirm/{request.id}"
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            [RequestState.PREVIEWED],
            RequestState.EXECUTING,
            confirmed_by=click.user,
            confirmed_at=now,
            # This worker sends the reboot calls; the poller keeps off until it is done
            # (or until the lease runs out, if this process dies on the way).
            lease_owner=lease_owner,
            lease_expires_at=now + timedelta(seconds=EXECUTION_LEASE_SECONDS),
        )
        if won:
            uow.audit.append(
                at=now,
                actor=click.user,
                action="confirm",
                request_id=request.id,
                detail={"force": request.force, "instances": len(request.to_reboot)},
            )
        uow.commit()
    if not won:
        with ctx.uow() as uow:
            latest = uow.requests.get(request.id)
        ctx.presenter.tell(click.channel, click.user, _already_decided(latest or request))
        return False

    executing = dataclasses.replace(
        request, state=RequestState.EXECUTING, confirmed_by=click.user, confirmed_at=now
    )
    ctx.presenter.refresh_request(executing)  # buttons gone at once: who and when
    next_poll_at = None
    try:
        next_poll_at = advance(ctx, request.id, observe_instances=False).next_poll_at
    finally:
        with ctx.uow() as uow:
            uow.requests.release(request.id, lease_owner, next_poll_at=next_poll_at)
            uow.commit()
    return True


def cancel(ctx: Context, click: Click) -> bool:
    """Handle a click on ``reboot_cancel``: the requester or an admin; nothing runs."""
    now = ctx.clock()
    request = _authorized_click(ctx, click, now, cancelling=True)
    if request is None:
        return False
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            [RequestState.PREVIEWED],
            RequestState.CANCELLED,
            cancelled_by=click.user,
            cancelled_at=now,
            finished_at=now,
        )
        if won:
            uow.requests.skip_pending(request.id)
            uow.audit.append(at=now, actor=click.user, action="cancel", request_id=request.id)
        uow.commit()
        latest = uow.requests.get(request.id)
    if not won:
        ctx.presenter.tell(click.channel, click.user, _already_decided(latest or request))
        return False
    assert latest is not None
    ctx.presenter.refresh_request(latest)
    return True


def expire(ctx: Context, request_id: str, now: datetime, *, actor: str = "system") -> bool:
    """Expire one ``previewed`` request past its TTL. True when this call expired it."""
    with ctx.uow() as uow:
        request = uow.requests.get(request_id)
        if request is None or not request.is_expired(now):
            return False
        won = uow.requests.transition(
            request_id, [RequestState.PREVIEWED], RequestState.EXPIRED, finished_at=now
        )
        if won:
            _record_expiry(uow, request, now, actor)
        uow.commit()
        latest = uow.requests.get(request_id)
    if won and latest is not None:
        ctx.presenter.refresh_request(latest)
    return won


def expire_due(ctx: Context, now: datetime) -> list[str]:
    """Expire every preview past its TTL (the poller's tick calls this), so buttons
    nobody clicked disappear from the channel."""
    with ctx.uow() as uow:
        expired = uow.requests.expire_due(now)
        snapshots = [r for r in (uow.requests.get(rid) for rid in expired) if r is not None]
        for request in snapshots:
            _record_expiry(uow, request, now, "system")
        uow.commit()
        snapshots = [r for r in (uow.requests.get(rid) for rid in expired) if r is not None]
    for request in snapshots:
        ctx.presenter.refresh_request(request)
    return expired


def _record_expiry(uow: UnitOfWork, request: RebootRequest, now: datetime, actor: str) -> None:
    uow.requests.skip_pending(request.id)
    uow.audit.append(
        at=now,
        actor=actor,
        action="expire",
        request_id=request.id,
        detail={"expires_at": request.expires_at.isoformat()},
    )

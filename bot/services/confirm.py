"""Confirm, cancel and expire (docs/PRODUCT.md §5.4): who may click, exactly-once execution, and
the reboot calls themselves.

A click is decided while Slack waits for the ack: the checks and the one conditional
update (``previewed → executing`` or ``→ cancelled``) touch the database only, so a
process killed right after the ack has already recorded what the person chose. What
follows (Slack messages, the reboot calls) is returned as a :data:`Later` for the
worker pool; if that work is lost with the process, the request's lease runs out and
the poller sends the calls instead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.model import RequestState, Role
from bot.domain.policy import Decision, Principal, Target, check_may_act_on
from bot.domain.policy import role_needed_to_reboot as needed_role
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.answers import (
    AlreadyDecided,
    Answer,
    Denied,
    NoSuchRequest,
    NothingToReboot,
    OtherChannel,
    RequestExpired,
)
from bot.services.catch_up import redraw
from bot.services.context import Context
from bot.services.execution import advance
from bot.services.lease import LEASE_SECONDS, LeaseKeeper, release, renew
from bot.services.ports import Lease, RequestUpdate, UnitOfWork

log = logging.getLogger(__name__)

Later = Callable[[], bool]
"""The slow rest of a click, run after the ack: True when this click started the
reboot (or cancelled the request)."""


@dataclass(frozen=True)
class Click:
    """A button click: who, where, on which request."""

    user: str
    channel: str
    request_id: str
    # The message the button was on: the preview, even if a crash kept its ts from
    # being recorded.
    message_ts: str | None = None


def _telling(ctx: Context, click: Click, answer: Answer) -> Later:
    def tell() -> bool:
        ctx.presenter.tell(click.channel, click.user, answer)
        return False

    return tell


def _redrawing(ctx: Context, request: RebootRequest) -> Later:
    """The rest of a click that ended ``request``: its message redrawn, buttons gone."""

    def redraw_ended() -> bool:
        redraw(ctx, request)
        return True

    return redraw_ended


def _targets(instances: Sequence[PlannedInstance]) -> list[Target]:
    return [Target(i.ref.region, i.ref.instance_id, i.tags) for i in instances]


class _ClickerCheck(Protocol):
    """A policy rule for the person clicking on a request (``check_may_act_on``,
    ``check_may_approve``)."""

    def __call__(
        self, principal: Principal, *, requester: str, needed: Role, targets: Sequence[Target]
    ) -> Decision: ...


def _if_allowed(
    ctx: Context,
    click: Click,
    request: RebootRequest,
    principal: Principal,
    *,
    check: _ClickerCheck,
    needed: Role | None = None,
    instances: Sequence[PlannedInstance] | None = None,
) -> RebootRequest | Later:
    """``request`` when ``check`` lets the clicker act on ``instances`` with the
    ``needed`` role (by default the reboot's: its role, its instances to reboot);
    otherwise the denial to tell them. Every click is checked again with the roles as
    they are now, never those of the preview."""
    decision = check(
        principal,
        requester=request.requester,
        needed=needed_role(force=request.force) if needed is None else needed,
        targets=_targets(request.to_reboot if instances is None else instances),
    )
    if decision.denial is not None:
        return _telling(ctx, click, Denied(decision.denial))
    return request


def _load_for_click(
    ctx: Context,
    click: Click,
    now: datetime,
    *,
    states: Collection[RequestState] = (RequestState.PREVIEWED,),
    wrong_state: Callable[[RebootRequest], Answer] = AlreadyDecided,
) -> RebootRequest | Later:
    """The clicked request if it is in one of ``states`` (and not expired); otherwise
    what to tell (``wrong_state`` of the request when it is in another state)."""
    with ctx.uow() as uow:
        request = uow.requests.get(click.request_id)
    if request is None:
        return _telling(ctx, click, NoSuchRequest(click.request_id))
    if request.channel != click.channel:
        return _telling(ctx, click, OtherChannel())
    if request.message_ts is None and click.message_ts:
        # The process died between posting the preview and recording its ts; Slack's
        # signed click names the message, so adopt it and every update can follow.
        with ctx.uow() as uow:
            uow.requests.set_fields(request.id, RequestUpdate(message_ts=click.message_ts))
            uow.commit()
        request = dataclasses.replace(request, message_ts=click.message_ts)
    if request.is_expired(now) and request.state in states:
        expired = _expire_in_database(ctx, request.id, now, actor=click.user)
        waited_for_approval = request.state is RequestState.AWAITING_APPROVAL
        ttl = ctx.config.approval_ttl if waited_for_approval else ctx.config.confirm_ttl
        answer = RequestExpired(request.id, ttl)

        def redraw_and_tell() -> bool:
            if expired is not None:
                redraw(ctx, expired)
            return _telling(ctx, click, answer)()

        return redraw_and_tell
    if request.state not in states:
        return _telling(ctx, click, wrong_state(request))
    return request


# A request waiting for its approvers may still be cancelled by who may cancel it.
_CANCELLABLE = (RequestState.PREVIEWED, RequestState.AWAITING_APPROVAL)


def _authorized_click(
    ctx: Context, click: Click, now: datetime, *, cancelling: bool
) -> RebootRequest | Later:
    """The clicked request when it may still be decided on and this person may decide:
    the requester or an admin, checked now. Confirming also needs the role the reboot
    needs; cancelling (nothing runs) does not. Otherwise what to tell."""
    request = _load_for_click(
        ctx, click, now, states=_CANCELLABLE if cancelling else (RequestState.PREVIEWED,)
    )
    if not isinstance(request, RebootRequest):
        return request
    with ctx.uow() as uow:
        principal = ctx.principal(uow, click.user)
    return _if_allowed(
        ctx,
        click,
        request,
        principal,
        check=check_may_act_on,
        # Cancelling runs nothing: any role will do, but on every instance.
        needed=Role.VIEWER if cancelling else None,
        instances=request.instances if cancelling else None,
    )


def _lost_the_race(ctx: Context, click: Click, request: RebootRequest) -> Later:
    with ctx.uow() as uow:
        latest = uow.requests.get(request.id)
    return _telling(ctx, click, AlreadyDecided(latest or request))


def confirm(ctx: Context, click: Click) -> Later:
    """Decide a click on ``reboot_confirm`` now, on the database alone; return the rest
    (the redrawn message, the reboot calls) to run after the ack."""
    now = ctx.clock()
    request = _authorized_click(ctx, click, now, cancelling=False)
    if not isinstance(request, RebootRequest):
        return request
    if not request.to_reboot:
        return _telling(ctx, click, NothingToReboot())
    if request.approvals_needed > 0:
        return _await_approval(ctx, click, request, now)

    # The one conditional update that makes double clicks, Slack retries and several
    # replicas execute a request exactly once. The lease gets an owner of its own (not
    # this process's poller's), so the poller keeps off while the calls are being sent;
    # should this process die before sending them, the lease runs out and a poller
    # sends them instead.
    lease_owner = f"{ctx.owner}/confirm/{request.id}"
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            [RequestState.PREVIEWED],
            RequestState.EXECUTING,
            RequestUpdate(confirmed_by=click.user, confirmed_at=now),
            lease=Lease(lease_owner, now + timedelta(seconds=LEASE_SECONDS)),
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
        return _lost_the_race(ctx, click, request)

    executing = dataclasses.replace(
        request, state=RequestState.EXECUTING, confirmed_by=click.user, confirmed_at=now
    )
    return lambda: _execute(ctx, executing, lease_owner)


def _await_approval(ctx: Context, click: Click, request: RebootRequest, now: datetime) -> Later:
    """The requester's confirm of a request an approval rule applies to (docs/PRODUCT.md §6.1):
    ``previewed → awaiting_approval``, in one conditional update like any confirm; the
    approvers' clicks start it (``bot.services.approval``)."""
    changes = RequestUpdate(
        confirmed_by=click.user,
        confirmed_at=now,
        approval_expires_at=now + timedelta(seconds=ctx.config.approval_ttl),
    )
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id, [RequestState.PREVIEWED], RequestState.AWAITING_APPROVAL, changes
        )
        if won:
            uow.audit.append(
                at=now,
                actor=click.user,
                action="confirm",
                request_id=request.id,
                detail={
                    "force": request.force,
                    "instances": len(request.to_reboot),
                    "approvals_needed": request.approvals_needed,
                    "reason": request.reason,
                },
            )
        uow.commit()
    if not won:
        return _lost_the_race(ctx, click, request)
    waiting = dataclasses.replace(changes.applied_to(request), state=RequestState.AWAITING_APPROVAL)

    def show_and_announce() -> bool:
        ctx.presenter.refresh_request(waiting)
        ctx.presenter.notify_awaiting_approval(waiting, approver_group=ctx.config.approver_group)
        return True

    return show_and_announce


def _execute(ctx: Context, request: RebootRequest, lease_owner: str) -> bool:
    """After the ack: buttons gone at once (who and when), then the reboot calls, under
    the lease the confirming click took."""
    with LeaseKeeper(ctx, lease_owner) as keeper:
        keeper.hold(request.id)
        if not renew(ctx, request.id, lease_owner):
            # This work waited longer than the lease (a long queue, a stalled process):
            # a poller has taken the request over, sends the calls and draws progress.
            log.warning("request %s was taken over before its calls were sent", request.id)
            return True
        ctx.presenter.refresh_request(request)
        next_poll_at = None
        try:
            next_poll_at = advance(ctx, request.id, observe_instances=False).next_poll_at
        finally:
            keeper.hold(None)
            release(ctx, request.id, lease_owner, next_poll_at)
    return True


def cancel(ctx: Context, click: Click) -> Later:
    """Decide a click on ``reboot_cancel`` now (the requester or an admin; nothing
    runs); return the redraw to run after the ack."""
    now = ctx.clock()
    request = _authorized_click(ctx, click, now, cancelling=True)
    if not isinstance(request, RebootRequest):
        return request
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            [request.state],
            RequestState.CANCELLED,
            RequestUpdate(cancelled_by=click.user, cancelled_at=now, finished_at=now),
        )
        if won:
            uow.requests.skip_pending(request.id)
            uow.audit.append(at=now, actor=click.user, action="cancel", request_id=request.id)
        uow.commit()
        latest = uow.requests.get(request.id)
    if not won or latest is None:
        return _lost_the_race(ctx, click, request)
    return _redrawing(ctx, latest)


def _expire_in_database(
    ctx: Context, request_id: str, now: datetime, *, actor: str
) -> RebootRequest | None:
    """Expire one ``previewed`` request past its TTL; the expired request when this call
    expired it, for the caller to redraw."""
    with ctx.uow() as uow:
        request = uow.requests.get(request_id)
        if request is None or not request.is_expired(now):
            return None
        won = uow.requests.transition(
            request_id,
            [request.state],
            RequestState.EXPIRED,
            RequestUpdate(finished_at=now),
        )
        expired = _record_expiry(uow, request_id, now, actor) if won else None
        uow.commit()
        return expired


def expire_due(ctx: Context, now: datetime) -> list[str]:
    """Expire every preview past its TTL (the poller's tick calls this), so buttons
    nobody clicked disappear from the channel."""
    with ctx.uow() as uow:
        expired = uow.requests.expire_due(now)
        snapshots = [
            snapshot
            for request_id in expired
            if (snapshot := _record_expiry(uow, request_id, now, "system")) is not None
        ]
        uow.commit()
    for request in snapshots:
        redraw(ctx, request)
    return expired


def _record_expiry(
    uow: UnitOfWork, request_id: str, now: datetime, actor: str
) -> RebootRequest | None:
    """After the move to ``expired``: nothing left pending, the audit line; the expired
    request as it now stands, for the redraw."""
    uow.requests.skip_pending(request_id)
    request = uow.requests.get(request_id)
    if request is not None:
        uow.audit.append(
            at=now,
            actor=actor,
            action="expire",
            request_id=request_id,
            detail={"expires_at": (request.approval_expires_at or request.expires_at).isoformat()},
        )
    return request

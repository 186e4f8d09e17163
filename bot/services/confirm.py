"""Confirm and cancel (docs/PRODUCT.md §5.4): who may click, exactly-once execution, and
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
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.domain.errors import StoreUnavailable
from bot.domain.model import RequestState, Role
from bot.domain.policy import check_may_act_on
from bot.domain.request import RebootRequest
from bot.domain.schedule import ScheduleEvent, ScheduleEventKind
from bot.services.answers import AlreadyDecided, NothingToReboot, StartInterrupted
from bot.services.clicks import (
    Click,
    Later,
    adopting_message,
    if_allowed,
    load_for_click,
    redrawing,
    telling,
)
from bot.services.context import Context
from bot.services.execution import advance
from bot.services.lease import LEASE_SECONDS, LeaseKeeper, release_or_owe, renew
from bot.services.ports import Lease, RequestUpdate
from bot.services.scheduled import first_look

log = logging.getLogger(__name__)

# A request waiting for its approvers, or for its time, may still be cancelled by who
# may cancel it.
_CANCELLABLE = (RequestState.PREVIEWED, RequestState.AWAITING_APPROVAL, RequestState.SCHEDULED)


def _authorized_click(
    ctx: Context, click: Click, now: datetime, *, cancelling: bool
) -> RebootRequest | Later:
    """The clicked request when it may still be decided on and this person may decide:
    the requester or an admin, checked now. Confirming also needs the role the reboot
    needs; cancelling (nothing runs) does not. Otherwise what to tell."""
    request = load_for_click(
        ctx, click, now, states=_CANCELLABLE if cancelling else (RequestState.PREVIEWED,)
    )
    if not isinstance(request, RebootRequest):
        return request
    return _allowed(ctx, click, request, cancelling=cancelling)


def _allowed(
    ctx: Context, click: Click, request: RebootRequest, *, cancelling: bool
) -> RebootRequest | Later:
    """``request`` if this person may decide on it (roles read now), else what to tell."""
    with ctx.uow() as uow:
        principal = ctx.principal(uow, click.user)
    return if_allowed(
        ctx,
        click,
        request,
        principal,
        check=check_may_act_on,
        # Cancelling runs nothing: any role will do, but on every instance.
        needed=Role.VIEWER if cancelling else None,
        instances=request.instances if cancelling else None,
    )


def _confirmed(
    ctx: Context,
    click: Click,
    request: RebootRequest,
    to: RequestState,
    changes: RequestUpdate,
    *,
    now: datetime,
    detail: Mapping[str, object] | None = None,
    lease: Lease | None = None,
) -> bool:
    """The confirm's one conditional update (``previewed → to``) with its audit line, so
    double clicks, Slack retries and replicas decide it once: whether this click won."""
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id, [RequestState.PREVIEWED], to, changes, lease=lease
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
                    **(detail or {}),
                },
            )
        uow.commit()
    return won


def _lost_the_race(ctx: Context, click: Click, request: RebootRequest) -> Later:
    with ctx.uow() as uow:
        latest = uow.requests.get(request.id)
    return telling(ctx, click, AlreadyDecided(latest or request))


def confirm(ctx: Context, click: Click) -> Later:
    """Decide a click on ``reboot_confirm`` now, on the database alone; return the rest
    (the redrawn message, the reboot calls) to run after the ack."""
    now = ctx.clock()
    remembered = _remembered_preview(ctx, click, now)
    allowed = _allowed(ctx, click, remembered, cancelling=False) if remembered else None
    # A refusal is told as the database path tells it: the request as it is now
    # (decided by someone else meanwhile, say) comes first.
    from_memory = isinstance(allowed, RebootRequest)
    request: RebootRequest | Later
    if isinstance(allowed, RebootRequest):
        request = allowed
    else:
        request = _authorized_click(ctx, click, now, cancelling=False)
    if not isinstance(request, RebootRequest):
        return request
    if not request.to_reboot:
        return telling(ctx, click, NothingToReboot())
    if request.approvals_needed > 0:
        return _await_approval(ctx, click, request, now)
    if request.scheduled_for is not None:
        return _schedule(ctx, click, request, now)
    # A remembered preview is read back after the ack: its checks were made on the
    # request as previewed.
    return _execute(ctx, click, request, now, read_back=from_memory)


def _remembered_preview(ctx: Context, click: Click, now: datetime) -> RebootRequest | None:
    """The request as this process previewed it (``ctx.previewed``), when it can stand in
    for reading it back before the ack (no instance rows read): the usual confirm, on
    which :func:`load_for_click` would have nothing to say (same channel, not expired,
    no message to adopt), to be sent at once (something to reboot, no approval, no
    schedule). None otherwise: the database path decides, its answers unchanged. The
    conditional update still decides whether the request is ``previewed``."""
    request = ctx.previewed.get(click.request_id)
    if (
        request is None
        or request.channel != click.channel
        or request.is_expired(now)
        or (request.message_ts is None and click.message_ts)
        or not request.to_reboot
        or request.approvals_needed > 0
        or request.scheduled_for is not None
    ):
        return None
    return request


def _execute(
    ctx: Context, click: Click, request: RebootRequest, now: datetime, *, read_back: bool = False
) -> Later:
    """``previewed → executing`` for this click, and the reboot calls to send after the
    ack (the request read back first when ``read_back``: the checks were made on it as
    previewed)."""
    # The one conditional update that makes double clicks, Slack retries and several
    # replicas execute a request exactly once. The lease gets an owner of its own (not
    # this process's poller's), so the poller keeps off while the calls are being sent;
    # should this process die before sending them, the lease runs out and a poller
    # sends them instead.
    lease_owner = f"{ctx.owner}/confirm/{request.id}"
    won = _confirmed(
        ctx,
        click,
        request,
        RequestState.EXECUTING,
        RequestUpdate(confirmed_by=click.user, confirmed_at=now),
        now=now,
        lease=Lease(lease_owner, now + timedelta(seconds=LEASE_SECONDS)),
    )
    ctx.previewed.forget(request.id)  # decided, either way
    if not won:
        return _lost_the_race(ctx, click, request)

    executing = dataclasses.replace(
        request, state=RequestState.EXECUTING, confirmed_by=click.user, confirmed_at=now
    )
    if not read_back:
        return lambda: start_execution(ctx, executing, lease_owner, click)

    def read_back_and_start() -> bool:
        try:
            with ctx.uow() as uow:
                stored = uow.requests.get(request.id)
            # As the database says: a message ts lost meanwhile is the clicked one.
            started = executing if stored is None else adopting_message(ctx, click, stored)
        except StoreUnavailable:
            started = executing  # start_execution tells what the database being away means
        return start_execution(ctx, started, lease_owner, click)

    return read_back_and_start


def _await_approval(ctx: Context, click: Click, request: RebootRequest, now: datetime) -> Later:
    """The requester's confirm of a request an approval rule applies to (docs/PRODUCT.md §6.1):
    ``previewed → awaiting_approval``, in one conditional update like any confirm; the
    approvers' clicks start it (``bot.services.approval``)."""
    changes = RequestUpdate(
        confirmed_by=click.user,
        confirmed_at=now,
        approval_expires_at=now + timedelta(seconds=ctx.config.approval_ttl),
    )
    won = _confirmed(
        ctx,
        click,
        request,
        RequestState.AWAITING_APPROVAL,
        changes,
        now=now,
        detail={"approvals_needed": request.approvals_needed, "reason": request.reason},
    )
    if not won:
        return _lost_the_race(ctx, click, request)
    waiting = dataclasses.replace(changes.applied_to(request), state=RequestState.AWAITING_APPROVAL)

    def show_and_announce() -> bool:
        ctx.presenter.refresh_request(waiting)
        ctx.presenter.notify_awaiting_approval(waiting, approver_group=ctx.config.approver_group)
        return True

    return show_and_announce


def _schedule(ctx: Context, click: Click, request: RebootRequest, now: datetime) -> Later:
    """The confirm of a request with a WHEN (docs/PRODUCT.md §5.10): ``previewed →
    scheduled`` in one conditional update like any confirm; the poller starts it."""
    changes = schedule_changes(ctx, request, now, confirmed_by=click.user)
    won = _confirmed(
        ctx,
        click,
        request,
        RequestState.SCHEDULED,
        changes,
        now=now,
        detail={"scheduled_for": _iso(request.scheduled_for), "window": request.window},
    )
    if not won:
        return _lost_the_race(ctx, click, request)
    scheduled = dataclasses.replace(changes.applied_to(request), state=RequestState.SCHEDULED)
    return lambda: announce_scheduled(ctx, scheduled)


def schedule_changes(
    ctx: Context, request: RebootRequest, now: datetime, *, confirmed_by: str | None = None
) -> RequestUpdate:
    """What moving ``request`` to ``scheduled`` writes: who confirmed (on a confirm), when
    it was scheduled, and the poller's first look (its reminder, or its start)."""
    first = first_look(ctx, request, now)
    if confirmed_by is None:
        return RequestUpdate(scheduled_at=now, next_poll_at=first)
    return RequestUpdate(
        confirmed_by=confirmed_by, confirmed_at=now, scheduled_at=now, next_poll_at=first
    )


def announce_scheduled(ctx: Context, request: RebootRequest) -> bool:
    """After the ack: the message shows when, with Cancel; the thread and the notify
    channel hear of it."""
    ctx.presenter.refresh_request(request)
    ctx.presenter.announce_schedule(
        request, ScheduleEvent(ScheduleEventKind.SCHEDULED, at=request.scheduled_for)
    )
    return True


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def start_execution(ctx: Context, request: RebootRequest, lease_owner: str, click: Click) -> bool:
    """After the ack: buttons gone at once (who and when), then the reboot calls, under
    the lease the confirming (or approving) ``click`` took. Should the database stop
    answering meanwhile, the person is told that the request goes on by itself."""
    with LeaseKeeper(ctx, lease_owner) as keeper:
        keeper.hold(request.id)
        next_poll_at = None
        try:
            if not renew(ctx, request.id, lease_owner):
                # This work waited longer than the lease (a long queue, a stalled
                # process): a poller has taken the request over, sends the calls and
                # draws progress. (Giving back a lease no longer ours changes nothing.)
                log.warning("request %s was taken over before its calls were sent", request.id)
                return True
            ctx.presenter.refresh_request(request)
            next_poll_at = advance(ctx, request.id, observe_instances=False).next_poll_at
        except StoreUnavailable as error:
            # The click is recorded (executing) and the calls sent are counted: the
            # poller takes it from there. "Nothing was changed" would be untrue.
            log.warning("request %s: start cut short: %s", request.id, error)
            ctx.presenter.tell(click.channel, click.user, StartInterrupted(request))
        finally:
            keeper.hold(None)
            # With the database away the lease is owed, and the poller gives it back
            # as soon as the database answers, instead of it running out 30 s later.
            release_or_owe(ctx, request.id, lease_owner, next_poll_at)
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
    ctx.previewed.forget(request.id)
    if not won or latest is None:
        return _lost_the_race(ctx, click, request)
    return redrawing(ctx, latest)

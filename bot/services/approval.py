"""Four-eyes approval (docs/PRODUCT.md §6.1): the approvers' clicks on a request
``awaiting_approval``.

Like a confirm, each click is decided before the ack, on the database alone
(docs/decisions/0001): an approval is a row (one per person), and the approval that
reaches the quorum makes the one conditional ``awaiting_approval → executing`` update
that starts the request, so concurrent approvals, double clicks and replicas start it
exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from bot.domain.model import RequestState
from bot.domain.policy import check_may_approve
from bot.domain.request import RebootRequest
from bot.services.answers import (
    AlreadyApproved,
    ApprovalRecorded,
    NoSuchRequest,
    NotAwaitingApproval,
)
from bot.services.clicks import (
    Click,
    Later,
    if_allowed,
    load_for_click,
    redrawing,
    telling,
)
from bot.services.confirm import announce_scheduled, schedule_changes, start_execution
from bot.services.context import Context
from bot.services.lease import LEASE_SECONDS
from bot.services.ports import Lease, RequestUpdate

log = logging.getLogger(__name__)

_AWAITING = (RequestState.AWAITING_APPROVAL,)


def _approver_click(ctx: Context, click: Click, now: datetime) -> RebootRequest | Later:
    """The request when it awaits approval and the clicker may approve it: not the
    requester, and holding the role that could confirm it (checked now)."""
    request = load_for_click(ctx, click, now, states=_AWAITING, wrong_state=NotAwaitingApproval)
    if not isinstance(request, RebootRequest):
        return request
    with ctx.uow() as uow:
        principal = ctx.principal(uow, click.user)
    return if_allowed(ctx, click, request, principal, check=check_may_approve)


def approve(ctx: Context, click: Click) -> Later:
    """Decide a click on ``reboot_approve`` now: record the approval and, when it
    reaches the quorum, start the request; return the rest (redraw, reboot calls)."""
    now = ctx.clock()
    request = _approver_click(ctx, click, now)
    if not isinstance(request, RebootRequest):
        return request
    lease_owner = f"{ctx.owner}/confirm/{request.id}"
    started = scheduled = False
    with ctx.uow() as uow:
        recorded = uow.requests.add_approval(request.id, click.user, now)
        latest = uow.requests.get(request.id)
        if recorded and latest is not None:
            if len(latest.approvals) >= latest.approvals_needed and latest.scheduled_for:
                # Approved to run later (docs/PRODUCT.md §5.10): scheduled, in the same
                # single conditional update; the poller starts it at its time.
                scheduled = uow.requests.transition(
                    request.id,
                    _AWAITING,
                    RequestState.SCHEDULED,
                    schedule_changes(ctx, latest, now),
                )
            elif len(latest.approvals) >= latest.approvals_needed:
                # The same single conditional update that guards every start.
                started = uow.requests.transition(
                    request.id,
                    _AWAITING,
                    RequestState.EXECUTING,
                    lease=Lease(lease_owner, now + timedelta(seconds=LEASE_SECONDS)),
                )
            uow.audit.append(
                at=now,
                actor=click.user,
                action="approve",
                request_id=request.id,
                detail={
                    "approvals": len(latest.approvals),
                    "needed": latest.approvals_needed,
                    "started": started,
                    "scheduled": scheduled,
                },
            )
        uow.commit()
    if latest is None:
        return telling(ctx, click, NoSuchRequest(request.id))
    if recorded is None:
        # Between the load and the lock the request was started, rejected, cancelled
        # or expired by someone else.
        return telling(ctx, click, NotAwaitingApproval(latest))
    if not recorded:
        return telling(ctx, click, AlreadyApproved(latest))
    if scheduled:
        with ctx.uow() as uow:
            now_scheduled = uow.requests.get(request.id) or latest

        def tell_and_announce() -> bool:
            telling(ctx, click, ApprovalRecorded(now_scheduled, started=False))()
            return announce_scheduled(ctx, now_scheduled)

        return tell_and_announce
    if started:
        executing = dataclasses.replace(latest, state=RequestState.EXECUTING)

        def tell_and_execute() -> bool:
            telling(ctx, click, ApprovalRecorded(executing, started=True))()
            return start_execution(ctx, executing, lease_owner, click)

        return tell_and_execute
    waiting = latest

    def redraw_and_tell() -> bool:
        ctx.presenter.refresh_request(waiting)
        telling(ctx, click, ApprovalRecorded(waiting, started=False))()
        return True

    return redraw_and_tell


def reject(ctx: Context, click: Click) -> Later:
    """Decide a click on ``reboot_reject`` now (an approver): the request ends
    ``rejected`` and nothing is rebooted; return the redraw."""
    now = ctx.clock()
    request = _approver_click(ctx, click, now)
    if not isinstance(request, RebootRequest):
        return request
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            _AWAITING,
            RequestState.REJECTED,
            RequestUpdate(rejected_by=click.user, rejected_at=now, finished_at=now),
        )
        if won:
            uow.requests.skip_pending(request.id)
            uow.audit.append(
                at=now,
                actor=click.user,
                action="reject",
                request_id=request.id,
                detail={"approvals": len(request.approvals), "reason": request.reason},
            )
        uow.commit()
        latest = uow.requests.get(request.id)
    if latest is None:
        return telling(ctx, click, NoSuchRequest(request.id))
    if not won:
        return telling(ctx, click, NotAwaitingApproval(latest))
    return redrawing(ctx, latest)

"""Four-eyes approval and Retry (docs/PRODUCT.md §6.1, §6.2): the approvers' clicks on a request
``awaiting_approval``, and the Retry button of a finished request's summary.

Like a confirm, each click is decided before the ack, on the database alone
(docs/decisions/0001): an approval is a row (one per person), and the approval that
reaches the quorum makes the one conditional ``awaiting_approval → executing`` update
that starts the request, so concurrent approvals, double clicks and replicas start it
exactly once. A Retry click records the new request's id on the old one (a conditional
update, so a second click opens nothing) and previews it after the ack.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from bot.domain.model import RequestState
from bot.domain.policy import check_may_act_on, check_may_approve
from bot.domain.request import RebootRequest
from bot.services import preview as preview_service
from bot.services.answers import (
    AlreadyApproved,
    AlreadyRetried,
    ApprovalRecorded,
    NoSuchRequest,
    NotAwaitingApproval,
    NothingToRetry,
    OtherChannel,
)
from bot.services.clicks import (
    Click,
    Later,
    if_allowed,
    load_for_click,
    redrawing,
    telling,
)
from bot.services.confirm import start_execution
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
    started = False
    with ctx.uow() as uow:
        recorded = uow.requests.add_approval(request.id, click.user, now)
        latest = uow.requests.get(request.id)
        if recorded and latest is not None:
            if len(latest.approvals) >= latest.approvals_needed:
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


def retry(ctx: Context, click: Click) -> Later:
    """Decide a click on ``reboot_retry`` now (the requester or an admin): claim the
    retry on the finished request; after the ack, preview a new request for exactly its
    failed, timed-out and aborted instances (same mode and reason)."""
    with ctx.uow() as uow:
        request = uow.requests.get(click.request_id)
        principal = ctx.principal(uow, click.user)
    if request is None:
        return telling(ctx, click, NoSuchRequest(click.request_id))
    if request.channel != click.channel:
        return telling(ctx, click, OtherChannel())
    again = request.retryable
    if not again:
        return telling(ctx, click, NothingToRetry(request))
    if request.retried_by_request is not None:
        return telling(ctx, click, AlreadyRetried(request.id, request.retried_by_request))
    allowed = if_allowed(ctx, click, request, principal, check=check_may_act_on, instances=again)
    if not isinstance(allowed, RebootRequest):
        return allowed
    retry_id = ctx.new_id()
    now = ctx.clock()
    with ctx.uow() as uow:
        won = uow.requests.claim_retry(request.id, retry_id)
        if won:
            uow.audit.append(
                at=now,
                actor=click.user,
                action="retry",
                request_id=request.id,
                detail={"retry_id": retry_id, "instances": [str(i.ref) for i in again]},
            )
        uow.commit()
        latest = uow.requests.get(request.id)
    if not won:
        shown = (latest.retried_by_request if latest else None) or "?"
        return telling(ctx, click, AlreadyRetried(request.id, shown))
    asked = preview_service.PreviewAsked(
        user=click.user,
        channel=request.channel,
        instances=tuple(i.ref for i in again),
        force=request.force,
        command_text=request.command_text,
        reason=request.reason,
        retry_of=request.id,
        request_id=retry_id,
    )

    def preview_retry() -> bool:
        opened = None
        try:
            opened = preview_service.preview(ctx, asked)
        finally:
            if opened is None:
                # Nothing was previewed (denied, ECS did not answer): Retry may be
                # clicked again.
                with ctx.uow() as uow:
                    uow.requests.release_retry(request.id, retry_id)
                    uow.commit()
        return opened is not None

    return preview_retry

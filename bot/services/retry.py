"""Retry (docs/PRODUCT.md §6.2): the Retry button of a finished request's summary.

Decided before the ack like every click (docs/decisions/0001): the click records the
new request's id on the old one (a conditional update, so a second click opens
nothing), and the new request is previewed after the ack, for exactly the instances
that failed, timed out or were aborted.
"""

from __future__ import annotations

from bot.domain.commands import RebootCommand
from bot.domain.model import RequestSource
from bot.domain.policy import check_may_act_on
from bot.domain.request import RebootRequest
from bot.services import preview as preview_service
from bot.services.answers import AlreadyRetried, NoSuchRequest, NothingToRetry, OtherChannel
from bot.services.clicks import Click, Later, if_allowed, telling
from bot.services.context import Context


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
    # The same mode and reason; the rollout is planned afresh for what is left.
    command = RebootCommand(tuple(i.ref for i in again), force=request.force, reason=request.reason)
    asked = preview_service.PreviewAsked(
        click.user,
        request.channel,
        command,
        command_text=request.command_text,
        retry_of=request.id,
        request_id=retry_id,
        source=RequestSource.RETRY,
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

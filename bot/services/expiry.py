"""Previews and approvals that ran out of time (docs/PRODUCT.md §5.4, §6.1): moved to
``expired`` in one conditional update, nothing left pending, an audit line, the message
redrawn without its buttons. The poller's tick expires what nobody clicked; a late click
expires what it finds."""

from __future__ import annotations

from datetime import datetime

from bot.domain.model import RequestState
from bot.domain.request import RebootRequest
from bot.services.catch_up import redraw
from bot.services.context import Context
from bot.services.ports import RequestUpdate, UnitOfWork


def expire_in_database(
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

"""Reading and writing one request while it runs, each write in its own unit of work and
committed at once: a crash loses nothing that was written before it. The returned
snapshot is the request as it now reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.domain.model import RequestState
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.context import Context
from bot.services.ports import RequestUpdate


def load(ctx: Context, request_id: str) -> RebootRequest | None:
    with ctx.uow() as uow:
        return uow.requests.get(request_id)


def set_fields(ctx: Context, request: RebootRequest, update: RequestUpdate) -> RebootRequest:
    with ctx.uow() as uow:
        uow.requests.set_fields(request.id, update)
        uow.commit()
    return update.applied_to(request)


def save_instances(
    ctx: Context, request: RebootRequest, updated: Sequence[PlannedInstance]
) -> RebootRequest:
    if not updated:
        return request
    with ctx.uow() as uow:
        uow.requests.save_instances(request.id, updated)
        uow.commit()
    return request.with_instances(updated)


def move_by_itself(
    ctx: Context,
    request: RebootRequest,
    move: tuple[RequestState, RequestState],
    update: RequestUpdate,
    *,
    now: datetime,
    actor: str,
    action: str,
    detail: Mapping[str, object],
) -> tuple[RebootRequest, bool]:
    """A move the bot makes by itself (no click): ``move`` (from, to) in one conditional
    update with its audit line; the request as it now reads, and whether this won (a
    click or another replica may have moved it first)."""
    with ctx.uow() as uow:
        won = uow.requests.transition(request.id, [move[0]], move[1], update)
        if won:
            uow.audit.append(
                at=now, actor=actor, action=action, request_id=request.id, detail=detail
            )
        uow.commit()
        latest = uow.requests.get(request.id)
    return (request if latest is None else latest), won

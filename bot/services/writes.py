"""Reading and writing one request while it runs, each write in its own unit of work and
committed at once: a crash loses nothing that was written before it. The returned
snapshot is the request as it now reads."""

from __future__ import annotations

from collections.abc import Sequence

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

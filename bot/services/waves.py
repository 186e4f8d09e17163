"""Starting and sending waves (docs/PRODUCT.md §5.4, §5.8): the first reboot call of each
instance, wave by wave, and the decisions between two waves (stop, pause, send).

A first call ECS refused before it reached it (throttled, or the connection refused,
beyond the client's retries) was never sent: it is tried again at the next poll
(:func:`retry_unsent`) until ECSBOT_REBOOT_TIMEOUT has passed since the first refusal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from bot.domain.ecs_values import batches, by_place
from bot.domain.model import Happened, InstanceOutcome, RequestState, RolloutEvent, StopReason
from bot.domain.reboot_answers import after_first_call
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.rollout import (
    next_wave,
    sent_wave,
    throttled_unsent,
    too_many_errors,
    wave_in_flight,
)
from bot.services.context import Context
from bot.services.ports import RequestUpdate, UnitOfWork
from bot.services.reboot_sender import call_reboot
from bot.services.window_gate import held_for_window, reopen_if_due
from bot.services.writes import move_by_itself, save_instances


def between_waves(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """A rollout's decisions once no wave is in flight (docs/PRODUCT.md §5.8): stop when more
    instances failed than ``--max-errors`` allows or someone aborted (the instances
    never sent end ``aborted``), pause after the canary when asked, else send the next
    wave. Nothing while a wave is in flight or when every wave was sent."""
    if wave_in_flight(request.instances) or not next_wave(request.instances):
        return request
    if request.stop_reason is None and too_many_errors(
        request.instances, request.rollout_max_errors
    ):
        request = _stop(ctx, request, now)
    if request.stop_reason is not None:
        return _abort_unsent(ctx, request, now)
    request = reopen_if_due(ctx, request, now)
    if request.state is not RequestState.EXECUTING:
        return request
    if request.pause_after_wave is not None and sent_wave(request.instances) >= (
        request.pause_after_wave
    ):
        return _pause_after_wave(ctx, request, now)
    held = held_for_window(ctx, request, now)
    if held is not None:
        return held
    return _send_unsent(ctx, request)


def retry_unsent(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Send again the first calls ECS refused before they reached it in an earlier step
    (not those refused in this one: ``unsent_since`` is before ``now``). They belong to
    the wave in flight, which Pause and Abort let finish."""
    waiting = [
        i for i in throttled_unsent(request.instances) if i.unsent_since and i.unsent_since < now
    ]
    if not waiting or not request.state.is_running:
        return request
    request = _send_first_calls(ctx, request, waiting)
    with ctx.uow() as uow:
        _audit_sent(ctx, uow, request, waiting)
        uow.commit()
    return request


def _stop(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    with ctx.uow() as uow:
        uow.requests.set_fields(request.id, RequestUpdate(stop_reason=StopReason.MAX_ERRORS))
        uow.audit.append(
            at=now,
            actor="system",
            action="stop",
            request_id=request.id,
            detail={
                "reason": StopReason.MAX_ERRORS.value,
                "max_errors": request.rollout_max_errors,
            },
        )
        uow.commit()
    return dataclasses.replace(request, stop_reason=StopReason.MAX_ERRORS)


def _abort_unsent(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Every instance never sent a reboot ends ``aborted``: the rollout stopped."""
    aborted = (
        Happened.ROLLOUT_ABORTED
        if request.stop_reason is StopReason.ABORT
        else Happened.ROLLOUT_MAX_ERRORS
    )
    return save_instances(
        ctx,
        request,
        [
            dataclasses.replace(
                i, outcome=InstanceOutcome.ABORTED, happened=aborted, finished_at=now
            )
            for i in request.instances
            if i.will_reboot and i.outcome is InstanceOutcome.PENDING and i.reboot_sent_at is None
        ],
    )


def _pause_after_wave(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """``--pause-after-canary``: the first wave is back, wait for a person."""
    latest, won = move_by_itself(
        ctx,
        request,
        (RequestState.EXECUTING, RequestState.PAUSED),
        RequestUpdate(pause_after_wave=None, paused_by=None),
        now=now,
        actor="system",
        action="pause",
        detail={"after_wave": sent_wave(request.instances)},
    )
    if won:
        ctx.presenter.refresh_request(latest)
        if ctx.config.notify_channel:
            ctx.presenter.notify_rollout(latest, RolloutEvent.PAUSED)
    return latest


def _held_back(ctx: Context, request: RebootRequest) -> RebootRequest | None:
    """A Pause or Abort click may have landed since this request was loaded: read it
    again right before a later wave goes out, so such a click is never overtaken. The
    request as it now stands when it may not send; None when it may."""
    with ctx.uow() as uow:
        latest = uow.requests.get(request.id)
    if latest is not None and latest.state is RequestState.EXECUTING and not latest.stop_reason:
        return None
    return latest or request


def _send_unsent(ctx: Context, request: RebootRequest) -> RebootRequest:
    """Send the next wave's reboot calls (all instances, when it is one wave)."""
    unsent = next_wave(request.instances)
    if unsent and unsent[0].wave > 1 and (latest := _held_back(ctx, request)) is not None:
        return latest
    request = _send_first_calls(ctx, request, unsent)
    never_sent = [
        dataclasses.replace(i, outcome=InstanceOutcome.SKIPPED)
        for i in request.instances
        if i.outcome is InstanceOutcome.PENDING and not i.will_reboot
    ]
    if not unsent and not never_sent:
        return request
    with ctx.uow() as uow:
        # Everything not to be sent (verdict other than "will reboot") ends skipped; the
        # later waves stay pending.
        uow.requests.save_instances(request.id, never_sent)
        if unsent:
            _audit_sent(ctx, uow, request, unsent)
        uow.commit()
    return request.with_instances(never_sent)


def _send_first_calls(
    ctx: Context, request: RebootRequest, instances: Sequence[PlannedInstance]
) -> RebootRequest:
    for place, ids in by_place(i.ref for i in instances).items():
        for batch in batches(ids):
            request, sent, answer = call_reboot(ctx, request, place, batch, record=_first_call)
            timeout = ctx.config.reboot_timeout
            request = save_instances(
                ctx, request, after_first_call(sent, answer, ctx.clock(), timeout)
            )
    return request


def _first_call(instance: PlannedInstance, at: datetime) -> PlannedInstance:
    # Whatever an earlier refusal said no longer holds: sent, answer not known yet.
    return dataclasses.replace(
        instance, reboot_sent_at=at, reboot_calls=1, code=None, message=None, happened=None
    )


def _audit_sent(
    ctx: Context, uow: UnitOfWork, request: RebootRequest, tried: Sequence[PlannedInstance]
) -> None:
    """One ``execute`` audit entry for the first calls just made to ``tried``."""
    wanted = {i.ref for i in tried}
    results = [i for i in request.instances if i.ref in wanted]
    uow.audit.append(
        at=ctx.clock(),
        actor="system",
        action="execute",
        request_id=request.id,
        detail={
            "wave": tried[0].wave,
            "sent": len(results),
            "accepted": sum(i.outcome is InstanceOutcome.REBOOTING for i in results),
            "failed": {str(i.ref): i.code for i in results if i.outcome is InstanceOutcome.FAILED},
            # Throttled or refused before reaching ECS: tried again at the next poll.
            "not_sent": sum(
                i.unsent_since is not None and i.reboot_sent_at is None for i in results
            ),
        },
    )

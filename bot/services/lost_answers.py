"""Resolving lost answers (docs/PRODUCT.md §5.4, docs/decisions/0003): the instances sent
a real reboot call whose answer is not recorded (a lost answer, or a crash between
recording the send and recording the answer) are described at once, in the step that
lost the answer; the rule (``bot.domain.lost_answer.resolve_lost``) then says whether a
call acted (watch it), the call may go out again (send it, counted first), or neither
can be told yet (watch it). When that answer is lost too, a further call goes out only
once no earlier call can still act (``call_again_when_safe``: ``next_call_at`` and
``call_again``, past ECSBOT_INFLIGHT_BOUND, with doubling gaps). The whole of those
rules' use is here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.domain.ecs_values import RUNNING, InstanceInfo, batches, by_place
from bot.domain.errors import EcsTransientError
from bot.domain.lost_answer import (
    MAX_REBOOT_CALLS,
    Again,
    Resolution,
    call_again,
    next_call_at,
    resolve_lost,
)
from bot.domain.model import Happened, InstanceOutcome, InstanceRef
from bot.domain.reboot_answers import NotSent, after_call_again, after_further_call, watched
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.context import Context
from bot.services.lookups import describe_all
from bot.services.reboot_sender import call_reboot
from bot.services.writes import save_instances

log = logging.getLogger(__name__)


def lost(request: RebootRequest) -> list[PlannedInstance]:
    """Instances sent a call whose answer is not recorded: a lost answer, or a crash
    between recording the send and recording the answer."""
    return [
        i
        for i in request.instances
        if i.outcome is InstanceOutcome.PENDING and i.reboot_sent_at is not None
    ]


def resolve_lost_answers(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Describe the instances whose answer was lost: watch those a call rebooted, send
    the others the call again where ``resolve_lost`` allows it."""
    waiting = lost(request)
    if not waiting:
        return request
    decided: list[PlannedInstance] = []
    to_look = []
    for instance in waiting:
        if _calls(instance) >= MAX_REBOOT_CALLS:
            decided.append(watched(instance, Happened.LOST_NO_CALL_LEFT))
        else:
            to_look.append(instance)
    seen: dict[InstanceRef, InstanceInfo] = {}
    if to_look:
        try:
            seen = describe_all(ctx, [i.ref for i in to_look])
        except EcsTransientError as error:
            log.warning("lost answers of request %s not resolved yet: %s", request.id, error)
            to_look = []
    send_again: list[PlannedInstance] = []
    for instance in to_look:
        assert instance.reboot_sent_at is not None
        info = seen.get(instance.ref)
        verdict = resolve_lost(
            calls=_calls(instance),
            sent_at=instance.reboot_sent_at,
            now=now,
            listed=info is not None,
            status=info.status if info is not None else None,
            start_time=info.start_time if info is not None else None,
            start_time_before=instance.start_time_before,
        )
        if verdict is Resolution.RESEND:
            send_again.append(instance)
        elif verdict is Resolution.REBOOTED:
            assert info is not None
            decided.append(
                dataclasses.replace(
                    instance,
                    outcome=InstanceOutcome.REBOOTING,
                    status=info.status,
                    # Out of Running, or a new StartTime: either way it left Running
                    # after the call, so the completion rule counts it back on Running.
                    seen_leaving_running=True,
                    happened=Happened.LOST_RESTARTED,
                )
            )
        elif verdict is Resolution.WATCH:
            why = Happened.LOST_UNLISTED if info is None else Happened.LOST_UNPROVEN
            decided.append(watched(instance, why))
    request = save_instances(ctx, request, decided)
    for place, ids in by_place(i.ref for i in send_again).items():
        for batch in batches(ids):
            request = _send_again(ctx, request, place, batch)
    return request


def _calls(instance: PlannedInstance) -> int:
    # A send recorded by a version without the count (or a row the 0003 migration
    # counted) is one call.
    return max(instance.reboot_calls, 1)


def _record_again(instance: PlannedInstance, at: datetime) -> PlannedInstance:
    # Recorded before it is sent, like the first: a crash, a lost lease or another
    # replica reads the count and sends no further call than the rule allows.
    # ECSBOT_REBOOT_TIMEOUT counts from its moment: sent late (no poller ran for a
    # while), it still gets the whole timeout.
    return dataclasses.replace(instance, reboot_calls=_calls(instance) + 1, reboot_resent_at=at)


def _send_again(
    ctx: Context, request: RebootRequest, place: tuple[str, str], ids: Sequence[str]
) -> RebootRequest:
    """The call again, for instances still ``Running`` since before the first."""
    request, instances, answer = call_reboot(ctx, request, place, ids, record=_record_again)
    if isinstance(answer, NotSent):
        log.warning(
            "reboot call of request %s sent again did not go out: %s", request.id, answer.error
        )
    updated = after_call_again(instances, answer, ctx.clock())
    with ctx.uow() as uow:
        uow.audit.append(
            at=ctx.clock(),
            actor="system",
            action="resend",
            request_id=request.id,
            detail={
                "sent": len(instances),
                "accepted": sum(i.reboot_acked_at is not None and i.code == "200" for i in updated),
                "outcomes": {str(i.ref): i.code for i in updated},
            },
        )
        uow.commit()
    return save_instances(ctx, request, updated)


# --- further calls, past the in-flight bound (docs/decisions/0003) ----------------------


def unanswered(request: RebootRequest) -> list[PlannedInstance]:
    """The instances being watched whose every call lost its answer: the only ones
    :func:`further_call_due` can name. Usually none: the step asks twice a tick, over
    10,000 instances in flight."""
    return [
        i
        for i in request.instances
        if i.reboot_acked_at is None
        and i.outcome is InstanceOutcome.REBOOTING
        and i.reboot_sent_at is not None
    ]


def further_call_due(ctx: Context, instance: PlannedInstance) -> datetime | None:
    """When ``instance`` may get a further call: only one being watched whose every call
    lost its answer (none answered, none seen acting); None when it may not."""
    if (
        instance.outcome is not InstanceOutcome.REBOOTING
        or instance.reboot_sent_at is None
        or instance.reboot_acked_at is not None
    ):
        return None
    return next_call_at(
        calls=_calls(instance),
        first_sent_at=instance.reboot_sent_at,
        last_sent_at=instance.reboot_resent_at or instance.reboot_sent_at,
        bound=timedelta(seconds=ctx.config.inflight_bound),
        timeout=timedelta(seconds=ctx.config.reboot_timeout),
        seen_leaving_running=instance.seen_leaving_running,
        start_time_before=instance.start_time_before,
    )


def call_again_when_safe(ctx: Context, request: RebootRequest) -> RebootRequest:
    """A further call to the instances whose every call lost its answer, once it is safe
    (docs/PRODUCT.md §5.4): a look at them now, at least ECSBOT_INFLIGHT_BOUND after their
    latest call, shows them Running with the StartTime they had before the first one."""
    now = ctx.clock()
    due = {
        i.ref: at
        for i in unanswered(request)
        if (at := further_call_due(ctx, i)) is not None and at <= now
    }
    if not due:
        return request
    try:
        seen = describe_all(ctx, list(due))
    except EcsTransientError as error:
        log.warning("further calls of request %s deferred: %s", request.id, error)
        return request
    timeout = timedelta(seconds=ctx.config.reboot_timeout)
    send: list[PlannedInstance] = []
    left: list[PlannedInstance] = []
    for instance in request.instances:
        if instance.ref not in due:
            continue
        assert instance.reboot_sent_at is not None
        info = seen.get(instance.ref)
        verdict = call_again(
            due_at=due[instance.ref],
            looked_at=now,
            first_sent_at=instance.reboot_sent_at,
            timeout=timeout,
            listed=info is not None,
            status=info.status if info is not None else None,
            start_time=info.start_time if info is not None else None,
            start_time_before=instance.start_time_before,
        )
        if verdict is Again.SEND:
            send.append(instance)
        elif info is not None and info.status != RUNNING:
            # Leaving Running now: one of the calls acted after all. Never another call;
            # the completion rule counts it back on Running.
            left.append(
                dataclasses.replace(instance, status=info.status, seen_leaving_running=True)
            )
    request = save_instances(ctx, request, left)
    for place, ids in by_place(i.ref for i in send).items():
        for batch in batches(ids):
            request = _send_further(ctx, request, place, batch)
    return request


def _send_further(
    ctx: Context, request: RebootRequest, place: tuple[str, str], ids: Sequence[str]
) -> RebootRequest:
    """A further call (the third or later), counted in the database before it goes out."""
    account, region = place
    wanted = {InstanceRef(region, instance_id, account) for instance_id in ids}
    before = [i for i in request.instances if i.ref in wanted]
    request, instances, answer = call_reboot(ctx, request, place, ids, record=_record_again)
    if isinstance(answer, NotSent):
        log.warning(
            "further reboot call of request %s did not go out: %s", request.id, answer.error
        )
    updated = after_further_call(before, instances, answer, ctx.clock())
    with ctx.uow() as uow:
        uow.audit.append(
            at=ctx.clock(),
            actor="system",
            action="resend",
            request_id=request.id,
            detail={
                "sent": len(instances),
                "calls": {str(i.ref): i.reboot_calls for i in updated},
                "outcomes": {str(i.ref): i.code for i in updated},
            },
        )
        uow.commit()
    return save_instances(ctx, request, updated)

"""Driving an ``executing`` request forward (docs/PRODUCT.md §5.4–5.7): send the reboot calls
not sent yet, watch the instances come back, report in the thread, finish.

``advance`` is the one step both the confirm click and the poller take, so a request
left half-done by a crash resumes exactly where it stopped:

* an instance whose reboot call was never sent (no ``reboot_sent_at``) is sent now;
* an instance whose call was sent but whose answer was lost (a timeout, a 5xx, a crash
  before the answer was recorded) stays ``pending`` and is resolved at once
  (``bot.domain.lost_answer``): described, then watched when the call acted, or sent the
  call once more when it did not. When that answer is lost too, a further call goes out
  only once no earlier call can act (ECSBOT_INFLIGHT_BOUND) and the instance is seen not
  to have restarted, with doubling gaps. ``reboot_calls`` is committed before each call
  (docs/decisions/0003);
* thread replies are posted before they are recorded as posted, so a crash repeats a
  reply at worst and never loses one.

The caller holds the request's lease, so no two processes advance one request at once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import EcsError, EcsOutcomeUnknown, EcsTransientError, RoleNotAssumable
from bot.domain.lost_answer import (
    MAX_REBOOT_CALLS,
    Again,
    Resolution,
    call_again,
    next_call_at,
    resolve_lost,
)
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, final_request_state
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.rollout import next_wave, refused, sent_wave, too_many_errors, wave_in_flight
from bot.services.catch_up import announce_end, redraw
from bot.services.context import Context
from bot.services.ports import RUNNING, AgentStatus, RebootResult, RequestUpdate, UnitOfWork
from bot.services.preview import batches, by_place, describe_all, describe_reachable
from bot.services.progress import gate_on_agent, next_delay, observe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What one ``advance`` left: the latest snapshot, and when to look again (None when
    the request is finished or gone). The caller writes the time as it gives the lease
    back, in the same statement."""

    request: RebootRequest | None
    next_poll_at: datetime | None = None


def advance(
    ctx: Context,
    request_id: str,
    *,
    now: datetime | None = None,
    observe_instances: bool = True,
) -> Step:
    """One step for one ``executing`` (or ``paused``) request."""
    request = _load(ctx, request_id)
    if request is None or not request.state.is_running:
        return Step(request)
    now = now or ctx.clock()
    # First calls ECS refused earlier without receiving them (throttled) go out again.
    request = _retry_refused(ctx, request, now)
    # Between waves: stop, pause, or send the next wave (the first, after a confirm).
    request = _between_waves(ctx, request, now)
    # A call whose answer was just lost is looked at at once (§5.4), at the moment of the
    # look: the quicker the look, the more "still Running" proves.
    request = _resolve_lost_answers(ctx, request, ctx.clock())
    if ctx.config.notify_channel and request.notify_ts is None:
        ts = ctx.presenter.notify_started(request)
        request = _set(ctx, request, RequestUpdate(notify_ts=ts or ""))
    changed = False
    if observe_instances:
        request, changed = _observe(ctx, request, now)
        # The wave just over is followed by the next one in the same tick (§5.8), and a
        # lost answer of its calls is resolved at once too.
        request = _between_waves(ctx, request, now)
        request = _resolve_lost_answers(ctx, request, ctx.clock())
        # Instances whose every call lost its answer, past the in-flight bound.
        request = _call_again(ctx, request)
    request = _report(ctx, request, now)
    if all(i.outcome.is_final for i in request.instances):
        finished = _finish(ctx, request)
        if finished is None:
            # The summary did not get through: stay executing and try again soon.
            return Step(request, next_poll_at=now + timedelta(seconds=ctx.config.poll_interval))
        return Step(finished)
    return Step(request, next_poll_at=_next_poll_at(ctx, request, now, changed=changed))


def _load(ctx: Context, request_id: str) -> RebootRequest | None:
    with ctx.uow() as uow:
        return uow.requests.get(request_id)


def _set(ctx: Context, request: RebootRequest, update: RequestUpdate) -> RebootRequest:
    with ctx.uow() as uow:
        uow.requests.set_fields(request.id, update)
        uow.commit()
    return update.applied_to(request)


def _save(
    ctx: Context, request: RebootRequest, updated: Sequence[PlannedInstance]
) -> RebootRequest:
    if not updated:
        return request
    with ctx.uow() as uow:
        uow.requests.save_instances(request.id, updated)
        uow.commit()
    return _with(request, updated)


# --- sending ------------------------------------------------------------------------------


def _between_waves(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
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
    if request.state is not RequestState.EXECUTING:
        return request
    if request.pause_after_wave is not None and sent_wave(request.instances) >= (
        request.pause_after_wave
    ):
        return _pause_after_wave(ctx, request, now)
    return _send_unsent(ctx, request)


def _stop(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    with ctx.uow() as uow:
        uow.requests.set_fields(request.id, RequestUpdate(stop_reason="max_errors"))
        uow.audit.append(
            at=now,
            actor="system",
            action="stop",
            request_id=request.id,
            detail={"reason": "max_errors", "max_errors": request.rollout_max_errors},
        )
        uow.commit()
    return dataclasses.replace(request, stop_reason="max_errors")


def _abort_unsent(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Every instance never sent a reboot ends ``aborted``: the rollout stopped."""
    if request.stop_reason == "abort":
        why = "Not rebooted: the rollout was aborted before its wave."
    else:
        why = (
            "Not rebooted: the rollout stopped because more instances failed than "
            f"--max-errors {request.rollout_max_errors} allows."
        )
    aborted = [
        dataclasses.replace(i, outcome=InstanceOutcome.ABORTED, message=why, finished_at=now)
        for i in request.instances
        if i.will_reboot and i.outcome is InstanceOutcome.PENDING and i.reboot_sent_at is None
    ]
    return _save(ctx, request, aborted)


def _pause_after_wave(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """``--pause-after-canary``: the first wave is back, wait for a person."""
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            [RequestState.EXECUTING],
            RequestState.PAUSED,
            RequestUpdate(pause_after_wave=None, paused_by=None),
        )
        if won:
            uow.audit.append(
                at=now,
                actor="system",
                action="pause",
                request_id=request.id,
                detail={"after_wave": sent_wave(request.instances)},
            )
        uow.commit()
        latest = uow.requests.get(request.id)
    if latest is None:
        return request
    if won:
        ctx.presenter.refresh_request(latest)
        if ctx.config.notify_channel:
            ctx.presenter.notify_rollout(latest, "paused")
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
    for (account, region), ids in by_place(i.ref for i in unsent).items():
        for batch in batches(ids):
            request = _send_batch(ctx, request, account, region, batch)
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
    return _with(request, never_sent)


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


def _with(request: RebootRequest, updated: Sequence[PlannedInstance]) -> RebootRequest:
    by_ref = {i.ref: i for i in updated}
    return dataclasses.replace(
        request, instances=tuple(by_ref.get(i.ref, i) for i in request.instances)
    )


def _send_batch(
    ctx: Context, request: RebootRequest, account: str, region: str, ids: Sequence[str]
) -> RebootRequest:
    wanted = {InstanceRef(region, instance_id, account) for instance_id in ids}
    instances = [i for i in request.instances if i.ref in wanted]
    sent_at = ctx.clock()
    # Recorded before the call: after a crash, "sent_at set, no answer" means "may have
    # happened", which is resolved (described first) instead of blindly re-sent.
    request = _save(
        ctx,
        request,
        [dataclasses.replace(i, reboot_sent_at=sent_at, reboot_calls=1) for i in instances],
    )
    instances = [i for i in request.instances if i.ref in wanted]
    try:
        # Signed for the confirmer: the cloud's audit trail names who pressed Reboot.
        results = ctx.ecs.reboot(
            region, ids, force=request.force, account=account, acting_user=request.confirmed_by
        )
    except EcsOutcomeUnknown as error:
        # Left pending with its send recorded: described at once, in this same step.
        updated = [
            dataclasses.replace(
                i,
                code=error.code,
                message=f"The reboot call's answer was lost ({error.describe()})",
                api_request_id=error.request_id,
            )
            for i in instances
        ]
    except EcsTransientError as error:
        # Throttled, or the connection refused, beyond the client's retries: the call
        # never reached ECS, so it does not count and is tried again (§5.4).
        now = ctx.clock()
        updated = [_not_sent(i, error, now, ctx.config.reboot_timeout) for i in instances]
    except EcsError as error:
        now = ctx.clock()
        updated = [_failed(i, error, now) for i in instances]
    else:
        updated = apply_results(instances, results, ctx.clock())
    return _save(ctx, request, updated)


def _failed(instance: PlannedInstance, error: EcsError, now: datetime) -> PlannedInstance:
    return dataclasses.replace(
        instance,
        outcome=InstanceOutcome.FAILED,
        code=error.code,
        message=error.describe(),
        api_request_id=error.request_id,
        finished_at=now,
    )


def _not_sent(
    instance: PlannedInstance, error: EcsTransientError, now: datetime, timeout_seconds: int
) -> PlannedInstance:
    """An instance whose first call ECS refused before it reached it: pending, unsent,
    tried again at the next poll; failed once ECSBOT_REBOOT_TIMEOUT has passed since the
    first refusal (ECS throttles by the minute, so a throttle that lasts is not ours to
    wait out)."""
    since = instance.unsent_since or now
    if now - since >= timedelta(seconds=timeout_seconds):
        failed = _failed(instance, error, now)
        waited = int((now - since).total_seconds())
        return dataclasses.replace(
            failed, message=f"{failed.message} (refused for {waited} s, never sent)"
        )
    return dataclasses.replace(
        instance,
        reboot_sent_at=None,
        reboot_calls=0,
        unsent_since=since,
        code=error.code,
        message=f"{error.describe()}; nothing was sent: trying again at the next poll",
        api_request_id=error.request_id,
    )


def _retry_refused(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Send again the first calls ECS refused before they reached it in an earlier step
    (not those refused in this one: ``unsent_since`` is before ``now``). They belong to
    the wave in flight, which Pause and Abort let finish."""
    waiting = [i for i in refused(request.instances) if i.unsent_since and i.unsent_since < now]
    if not waiting or not request.state.is_running:
        return request
    for (account, region), ids in by_place(i.ref for i in waiting).items():
        for batch in batches(ids):
            request = _send_batch(ctx, request, account, region, batch)
    with ctx.uow() as uow:
        _audit_sent(ctx, uow, request, waiting)
        uow.commit()
    return request


def _watch(instance: PlannedInstance, why: str, **changes: object) -> PlannedInstance:
    return dataclasses.replace(
        instance,
        outcome=InstanceOutcome.REBOOTING,
        message=f"{why}; watching the instance to see whether it restarts.",
        **changes,  # type: ignore[arg-type]
    )


# --- lost answers (docs/PRODUCT.md §5.4, docs/decisions/0003) ----------------------------


def _lost(request: RebootRequest) -> list[PlannedInstance]:
    """Instances sent a call whose answer is not recorded: a lost answer, or a crash
    between recording the send and recording the answer."""
    return [
        i
        for i in request.instances
        if i.outcome is InstanceOutcome.PENDING and i.reboot_sent_at is not None
    ]


def _calls(instance: PlannedInstance) -> int:
    # A send recorded by a version without the count (or a row the 0003 migration
    # counted) is one call.
    return max(instance.reboot_calls, 1)


def _lost_why(instance: PlannedInstance) -> str:
    return instance.message or "This process stopped before the reboot call's answer was recorded"


def _resolve_lost_answers(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Describe the instances whose answer was lost: watch those the call rebooted, send
    the others the call once more (the second call; any further one is _call_again's)."""
    lost = _lost(request)
    if not lost:
        return request
    decided: list[PlannedInstance] = []
    to_look = []
    for instance in lost:
        assert instance.reboot_sent_at is not None
        if _calls(instance) >= MAX_REBOOT_CALLS:
            decided.append(
                _watch(
                    instance,
                    f"{_lost_why(instance)}; it was already sent {MAX_REBOOT_CALLS} calls",
                )
            )
        else:
            to_look.append(instance)
    seen = {}
    if to_look:
        try:
            seen = describe_all(ctx, [i.ref for i in to_look])
        except EcsTransientError as error:
            log.warning("lost answers of request %s not resolved yet: %s", request.id, error)
            to_look = []
    resend: list[PlannedInstance] = []
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
            resend.append(instance)
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
                    message=(
                        f"{_lost_why(instance)}; the instance had restarted "
                        f"({info.status}), so that call rebooted it: not sent again."
                    ),
                )
            )
        elif verdict is Resolution.WATCH:
            why = "ECS no longer lists it" if info is None else "its StartTime cannot tell"
            decided.append(_watch(instance, f"{_lost_why(instance)}; {why}"))
    request = _save(ctx, request, decided)
    for (account, region), refs in by_place(i.ref for i in resend).items():
        for batch in batches(refs):
            request = _resend_batch(ctx, request, account, region, batch)
    return request


def _resend_batch(
    ctx: Context, request: RebootRequest, account: str, region: str, ids: Sequence[str]
) -> RebootRequest:
    """The second and last call for instances still ``Running`` since before the first."""
    wanted = {InstanceRef(region, instance_id, account) for instance_id in ids}
    before = [i for i in request.instances if i.ref in wanted]
    # The second call is recorded before it is sent, like the first: a crash, a lost
    # lease or another replica then never sends a third. ECSBOT_REBOOT_TIMEOUT counts
    # from its moment: sent late (no poller ran for a while), it still gets the whole
    # timeout.
    resent_at = ctx.clock()
    request = _save(
        ctx,
        request,
        [
            dataclasses.replace(i, reboot_calls=MAX_REBOOT_CALLS, reboot_resent_at=resent_at)
            for i in before
        ],
    )
    instances = [i for i in request.instances if i.ref in wanted]
    why = {i.ref: _lost_why(i) for i in instances}
    try:
        # Signed for the confirmer: the cloud's audit trail names who pressed Reboot.
        results = ctx.ecs.reboot(
            region, ids, force=request.force, account=account, acting_user=request.confirmed_by
        )
    except EcsOutcomeUnknown as error:
        # ECS may have taken the call in at any moment until the client gave up on it:
        # the in-flight bound counts from then (call_again).
        gave_up = ctx.clock()
        updated = [
            _watch(
                i,
                f"{why[i.ref]}; the instance had not restarted, so it was sent once more, "
                f"and that answer was lost too ({error.describe()})",
                reboot_resent_at=gave_up,
            )
            for i in instances
        ]
    except EcsTransientError as error:
        # Throttled or refused beyond the retries: this call never reached ECS, so it
        # does not count; the next tick tries again.
        log.warning("second reboot call of request %s not sent: %s", request.id, error)
        updated = [dataclasses.replace(i, reboot_calls=1, reboot_resent_at=None) for i in instances]
    except EcsError as error:
        updated = [
            _watch(i, f"{why[i.ref]}; sending it once more was refused ({error.describe()})")
            for i in instances
        ]
    else:
        updated = [
            _after_resend(old, new, why[old.ref])
            for old, new in zip(
                instances, apply_results(instances, results, ctx.clock()), strict=True
            )
        ]
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
    return _save(ctx, request, updated)


def _after_resend(old: PlannedInstance, new: PlannedInstance, why: str) -> PlannedInstance:
    """One instance after the second call's answer."""
    if new.outcome is InstanceOutcome.REBOOTING:
        return dataclasses.replace(
            new, message=f"{why}; the instance had not restarted; sent once more: reboot accepted."
        )
    if new.code == "IncorrectInstanceStatus":
        # Running at the describe, not Running at ECS's own check: the first call had
        # started it meanwhile. SuccessFirst refused it, so it is rebooted once.
        return dataclasses.replace(
            old,
            outcome=InstanceOutcome.REBOOTING,
            seen_leaving_running=True,
            reboot_calls=new.reboot_calls,
            message=(
                f"{why}; sent once more, ECS refused it as no longer Running "
                "(IncorrectInstanceStatus): the first call had started it."
            ),
        )
    # Another refusal (a lock, arrears…): the first call may still have acted.
    return _watch(
        dataclasses.replace(old, reboot_calls=new.reboot_calls),
        f"{why}; sent once more, ECS refused it ({new.message})",
    )


# --- further calls, past the in-flight bound (docs/decisions/0003) ----------------------


def _due_at(ctx: Context, instance: PlannedInstance) -> datetime | None:
    """When ``instance`` may get a further call: only one being watched whose every call
    lost its answer (none answered, none seen acting)."""
    if (
        instance.outcome is not InstanceOutcome.REBOOTING
        or instance.reboot_sent_at is None
        or instance.reboot_acked_at is not None
    ):
        return None
    return next_call_at(
        calls=_calls(instance),
        first_sent_at=instance.reboot_sent_at,
        last_sent_at=_last_call(instance),
        bound=timedelta(seconds=ctx.config.inflight_bound),
        timeout=timedelta(seconds=ctx.config.reboot_timeout),
        seen_leaving_running=instance.seen_leaving_running,
        start_time_before=instance.start_time_before,
    )


def _last_call(instance: PlannedInstance) -> datetime:
    assert instance.reboot_sent_at is not None
    return instance.reboot_resent_at or instance.reboot_sent_at


def _call_again(ctx: Context, request: RebootRequest) -> RebootRequest:
    """A further call to the instances whose every call lost its answer, once it is safe
    (docs/PRODUCT.md §5.4): a look at them now, at least ECSBOT_INFLIGHT_BOUND after their
    latest call, shows them Running with the StartTime they had before the first one."""
    now = ctx.clock()
    due = {
        i.ref: at for i in request.instances if (at := _due_at(ctx, i)) is not None and at <= now
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
    request = _save(ctx, request, left)
    for (account, region), refs in by_place(i.ref for i in send).items():
        for batch in batches(refs):
            request = _send_again(ctx, request, account, region, batch)
    return request


def _send_again(
    ctx: Context, request: RebootRequest, account: str, region: str, ids: Sequence[str]
) -> RebootRequest:
    """A further call (the third or later) to instances no earlier call rebooted and none
    can any more. Counted in the database before it goes out, like every call."""
    wanted = {InstanceRef(region, instance_id, account) for instance_id in ids}
    before = {i.ref: i for i in request.instances if i.ref in wanted}
    sent_at = ctx.clock()
    request = _save(
        ctx,
        request,
        [
            dataclasses.replace(i, reboot_calls=_calls(i) + 1, reboot_resent_at=sent_at)
            for i in before.values()
        ],
    )
    instances = [i for i in request.instances if i.ref in wanted]
    try:
        # Signed for the confirmer, like the first call.
        results = ctx.ecs.reboot(
            region, ids, force=request.force, account=account, acting_user=request.confirmed_by
        )
    except EcsOutcomeUnknown as error:
        gave_up = ctx.clock()
        updated = [
            _watch(
                i,
                f"Every reboot call's answer was lost; call {i.reboot_calls}, made once no "
                f"earlier call could still act, lost its answer too ({error.describe()})",
                code=error.code,
                api_request_id=error.request_id,
                reboot_resent_at=gave_up,
            )
            for i in instances
        ]
    except EcsTransientError as error:
        # Throttled or refused beyond the retries: it never reached ECS, so it does not
        # count; the next tick tries again (it is still due).
        log.warning("further reboot call of request %s not sent: %s", request.id, error)
        updated = [
            dataclasses.replace(
                i,
                reboot_calls=before[i.ref].reboot_calls,
                reboot_resent_at=before[i.ref].reboot_resent_at,
            )
            for i in instances
        ]
    except EcsError as error:
        updated = [_failed(i, error, ctx.clock()) for i in instances]
    else:
        updated = [
            _after_further_call(old, new)
            for old, new in zip(
                instances, apply_results(instances, results, ctx.clock()), strict=True
            )
        ]
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
    return _save(ctx, request, updated)


def _after_further_call(old: PlannedInstance, new: PlannedInstance) -> PlannedInstance:
    """One instance after a further call's answer. Nothing earlier can act any more, so
    a refusal is final, unlike the second call's."""
    lost = f"{old.reboot_calls - 1} reboot calls lost their answers"
    if new.outcome is InstanceOutcome.REBOOTING:
        return dataclasses.replace(
            new,
            message=(
                f"{lost}; the instance had not restarted; call {new.reboot_calls}, made once "
                "none of them could still act: reboot accepted."
            ),
        )
    if new.code == "IncorrectInstanceStatus":
        # Seen Running with its old StartTime, then no longer Running at ECS's check:
        # something started it meanwhile. Watched, never called again.
        return dataclasses.replace(
            old,
            outcome=InstanceOutcome.REBOOTING,
            seen_leaving_running=True,
            message=(
                f"{lost}; call {new.reboot_calls} was refused as no longer Running "
                "(IncorrectInstanceStatus): it had started restarting meanwhile."
            ),
        )
    return dataclasses.replace(new, message=f"{lost}; call {new.reboot_calls}: {new.message}")


def apply_results(
    instances: Sequence[PlannedInstance], results: Sequence[RebootResult], now: datetime
) -> list[PlannedInstance]:
    """Each instance after the ``SuccessFirst`` answer. Pure."""
    by_id = {result.instance_id: result for result in results}
    updated = []
    for instance in instances:
        result = by_id.get(instance.ref.instance_id)
        if result is None:
            updated.append(
                dataclasses.replace(
                    instance,
                    outcome=InstanceOutcome.FAILED,
                    message="The API's answer did not mention this instance.",
                    finished_at=now,
                )
            )
        elif result.ok:
            updated.append(
                dataclasses.replace(
                    instance,
                    reboot_acked_at=now,
                    outcome=InstanceOutcome.REBOOTING,
                    code=result.code,
                    message="Reboot accepted.",
                    api_request_id=result.request_id,
                    status=result.current_status or instance.status,
                    # The API's own answer ("CurrentStatus": "Stopping") is a sighting
                    # after the call: a reboot that completes between two polls is
                    # still recognised even when StartTime's minute precision hides it.
                    seen_leaving_running=bool(
                        result.current_status and result.current_status != RUNNING
                    ),
                )
            )
        else:
            reference = f" (code {result.code}" + (
                f", RequestId {result.request_id})" if result.request_id else ")"
            )
            updated.append(
                dataclasses.replace(
                    instance,
                    reboot_acked_at=now,
                    outcome=InstanceOutcome.FAILED,
                    code=result.code,
                    message=(result.explanation or result.message) + reference,
                    api_request_id=result.request_id,
                    finished_at=now,
                )
            )
    return updated


# --- watching -----------------------------------------------------------------------------


def _observe(ctx: Context, request: RebootRequest, now: datetime) -> tuple[RebootRequest, bool]:
    watching = [i for i in request.instances if i.outcome is InstanceOutcome.REBOOTING]
    if not watching:
        return request, False
    try:
        seen, unreachable = describe_reachable(ctx, [i.ref for i in watching])
    except EcsTransientError as error:
        # Throttling slows the poller down, it never stops it: try again next tick.
        log.warning("poll of request %s deferred: %s", request.id, error)
        return request, False
    updated = [
        _unreachable_said(
            observe(i, seen.get(i.ref), now=now, timeout_seconds=ctx.config.reboot_timeout),
            unreachable.get(i.ref),
        )
        for i in watching
    ]
    if ctx.config.health_check_agent:
        updated = _gate_on_agents(ctx, updated, now)
    changed = [new for old, new in zip(watching, updated, strict=True) if new is not old]
    return _save(ctx, request, changed), any(
        new.outcome is not old.outcome for old, new in zip(watching, updated, strict=True)
    )


def _unreachable_said(
    instance: PlannedInstance, refusal: RoleNotAssumable | None
) -> PlannedInstance:
    """An instance that timed out while its account could not be reached (its role no
    longer assumable, or the account removed from ECSBOT_ACCOUNTS) says so, with the
    code, instead of "no longer listed by ECS"."""
    if refusal is None or instance.outcome is not InstanceOutcome.TIMED_OUT:
        return instance
    return dataclasses.replace(
        instance, code=refusal.code, message=f"{instance.message} {refusal.describe()}"
    )


def _gate_on_agents(
    ctx: Context, instances: list[PlannedInstance], now: datetime
) -> list[PlannedInstance]:
    """ECSBOT_HEALTH_CHECK=cloud-assistant: ask the agents of the instances that are
    Running again (only those: the others are not back either way)."""
    back = [i for i in instances if i.outcome is InstanceOutcome.SUCCEEDED]
    if not back:
        return instances
    agents: dict[InstanceRef, AgentStatus] = {}
    try:
        for (account, region), ids in by_place(i.ref for i in back).items():
            for status in ctx.ecs.describe_agents(region, ids, account=account):
                agents[InstanceRef(region, status.instance_id, account)] = status
    except EcsTransientError as error:
        log.warning("agent check deferred: %s", error)
        return [_not_yet(i) if i.outcome is InstanceOutcome.SUCCEEDED else i for i in instances]
    timeout = ctx.config.reboot_timeout
    return [
        gate_on_agent(i, agents.get(i.ref), now=now, timeout_seconds=timeout) for i in instances
    ]


def _not_yet(instance: PlannedInstance) -> PlannedInstance:
    return dataclasses.replace(instance, outcome=InstanceOutcome.REBOOTING, finished_at=None)


# --- reporting ----------------------------------------------------------------------------


def _unreported(request: RebootRequest) -> list[PlannedInstance]:
    return [
        i
        for i in request.instances
        if i.will_reboot
        and i.outcome is not InstanceOutcome.PENDING
        and i.outcome != i.reported_outcome
    ]


def _report(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Post what changed since the last reply, coalesced: the first reply lists every API
    result; later ones come at most as often as :func:`report_gap` allows; the end is
    left to the summary."""
    changed = _unreported(request)
    if not changed:
        return request
    first = all(i.reported_outcome is None for i in request.instances if i.will_reboot)
    done = all(i.outcome.is_final for i in request.instances)
    last = request.reported_at
    if not first and not done and last is not None and now - last < report_gap(request, now):
        return request
    if first:
        ctx.presenter.reply_execution(request)
    elif not done:
        # At the end the summary says it all: no progress reply just before it.
        ctx.presenter.reply_progress(request, changed)
    request = _save(
        ctx, request, [dataclasses.replace(i, reported_outcome=i.outcome) for i in changed]
    )
    progress = progress_line(request)
    if progress != request.progress_text:
        ctx.presenter.refresh_request(dataclasses.replace(request, progress_text=progress))
    return _set(ctx, request, RequestUpdate(progress_text=progress, reported_at=now))


def progress_line(request: RebootRequest) -> str:
    """``3/10 back``; for a rollout ``wave 2/5 · 30/100 back``."""
    back, attempted = request.progress()
    if request.rollout_waves <= 1:
        return f"{back}/{attempted} back"
    wave = max(1, sent_wave(request.instances))
    return f"wave {wave}/{request.rollout_waves} · {back}/{attempted} back"


def report_gap(request: RebootRequest, now: datetime) -> timedelta:
    """The least time between two progress replies: half the time since the reboot
    started, at least five seconds. A reboot of any size makes a handful of replies
    (about log1.5 of its duration), never one per poll."""
    started = request.confirmed_at or request.created_at
    return max(timedelta(seconds=5), (now - started) / 2)


def _finish(ctx: Context, request: RebootRequest) -> RebootRequest | None:
    """Sum up, move to the final state, then notify and redraw. Posting first means a
    crash in between repeats the summary rather than losing it; a summary Slack did not
    take (an error, 429s beyond the retries) leaves the request executing, so the next
    tick posts it again. None in that case. The notification and the redraw are owed
    from the move on (``notify_end_due``, ``message_redraw_due``), so one Slack did not
    take is posted by a later tick."""
    now = ctx.clock()
    final = final_request_state(
        [i.outcome for i in request.instances], stopped=request.stop_reason is not None
    )
    notify = bool(ctx.config.notify_channel)
    finished = dataclasses.replace(
        request, state=final, finished_at=now, message_redraw_due=True, notify_end_due=notify
    )
    if not ctx.presenter.reply_summary(finished):
        log.warning("the summary of request %s was not posted; trying again", request.id)
        return None
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            [RequestState.EXECUTING, RequestState.PAUSED],
            final,
            RequestUpdate(finished_at=now, notify_end_due=notify),
        )
        if won:
            uow.audit.append(
                at=now,
                actor="system",
                action="outcome",
                request_id=request.id,
                detail={
                    "state": final.value,
                    "outcomes": {str(i.ref): i.outcome.value for i in request.instances},
                },
            )
        uow.commit()
    if won:
        if notify:
            announce_end(ctx, finished)
        redraw(ctx, finished)
    return finished


def _next_poll_at(
    ctx: Context, request: RebootRequest, now: datetime, *, changed: bool
) -> datetime:
    if request.state is RequestState.PAUSED and not wave_in_flight(request.instances):
        # Nothing to watch: a Resume or Abort click asks for a poll at once; this is
        # only the fallback should a click and a release cross.
        return now + timedelta(seconds=ctx.config.poll_interval * 8)
    if refused(request.instances):
        # Calls ECS refused before they reached it are tried again at the plain interval.
        return now + timedelta(seconds=ctx.config.poll_interval)
    if next_wave(request.instances) and request.stop_reason is None:
        # A wave is waiting on this one: look at the plain interval (no backoff), so the
        # next wave goes out within one interval of this one being over.
        return now + timedelta(seconds=ctx.config.poll_interval)
    # The wave in flight sets the pace: a later wave is polled as fast as the first.
    wave = sent_wave(request.instances)
    sent = [
        i.reboot_sent_at
        for i in request.instances
        if i.reboot_sent_at is not None and i.wave == wave
    ]
    since = now - min(sent) if sent else timedelta(0)
    delay = next_delay(interval=ctx.config.poll_interval, since_sent=since, changed=changed)
    at = now + timedelta(seconds=delay)
    # A lost answer not resolved yet (its describe failed) is looked at again at the
    # plain interval, not a slow poll later.
    if _lost(request):
        return min(at, now + timedelta(seconds=ctx.config.poll_interval))
    # A further call is made at the first look once it is due, not a slow poll later.
    due = [d for i in request.instances if (d := _due_at(ctx, i)) is not None]
    if due:
        # Past due (its look failed): again at the plain interval.
        return min(at, max(min(due), now + timedelta(seconds=ctx.config.poll_interval)))
    return at

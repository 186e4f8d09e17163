"""Reading the answer to a real ``RebootInstances`` call (docs/PRODUCT.md §5.4): what each
instance of the call becomes. Pure, on plain values.

A call ends in one of four ways (:data:`CallAnswer`): ECS answered, one result per
instance (``SuccessFirst``); the answer was lost, so the call may or may not have acted;
ECS refused the call before it reached it (throttled, or the connection refused), so
nothing was sent; or ECS refused the whole call. The first call, the call sent again at
once after a lost answer, and a further call past the in-flight bound read these
differently (:func:`after_first_call`, :func:`after_call_again`,
:func:`after_further_call`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.ecs_values import RUNNING, RebootResult
from bot.domain.errors import EcsError, EcsOutcomeUnknown, EcsTransientError, ErrorKind
from bot.domain.model import Happened, InstanceOutcome
from bot.domain.request import PlannedInstance


@dataclass(frozen=True)
class Answered:
    """ECS answered the call: one result per instance."""

    results: tuple[RebootResult, ...]


@dataclass(frozen=True)
class AnswerLost:
    """The call went out and its answer was lost: its effect is unknown."""

    error: EcsOutcomeUnknown


@dataclass(frozen=True)
class NotSent:
    """Refused before it reached ECS (throttled, the connection refused) beyond the
    client's retries: nothing was sent."""

    error: EcsTransientError


@dataclass(frozen=True)
class CallRefused:
    """ECS refused the whole call (a signature, the region, the account…)."""

    error: EcsError


CallAnswer = Answered | AnswerLost | NotSent | CallRefused


def after_first_call(
    instances: Sequence[PlannedInstance], answer: CallAnswer, now: datetime, timeout_seconds: int
) -> list[PlannedInstance]:
    """Each instance after the answer to its first call."""
    match answer:
        case Answered(results):
            return apply_results(instances, results, now)
        case AnswerLost(error):
            # Left pending with its send recorded: described at once, in the same step.
            return [
                dataclasses.replace(
                    i,
                    code=error.code,
                    message=error.describe(),
                    happened=Happened.ANSWER_LOST,
                    api_request_id=error.request_id,
                )
                for i in instances
            ]
        case NotSent(error):
            # The call never reached ECS, so it does not count and is tried again (§5.4).
            return [not_sent(i, error, now, timeout_seconds) for i in instances]
        case CallRefused(error):
            return [refused(i, error, now) for i in instances]


def after_call_again(
    instances: Sequence[PlannedInstance], answer: CallAnswer, now: datetime
) -> list[PlannedInstance]:
    """Each instance after the answer to a call sent again after a lost answer
    (``instances`` as recorded before that call)."""
    match answer:
        case Answered(results):
            kinds = {result.instance_id: result.kind for result in results}
            return [
                _after_answer_again(old, new, kinds.get(old.ref.instance_id))
                for old, new in zip(instances, apply_results(instances, results, now), strict=True)
            ]
        case AnswerLost(error):
            # ECS may have taken the call in at any moment until the client gave up on
            # it (``now``): the in-flight bound counts from then (lost_answer.call_again).
            return [
                dataclasses.replace(
                    _watched_after(i, Happened.RESENT_LOST, error), reboot_resent_at=now
                )
                for i in instances
            ]
        case NotSent():
            # This call never reached ECS, so it does not count; the next step tries again.
            return [
                dataclasses.replace(i, reboot_calls=i.reboot_calls - 1, reboot_resent_at=None)
                for i in instances
            ]
        case CallRefused(error):
            return [_watched_after(i, Happened.RESENT_REFUSED, error) for i in instances]


def after_further_call(
    before: Sequence[PlannedInstance],
    instances: Sequence[PlannedInstance],
    answer: CallAnswer,
    now: datetime,
) -> list[PlannedInstance]:
    """Each instance after the answer to a further call (the third or later), made once
    no earlier call could still act (docs/decisions/0003): ``before`` as they were before
    the call was recorded, ``instances`` as recorded. Nothing earlier can act any more,
    so a refusal is final, unlike the second call's."""
    match answer:
        case Answered(results):
            kinds = {result.instance_id: result.kind for result in results}
            updated = []
            for old, new in zip(instances, apply_results(instances, results, now), strict=True):
                kind = kinds.get(old.ref.instance_id)
                if new.outcome is InstanceOutcome.FAILED and kind is not ErrorKind.NOT_RUNNING:
                    updated.append(new)  # refused, and nothing earlier can act: final
                else:
                    updated.append(_after_answer_again(old, new, kind))
            return updated
        case AnswerLost(error):
            return [
                dataclasses.replace(
                    _watched_after(i, Happened.RESENT_LOST, error), reboot_resent_at=now
                )
                for i in instances
            ]
        case NotSent():
            # Never reached ECS: the count and the latest call's moment go back, so the
            # bound still counts from the call that did go out; the next step tries again.
            return [
                dataclasses.replace(
                    i, reboot_calls=old.reboot_calls, reboot_resent_at=old.reboot_resent_at
                )
                for old, i in zip(before, instances, strict=True)
            ]
        case CallRefused(error):
            return [refused(i, error, now) for i in instances]


def _after_answer_again(
    old: PlannedInstance, new: PlannedInstance, kind: ErrorKind | None
) -> PlannedInstance:
    if new.outcome is InstanceOutcome.REBOOTING:
        return dataclasses.replace(new, happened=Happened.RESENT_ACCEPTED)
    if kind is ErrorKind.NOT_RUNNING:
        # Running at the describe, not Running at ECS's own check: an earlier call had
        # started it meanwhile. SuccessFirst refused it, so it is rebooted once.
        return dataclasses.replace(
            old,
            outcome=InstanceOutcome.REBOOTING,
            seen_leaving_running=True,
            reboot_calls=new.reboot_calls,
            code=new.code,
            api_request_id=new.api_request_id,
            happened=Happened.RESENT_ALREADY_REBOOTING,
        )
    # Another refusal (a lock, arrears…): an earlier call may still have acted.
    return watched(
        dataclasses.replace(old, reboot_calls=new.reboot_calls),
        Happened.RESENT_REFUSED,
        code=new.code,
        message=new.message,
        api_request_id=new.api_request_id,
    )


def apply_results(
    instances: Sequence[PlannedInstance], results: Sequence[RebootResult], now: datetime
) -> list[PlannedInstance]:
    """Each instance after the ``SuccessFirst`` answer."""
    by_id = {result.instance_id: result for result in results}
    updated = []
    for instance in instances:
        result = by_id.get(instance.ref.instance_id)
        if result is None:
            updated.append(
                dataclasses.replace(
                    instance,
                    outcome=InstanceOutcome.FAILED,
                    happened=Happened.NOT_IN_ANSWER,
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
                    message=None,
                    happened=Happened.ACCEPTED,
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
                    happened=Happened.REFUSED,
                    api_request_id=result.request_id,
                    finished_at=now,
                )
            )
    return updated


def refused(instance: PlannedInstance, error: EcsError, now: datetime) -> PlannedInstance:
    """The instance failed: ECS refused its call."""
    return dataclasses.replace(
        instance,
        outcome=InstanceOutcome.FAILED,
        happened=Happened.REFUSED,
        finished_at=now,
        code=error.code,
        message=error.describe(),
        api_request_id=error.request_id,
    )


def not_sent(
    instance: PlannedInstance, error: EcsTransientError, now: datetime, timeout_seconds: int
) -> PlannedInstance:
    """An instance whose first call ECS refused before it reached it: pending, unsent,
    tried again at the next poll; failed once ECSBOT_REBOOT_TIMEOUT has passed since the
    first refusal (ECS throttles by the minute, so a throttle that lasts is not ours to
    wait out)."""
    since = instance.unsent_since or now
    if now - since >= timedelta(seconds=timeout_seconds):
        return dataclasses.replace(refused(instance, error, now), happened=Happened.NEVER_SENT)
    return dataclasses.replace(
        instance,
        reboot_sent_at=None,
        reboot_calls=0,
        unsent_since=since,
        happened=Happened.NOT_SENT,
        code=error.code,
        message=error.describe(),
        api_request_id=error.request_id,
    )


def watched(instance: PlannedInstance, why: Happened, **changes: object) -> PlannedInstance:
    """The instance is watched until it is back or timed out: ``why`` says how it came
    to be (a lost answer, and what became of it)."""
    return dataclasses.replace(
        instance,
        outcome=InstanceOutcome.REBOOTING,
        happened=why,
        **changes,  # type: ignore[arg-type]
    )


def _watched_after(instance: PlannedInstance, why: Happened, error: EcsError) -> PlannedInstance:
    return watched(
        instance, why, code=error.code, message=error.describe(), api_request_id=error.request_id
    )

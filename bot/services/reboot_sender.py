"""The one place a real ``RebootInstances`` call is made: for the first call of a wave
and for a call sent again after a lost answer alike.

Each call is recorded before it goes out (``record``: its moment and the count of calls,
committed): after a crash, "sent, no answer" then means "may have happened", which is
resolved by looking at the instance (``bot.services.lost_answers``), never by sending
blindly. What the answer means is read by the domain (``bot.domain.reboot_answers``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.domain.errors import EcsError, EcsOutcomeUnknown, EcsTransientError
from bot.domain.model import InstanceRef
from bot.domain.reboot_answers import Answered, AnswerLost, CallAnswer, CallRefused, NotSent
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.context import Context
from bot.services.writes import save_instances

Record = Callable[[PlannedInstance, datetime], PlannedInstance]


def call_reboot(
    ctx: Context,
    request: RebootRequest,
    place: tuple[str, str],
    ids: Sequence[str],
    *,
    record: Record,
) -> tuple[RebootRequest, list[PlannedInstance], CallAnswer]:
    """Record the call for ``ids`` (≤100, one ``(account, region)``), then send it with
    ``SuccessFirst``, signed for the confirmer: the cloud's audit trail names who pressed
    Reboot (§5.13). The request and the instances as recorded before the call, and the
    call's answer."""
    account, region = place
    wanted = {InstanceRef(region, instance_id, account) for instance_id in ids}
    at = ctx.clock()
    request = save_instances(
        ctx, request, [record(i, at) for i in request.instances if i.ref in wanted]
    )
    instances = [i for i in request.instances if i.ref in wanted]
    answer: CallAnswer
    try:
        results = ctx.ecs.reboot(
            region, ids, force=request.force, account=account, acting_user=request.confirmed_by
        )
        answer = Answered(tuple(results))
    except EcsOutcomeUnknown as error:
        answer = AnswerLost(error)
    except EcsTransientError as error:
        answer = NotSent(error)
    except EcsError as error:
        answer = CallRefused(error)
    return request, instances, answer

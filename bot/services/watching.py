"""Watching instances come back (docs/PRODUCT.md §5.5, §5.9): describe the ``rebooting``
ones, apply the completion rule (``bot.domain.completion``) and, with the health gate,
ask the Cloud Assistant agents of those Running again."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from bot.domain.completion import gate_on_agent, observe
from bot.domain.ecs_values import AgentStatus, InstanceStatus, by_place
from bot.domain.errors import EcsTransientError, RoleNotAssumable
from bot.domain.model import Happened, InstanceOutcome, InstanceRef
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.context import Context
from bot.services.lookups import statuses_by_place
from bot.services.writes import save_instances

log = logging.getLogger(__name__)


def watch(ctx: Context, request: RebootRequest, now: datetime) -> tuple[RebootRequest, bool]:
    """One look at the instances being rebooted; True when an outcome changed."""
    watching = [i for i in request.instances if i.outcome is InstanceOutcome.REBOOTING]
    if not watching:
        return request, False
    try:
        seen, unreachable = statuses_by_place(ctx, [i.ref for i in watching])
    except EcsTransientError as error:
        # Throttling slows the poller down, it never stops it: try again next tick.
        log.warning("poll of request %s deferred: %s", request.id, error)
        return request, False
    timeout = ctx.config.reboot_timeout
    nothing: dict[str, InstanceStatus] = {}
    found = nothing
    place: tuple[str, str] | None = None
    updated = []
    for instance in watching:
        ref = instance.ref
        # Looked up once per run of one place, not per instance (10,000 a tick).
        if place is None or ref.region != place[1] or ref.account != place[0]:
            place = (ref.account, ref.region)
            found = seen.get(place, nothing)
        observed = observe(instance, found.get(ref.instance_id), now=now, timeout_seconds=timeout)
        # Most looks change nothing (the same object back): only a change is looked at
        # further, 10,000 instances a tick.
        if observed is not instance and unreachable:
            observed = _unreachable_said(observed, unreachable.get((ref.account, ref.region)))
        updated.append(observed)
    if ctx.config.health_check_agent:
        updated = _gate_on_agents(ctx, updated, now)
    moved = [(old, new) for old, new in zip(watching, updated, strict=True) if new is not old]
    return save_instances(ctx, request, [new for _, new in moved]), any(
        new.outcome is not old.outcome for old, new in moved
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
        instance,
        happened=Happened.NOT_BACK_UNREACHABLE,
        code=refusal.code,
        message=refusal.describe(),
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

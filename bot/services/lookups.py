"""Looking instances up in ECS for a use case: describing them, and dry-running their
reboot with the refused ones found by halving (``bot.domain.dry_run``). Shared by the
preview and by execution, which describes the instances it watches."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.dry_run import DryRunAnswer, find_refused
from bot.domain.ecs_values import DryRunBatch, InstanceInfo, by_region
from bot.domain.model import InstanceRef
from bot.services.context import Context


def describe_all(ctx: Context, refs: Sequence[InstanceRef]) -> dict[InstanceRef, InstanceInfo]:
    """DescribeInstances for every region (the gateway batches ≤100 ids a call)."""
    found: dict[InstanceRef, InstanceInfo] = {}
    for region, ids in by_region(refs).items():
        for info in ctx.ecs.describe_instances(region, ids):
            found[InstanceRef(region, info.instance_id)] = info
    return found


def dry_run_all(
    ctx: Context, refs: Sequence[InstanceRef], *, force: bool
) -> dict[InstanceRef, DryRunBatch]:
    """Each instance's DryRun verdict: the passing call that covered it, or the call
    in which it alone was refused (refused batches are halved until each refused
    instance stands alone: ``bot.domain.dry_run``)."""
    verdicts: dict[InstanceRef, DryRunBatch] = {}
    for region, ids in by_region(refs).items():

        def one_call(batch: Sequence[str], region: str = region) -> DryRunAnswer[DryRunBatch]:
            [answer] = ctx.ecs.dry_run_reboot(region, batch, force=force)
            return DryRunAnswer(answer if answer.error else None, answer.per_instance)

        refused = find_refused(ids, one_call)
        passed = DryRunBatch(region, tuple(ids), None)
        for instance_id in ids:
            verdicts[InstanceRef(region, instance_id)] = refused.get(instance_id, passed)
    return verdicts

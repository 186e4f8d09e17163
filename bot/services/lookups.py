"""Looking instances up in ECS for a use case: describing them (per account and region;
an account whose role cannot be assumed is told apart, §5.13), and dry-running their
reboot with the refused ones found by halving (``bot.domain.dry_run``). Shared by the
preview and by execution, which describes the instances it watches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.domain.dry_run import DryRunAnswer, find_refused
from bot.domain.ecs_values import DryRunBatch, InstanceInfo, InstanceStatus, by_place
from bot.domain.errors import RoleNotAssumable
from bot.domain.model import InstanceRef
from bot.services.context import Context

log = logging.getLogger(__name__)

_Seen = TypeVar("_Seen", InstanceInfo, InstanceStatus)
# Where an ECS call reaches: (account, region).
Place = tuple[str, str]


def describe_all(ctx: Context, refs: Sequence[InstanceRef]) -> dict[InstanceRef, InstanceInfo]:
    """DescribeInstances for every account and region (the gateway batches ≤100 ids a
    call). Instances of an account whose role cannot be assumed are simply not found."""
    return describe_reachable(ctx, refs)[0]


def describe_reachable(
    ctx: Context, refs: Sequence[InstanceRef]
) -> tuple[dict[InstanceRef, InstanceInfo], dict[InstanceRef, RoleNotAssumable]]:
    """What ``describe_all`` finds, and the instances of the accounts whose role could
    not be assumed with STS's refusal: those are denied while the others go on (§5.13)."""
    found: dict[InstanceRef, InstanceInfo] = {}
    unreachable: dict[InstanceRef, RoleNotAssumable] = {}
    seen, refused = _by_place(ctx.ecs.describe_instances, refs)
    for (account, region), infos in seen.items():
        for instance_id, info in infos.items():
            found[InstanceRef(region, instance_id, account)] = info
    for ref in refs:
        if (refusal := refused.get((ref.account, ref.region))) is not None:
            unreachable[ref] = refusal
    return found, unreachable


def statuses_by_place(
    ctx: Context, refs: Sequence[InstanceRef]
) -> tuple[dict[Place, dict[str, InstanceStatus]], dict[Place, RoleNotAssumable]]:
    """The poll's look: each instance's status and StartTime, by (account, region) and
    instance id (no ``InstanceRef`` made or hashed for 10,000 instances a tick), and the
    places whose account's role could not be assumed, with STS's refusal (§5.13)."""
    return _by_place(ctx.ecs.describe_statuses, refs)


def _by_place(
    describe: Callable[..., list[_Seen]], refs: Sequence[InstanceRef]
) -> tuple[dict[Place, dict[str, _Seen]], dict[Place, RoleNotAssumable]]:
    found: dict[Place, dict[str, _Seen]] = {}
    unreachable: dict[Place, RoleNotAssumable] = {}
    for place, ids in by_place(refs).items():
        try:
            infos = describe(place[1], ids, account=place[0])
        except RoleNotAssumable as refusal:
            log.warning("account %s unreachable: %s", place[0], refusal)
            unreachable[place] = refusal
            continue
        found[place] = {info.instance_id: info for info in infos}
    return found, unreachable


def dry_run_all(
    ctx: Context, refs: Sequence[InstanceRef], *, force: bool, acting_user: str | None = None
) -> dict[InstanceRef, DryRunBatch]:
    """Each instance's DryRun verdict: the passing call that covered it, or the call
    in which it alone was refused (refused batches are halved until each refused
    instance stands alone: ``bot.domain.dry_run``). The DryRun goes out on behalf of
    ``acting_user``, the requester (§5.13: the role session is named for them)."""
    verdicts: dict[InstanceRef, DryRunBatch] = {}
    for (account, region), ids in by_place(refs).items():

        def one_call(
            batch: Sequence[str], region: str = region, account: str = account
        ) -> DryRunAnswer[DryRunBatch]:
            [answer] = ctx.ecs.dry_run_reboot(
                region, batch, force=force, account=account, acting_user=acting_user
            )
            return DryRunAnswer(answer if answer.error else None, answer.per_instance)

        refused = find_refused(ids, one_call)
        passed = DryRunBatch(region, tuple(ids), None)
        for instance_id in ids:
            verdicts[InstanceRef(region, instance_id, account)] = refused.get(instance_id, passed)
    return verdicts

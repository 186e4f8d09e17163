"""The preview's verdict for each instance (docs/PRODUCT.md §5.3), from what
``DescribeInstances`` and the DryRun said. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.domain.ecs_values import RUNNING, DryRunBatch, InstanceInfo
from bot.domain.errors import ErrorKind, RoleNotAssumable
from bot.domain.model import InstanceRef, Verdict
from bot.domain.request import PlannedInstance


def plan_instances(
    refs: Sequence[InstanceRef],
    found: Mapping[InstanceRef, InstanceInfo],
    dry_runs: Mapping[InstanceRef, DryRunBatch],
) -> tuple[PlannedInstance, ...]:
    """Each instance's verdict, in the order the person gave them."""
    planned = []
    for position, ref in enumerate(refs):
        info = found.get(ref)
        refusal = dry_runs[ref].error if ref in dry_runs else None
        if info is None and isinstance(refusal, RoleNotAssumable):
            # Its account's role could not be assumed: nothing could be looked up.
            planned.append(
                PlannedInstance(
                    ref=ref,
                    position=position,
                    verdict=Verdict.DENIED,
                    verdict_code=refusal.code,
                    verdict_message=refusal.describe(),
                )
            )
            continue
        if info is None:
            planned.append(
                PlannedInstance(
                    ref=ref,
                    position=position,
                    verdict=Verdict.NOT_FOUND,
                    verdict_message="No such instance in this region (or the bot may not see it).",
                )
            )
            continue
        verdict, code, message = _verdict(info, dry_runs.get(ref))
        planned.append(
            PlannedInstance(
                ref=ref,
                position=position,
                verdict=verdict,
                name=info.name,
                status=info.status,
                zone=info.zone,
                tags=dict(info.tags),
                verdict_code=code,
                verdict_message=message,
                start_time_before=info.start_time,
            )
        )
    return tuple(planned)


def _verdict(
    info: InstanceInfo, dry_run: DryRunBatch | None
) -> tuple[Verdict, str | None, str | None]:
    if info.status != RUNNING:
        return Verdict.NOT_RUNNING, None, f"The instance is {info.status}, not Running."
    if info.operation_locks:
        reasons = ", ".join(info.operation_locks)
        return Verdict.LOCKED, info.lock_code, f"ECS holds an operation lock on it ({reasons})."
    if dry_run is None:
        return Verdict.REFUSED, None, "The dry run did not cover this instance."
    if dry_run.error is None:
        return Verdict.WILL_REBOOT, None, None
    error = dry_run.error
    # The bot's own cloud identity may not act (RAM), as opposed to the instance being
    # in the wrong state: shown as "denied". So is an account whose role cannot be
    # assumed (RoleNotAssumable, with STS's code, §5.13); the other accounts go on.
    if error.kind is ErrorKind.DENIED:
        return Verdict.DENIED, error.code, error.describe()
    if error.kind is ErrorKind.NOT_RUNNING:
        return Verdict.NOT_RUNNING, error.code, error.describe()
    return Verdict.REFUSED, error.code, error.describe()

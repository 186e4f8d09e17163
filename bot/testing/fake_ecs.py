"""The in-memory ``EcsGateway`` behind :func:`bot.testing.memory.memory_bot`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.ecs_values import (
    MAX_AGENT_IDS_PER_CALL,
    MAX_IDS_PER_CALL,
    RUNNING,
    TAG_FILTER_LIMIT,
    AgentStatus,
    DryRunBatch,
    FoundInstances,
    InstanceInfo,
    InstanceStatus,
    RebootResult,
)
from bot.domain.errors import EcsError
from bot.domain.selectors import InstanceFilter
from bot.ecs import catalogue

# --- ECS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EcsCall:
    """One call the fake ECS answered."""

    method: str  # "describe_instances", "dry_run_reboot" or "reboot"
    region: str
    instance_ids: tuple[str, ...]
    force: bool | None = None


class FakeEcs:
    """``EcsGateway`` over a dict of instances; records every call.

    ``reboot`` turns each instance it accepts ``Stopping``; tests move instances on
    with :meth:`set_status`. :attr:`dry_run_errors` and :attr:`reboot_errors` make a
    call fail (by region, as an ``EcsError`` raised); :attr:`refused` makes single
    instances fail inside a ``SuccessFirst`` answer (by instance id, as ``(code,
    message)``); :meth:`fail_next_reboot` makes only the next call fail, after it acted
    or not (a lost answer, a throttle).
    """

    def __init__(self) -> None:
        self.instances: dict[tuple[str, str], InstanceInfo] = {}
        self.calls: list[EcsCall] = []
        # (method, account, acting user) of each DryRun and reboot: whose session signed it.
        self.acting: list[tuple[str, str, str | None]] = []
        self.dry_run_errors: dict[str, EcsError] = {}
        self.reboot_errors: dict[str, EcsError] = {}
        self.refused: dict[str, tuple[str, str]] = {}
        # One-shot faults of the next reboot calls by region: (error, whether it acted).
        self.next_reboot_faults: dict[str, list[tuple[EcsError, bool]]] = {}
        # The Cloud Assistant agents by (region, id); an instance not listed has none.
        self.agents: dict[tuple[str, str], AgentStatus] = {}

    def add_instance(
        self,
        region: str,
        instance_id: str,
        *,
        name: str | None = None,
        status: str = RUNNING,
        tags: Mapping[str, str] | None = None,
        start_time: datetime | None = None,
    ) -> InstanceInfo:
        info = InstanceInfo(
            instance_id=instance_id,
            region=region,
            name=name or instance_id,
            status=status,
            zone=f"{region}-a",
            tags=dict(tags or {}),
            start_time=start_time,
        )
        self.instances[(region, instance_id)] = info
        return info

    def set_status(
        self, region: str, instance_id: str, status: str, *, start_time: datetime | None = None
    ) -> None:
        info = self.instances[(region, instance_id)]
        self.instances[(region, instance_id)] = dataclasses.replace(
            info, status=status, start_time=start_time or info.start_time
        )

    def fail_next_reboot(self, region: str, error: EcsError, *, rebooted: bool = False) -> None:
        """The next reboot call in ``region`` raises ``error``: an ``EcsOutcomeUnknown``
        after rebooting its instances (``rebooted``) or not, an ``EcsTransientError``
        (a throttle: nothing reached ECS) without. Later calls answer as usual."""
        self.next_reboot_faults.setdefault(region, []).append((error, rebooted))

    def calls_of(self, method: str) -> list[EcsCall]:
        return [call for call in self.calls if call.method == method]

    # EcsGateway

    def describe_instances(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[InstanceInfo]:
        self.calls.append(EcsCall("describe_instances", region, tuple(instance_ids)))
        return [self.instances[(region, i)] for i in instance_ids if (region, i) in self.instances]

    def describe_statuses(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[InstanceStatus]:
        # The same DescribeInstances call, read less of: recorded as one.
        return [
            InstanceStatus(info.instance_id, info.status, info.start_time)
            for info in self.describe_instances(region, instance_ids, account=account)
        ]

    def describe_agents(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[AgentStatus]:
        ids = tuple(instance_ids)
        for start in range(0, len(ids), MAX_AGENT_IDS_PER_CALL):
            # One recorded call per API call the real client would make.
            batch = ids[start : start + MAX_AGENT_IDS_PER_CALL]
            self.calls.append(EcsCall("describe_agents", region, batch))
        return [
            self.agents.get((region, i), AgentStatus(i, online=False, installed=False))
            for i in instance_ids
            if (region, i) in self.instances
        ]

    def find_instances(
        self,
        region: str,
        *,
        tags: Sequence[tuple[str, str]],
        name: str | None,
        account: str = DEFAULT_ACCOUNT,
    ) -> FoundInstances:
        self.calls.append(
            EcsCall("find_instances", region, (*(f"{k}={v}" for k, v in tags), name or ""))
        )
        wanted = InstanceFilter(tuple(tags), (name,) if name is not None else ())
        matched = tuple(
            info
            for (where, _), info in self.instances.items()
            if where == region and wanted.matches(info.name, info.tags)
        )
        if tags:
            matched = matched[:TAG_FILTER_LIMIT]
        return FoundInstances(region, matched, len(matched), tag_filtered=bool(tags))

    def dry_run_reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[DryRunBatch]:
        self.calls.append(EcsCall("dry_run_reboot", region, tuple(instance_ids), force))
        self.acting.append(("dry_run_reboot", account, acting_user))
        error = self.dry_run_errors.get(region)
        ids = list(instance_ids)
        return [
            DryRunBatch(region, tuple(ids[n : n + MAX_IDS_PER_CALL]), error)
            for n in range(0, len(ids), MAX_IDS_PER_CALL)
        ]

    def reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[RebootResult]:
        if len(instance_ids) > MAX_IDS_PER_CALL:
            raise ValueError(f"at most {MAX_IDS_PER_CALL} ids per reboot call")
        self.calls.append(EcsCall("reboot", region, tuple(instance_ids), force))
        self.acting.append(("reboot", account, acting_user))
        if region in self.reboot_errors:
            raise self.reboot_errors[region]
        if self.next_reboot_faults.get(region):
            error, rebooted = self.next_reboot_faults[region].pop(0)
            if rebooted:
                self._answer_reboot(region, instance_ids)
            raise error
        return self._answer_reboot(region, instance_ids)

    def _answer_reboot(self, region: str, instance_ids: Sequence[str]) -> list[RebootResult]:
        results = []
        for instance_id in instance_ids:
            if (region, instance_id) not in self.instances:
                results.append(_refusal(instance_id, region, "InvalidInstanceId.NotFound", ""))
            elif instance_id in self.refused:
                results.append(_refusal(instance_id, region, *self.refused[instance_id]))
            else:
                previous = self.instances[(region, instance_id)].status
                self.set_status(region, instance_id, "Stopping")
                results.append(
                    RebootResult(
                        instance_id=instance_id,
                        region=region,
                        ok=True,
                        code="200",
                        message="",
                        explanation="",
                        request_id=f"req-{len(self.calls)}",
                        current_status="Stopping",
                        previous_status=previous,
                    )
                )
        return results


def _refusal(instance_id: str, region: str, code: str, message: str) -> RebootResult:
    return RebootResult(
        instance_id=instance_id,
        region=region,
        ok=False,
        code=code,
        message=message,
        explanation=message,
        request_id=None,
        kind=catalogue.kind_of(code),
    )

"""What ECS reports and answers, as plain values: the instances, the DryRun verdicts, the
reboot results and the Cloud Assistant agents. The ECS adapter builds them from the
API's answers; the domain's rules and the use cases read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from bot.domain import dry_run
from bot.domain.errors import EcsError, ErrorKind
from bot.domain.model import InstanceRef

RUNNING = "Running"
# The ECS API takes at most this many instance ids in one call.
MAX_IDS_PER_CALL = dry_run.MAX_IDS_PER_CALL


@dataclass(frozen=True)
class InstanceInfo:
    """One instance as ``DescribeInstances`` reports it."""

    instance_id: str
    region: str
    name: str
    status: str
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    start_time: datetime | None = None
    operation_locks: tuple[str, ...] = ()
    # The code ECS would refuse a reboot of it with for those locks (the adapter knows).
    lock_code: str | None = None


class InstanceStatus(NamedTuple):
    """What a poll looks at of an instance ``DescribeInstances`` lists: its status and
    ``StartTime`` (the completion rule needs no more). A tuple: a poll makes 10,000 of
    them, at half a frozen dataclass's cost each."""

    instance_id: str
    status: str
    start_time: datetime | None = None


# DescribeInstances with a tag filter lists at most this many instances (no NextToken
# beyond them; docs/ECS-API.md): a match that reaches it may be cut short.
TAG_FILTER_LIMIT = 1000


@dataclass(frozen=True)
class FoundInstances:
    """What a filtered ``DescribeInstances`` listed in one region, every page of it."""

    region: str
    instances: tuple[InstanceInfo, ...]
    total_count: int  # the API's TotalCount
    tag_filtered: bool = False

    @property
    def capped(self) -> bool:
        """True when ECS may have left matches out (a tag filter's 1,000 limit)."""
        return self.tag_filtered and max(self.total_count, len(self.instances)) >= (
            TAG_FILTER_LIMIT
        )


@dataclass(frozen=True)
class DryRunBatch:
    """The verdict of one DryRun ``RebootInstances`` call (``AllTogether``, ≤100 ids)."""

    region: str
    instance_ids: tuple[str, ...]
    error: EcsError | None  # None: the dry run passed (DRYRUN.SUCCESS / DryRunOperation)
    # Whether ``error`` can come from one instance alone (a lock, arrears, a RAM policy
    # on that instance), so that a half of the batch may pass; else it is the call's.
    per_instance: bool = False

    @property
    def passed(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RebootResult:
    """One instance's answer from a real ``RebootInstances`` call (``SuccessFirst``)."""

    instance_id: str
    region: str
    ok: bool
    code: str  # "200" on success, else the API's code
    message: str
    explanation: str  # the catalogue's sentence ("" on success)
    request_id: str | None = None
    current_status: str | None = None
    previous_status: str | None = None
    kind: ErrorKind | None = None  # what a refusal means (None on success)


# DescribeCloudAssistantStatus takes at most this many instance ids in one call.
MAX_AGENT_IDS_PER_CALL = 50


@dataclass(frozen=True)
class AgentStatus:
    """One instance's Cloud Assistant agent as ``DescribeCloudAssistantStatus`` reports
    it: ``installed`` False when the instance has no agent at all."""

    instance_id: str
    online: bool
    installed: bool
    last_heartbeat: datetime | None = None


def by_region(refs: Iterable[InstanceRef]) -> dict[str, list[str]]:
    """Instance ids grouped by region, in the order given (accounts not told apart)."""
    grouped: dict[str, list[str]] = {}
    for ref in refs:
        grouped.setdefault(ref.region, []).append(ref.instance_id)
    return grouped


def by_place(refs: Iterable[InstanceRef]) -> dict[tuple[str, str], list[str]]:
    """Instance ids grouped by (account, region), in the order given: one ECS call
    reaches one region of one account (§5.13)."""
    grouped: dict[tuple[str, str], list[str]] = {}
    place: tuple[str, str] | None = None
    ids: list[str] = []
    for ref in refs:
        # Instances come in runs of one place (a poll groups 10,000 a tick): the key is
        # made and looked up once a run.
        if place is None or ref.region != place[1] or ref.account != place[0]:
            place = (ref.account, ref.region)
            ids = grouped.setdefault(place, [])
        ids.append(ref.instance_id)
    return grouped


def batches(ids: Sequence[str], size: int = MAX_IDS_PER_CALL) -> list[Sequence[str]]:
    """``ids`` cut into calls of at most ``size`` (the API's 100)."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]

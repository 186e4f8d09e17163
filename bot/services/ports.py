"""The ports the use cases need, as Protocols, and the plain values that cross them.

Adapters (``bot.ecs``, ``bot.db``, ``bot.slack``) implement these; the services and
their tests depend only on this module.

Why one file of about 500 lines: every port the use cases depend on, side by side, so
an adapter or a fake can be checked against all of them in one read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import Any, Final, Protocol

from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.alarms import AlarmCard
from bot.domain.ecs_values import (
    AgentStatus,
    DryRunBatch,
    FoundInstances,
    InstanceInfo,
    InstanceStatus,
    RebootResult,
)
from bot.domain.model import (
    AgentFinding,
    Happened,
    InstanceOutcome,
    RequestState,
    RolloutEvent,
    StopReason,
    Verdict,
)
from bot.domain.policy import Binding
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.schedule import ScheduleEvent
from bot.services.answers import Answer, PreviewNote


class EcsGateway(Protocol):
    """What the use cases need from ECS. Each method batches ≤100 ids per API call
    itself, retries transient failures, and raises ``EcsError`` subclasses.

    ``account`` names the account a call acts in (``default``: the bot's own identity,
    the only account without ``ECSBOT_ACCOUNTS``); ``acting_user`` the Slack user on
    whose behalf a DryRun or reboot goes out (its role session, which the cloud's audit
    trail shows, is named for them). A role that cannot be assumed raises
    ``CredentialsError`` carrying STS's code and the account."""

    def describe_instances(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[InstanceInfo]:
        """Instances that exist (and that the caller may see); missing ids are absent."""
        ...

    def describe_statuses(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[InstanceStatus]:
        """What :meth:`describe_instances` finds, only the status and ``StartTime`` of
        each: the poll's look (the same calls; thousands of instances, read cheaply)."""
        ...

    def find_instances(
        self,
        region: str,
        *,
        tags: Sequence[tuple[str, str]],
        name: str | None,
        account: str = DEFAULT_ACCOUNT,
    ) -> FoundInstances:
        """Every instance in ``region`` carrying all ``tags`` and whose name matches
        ``name`` (``*`` wildcard; None: any name), paged by ``NextToken`` with
        ``MaxResults`` 100. The pages carry names, status, zone, tags and locks, so the
        instances need no second describe."""
        ...

    def dry_run_reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[DryRunBatch]:
        """DryRun with ``BatchOptimization=AllTogether``; one entry per API call."""
        ...

    def reboot(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        force: bool,
        account: str = DEFAULT_ACCOUNT,
        acting_user: str | None = None,
    ) -> list[RebootResult]:
        """ONE real call with ``BatchOptimization=SuccessFirst`` for at most
        ``MAX_IDS_PER_CALL`` ids (callers batch, so they can record the moment before
        each call is sent). Throttling is retried (the call was refused); after a timeout
        or 5xx the client does not repeat it: ``EcsOutcomeUnknown`` is raised instead and
        the caller decides."""
        ...

    def describe_agents(
        self, region: str, instance_ids: Sequence[str], *, account: str = DEFAULT_ACCOUNT
    ) -> list[AgentStatus]:
        """The Cloud Assistant agent of each instance (≤50 ids per call, batched here);
        instances ECS does not know are absent."""
        ...


# --- persistence -------------------------------------------------------------------------


class Keep(Enum):
    """The type of :data:`KEEP`."""

    KEEP = "keep"


# "Leave this field as it is" in an update; None is a value that may be written.
KEEP: Final = Keep.KEEP


def _changes(update: object) -> dict[str, Any]:
    return {
        f.name: value
        for f in dataclasses.fields(update)  # type: ignore[arg-type]
        if (value := getattr(update, f.name)) is not KEEP
    }


@dataclass(frozen=True)
class RequestUpdate:
    """Bookkeeping fields of a request to write; each left at :data:`KEEP` stays as it
    is. ``state`` moves only through ``transition``, the lease only through the
    :class:`LeaseStore` (and ``transition``'s ``lease``)."""

    confirmed_by: str | Keep | None = KEEP
    confirmed_at: datetime | Keep | None = KEEP
    cancelled_by: str | Keep | None = KEEP
    cancelled_at: datetime | Keep | None = KEEP
    finished_at: datetime | Keep | None = KEEP
    message_ts: str | Keep | None = KEEP
    notify_ts: str | Keep | None = KEEP
    permalink: str | Keep | None = KEEP
    progress_text: str | Keep | None = KEEP
    reported_at: datetime | Keep | None = KEEP
    next_poll_at: datetime | Keep | None = KEEP  # stored, but not part of a snapshot
    message_redraw_due: bool | Keep = KEEP
    notify_end_due: bool | Keep = KEEP
    pause_after_wave: int | Keep | None = KEEP
    stop_reason: StopReason | Keep | None = KEEP
    stopped_by: str | Keep | None = KEEP
    paused_by: str | Keep | None = KEEP
    approval_expires_at: datetime | Keep | None = KEEP
    rejected_by: str | Keep | None = KEEP
    rejected_at: datetime | Keep | None = KEEP
    scheduled_for: datetime | Keep | None = KEEP
    scheduled_at: datetime | Keep | None = KEEP
    reminded_at: datetime | Keep | None = KEEP
    window_reopens_at: datetime | Keep | None = KEEP

    def changes(self) -> dict[str, Any]:
        """The fields to write, by name."""
        return _changes(self)

    def applied_to(self, request: RebootRequest) -> RebootRequest:
        """``request`` as it reads after this update."""
        changes = self.changes()
        changes.pop("next_poll_at", None)
        return dataclasses.replace(request, **changes) if changes else request


@dataclass(frozen=True)
class InstanceUpdate:
    """Fields of one instance to write; each left at :data:`KEEP` stays as it is. The
    identity (request, region, instance id) and ``position`` never change; the rest of
    ``PlannedInstance``'s fields, in its order."""

    verdict: Verdict | Keep = KEEP
    name: str | Keep | None = KEEP
    status: str | Keep | None = KEEP
    zone: str | Keep | None = KEEP
    tags: Mapping[str, str] | Keep = KEEP
    verdict_code: str | Keep | None = KEEP
    verdict_message: str | Keep | None = KEEP
    outcome: InstanceOutcome | Keep = KEEP
    code: str | Keep | None = KEEP
    message: str | Keep | None = KEEP
    api_request_id: str | Keep | None = KEEP
    start_time_before: datetime | Keep | None = KEEP
    reboot_sent_at: datetime | Keep | None = KEEP
    reboot_acked_at: datetime | Keep | None = KEEP
    seen_leaving_running: bool | Keep = KEEP
    finished_at: datetime | Keep | None = KEEP
    reported_outcome: InstanceOutcome | Keep | None = KEEP
    wave: int | Keep = KEEP
    agent: AgentFinding | Keep | None = KEEP
    reboot_calls: int | Keep = KEEP
    reboot_resent_at: datetime | Keep | None = KEEP
    unsent_since: datetime | Keep | None = KEEP
    happened: Happened | Keep | None = KEEP

    def changes(self) -> dict[str, Any]:
        """The fields to write, by name."""
        return _changes(self)

    def applied_to(self, instance: PlannedInstance) -> PlannedInstance:
        """``instance`` as it reads after this update."""
        changes = self.changes()
        return dataclasses.replace(instance, **changes) if changes else instance


@dataclass(frozen=True)
class Lease:
    """A lease to take with a transition: who holds the request, and until when."""

    owner: str
    expires_at: datetime


class RequestStore(Protocol):
    """Reboot requests as domain snapshots. Never commits: the unit of work does."""

    def add(self, request: RebootRequest) -> None: ...

    def get(self, request_id: str) -> RebootRequest | None: ...

    def transition(
        self,
        request_id: str,
        from_states: RequestState | Collection[RequestState],
        to_state: RequestState,
        changes: RequestUpdate | None = None,
        *,
        lease: Lease | None = None,
        unstopped: bool = False,
    ) -> bool:
        """One conditional update (writing ``changes`` and taking ``lease`` with it);
        True only for the caller that moved the request. With ``unstopped``, only while
        no stop (``stop_reason``) is recorded, in the same statement: a request's end
        decided on a snapshot without a stop must not overwrite an Abort that came in
        meanwhile."""
        ...

    def set_fields(
        self,
        request_id: str,
        changes: RequestUpdate,
        *,
        owner: str | None = None,
        while_in: RequestState | None = None,
    ) -> bool:
        """Bookkeeping fields (message ts, progress…); with ``owner``, only while that
        owner still holds the lease; with ``while_in``, only while the request is in
        that state (checked in the same write)."""
        ...

    def save_instances(
        self, request_id: str, instances: Sequence[PlannedInstance], *, owner: str | None = None
    ) -> bool:
        """Write the mutable fields (outcome, code, message, timestamps…) of these
        instances, matched by region and id."""
        ...

    def skip_pending(self, request_id: str) -> None:
        """Every instance still ``pending`` ends ``skipped`` (never sent)."""
        ...

    def list_recent(
        self,
        limit: int,
        *,
        state: RequestState | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> list[RebootRequest]: ...

    def expire_due(self, now: datetime) -> list[str]:
        """Move every ``previewed`` request past its expiry, and every one
        ``awaiting_approval`` past its approval wait, to ``expired``."""
        ...

    def add_approval(self, request_id: str, user: str, at: datetime) -> bool | None:
        """Record ``user``'s approval of a request ``awaiting_approval``, first locking
        the request's row so that concurrent approvals of one request are counted one
        after the other. True when recorded, False when ``user`` had approved already,
        None when the request is not awaiting approval (nothing written)."""
        ...

    def claim_retry(self, request_id: str, retry_id: str) -> bool:
        """Record that ``retry_id`` retries this request, once: False when a retry was
        recorded before (one conditional update)."""
        ...

    def release_retry(self, request_id: str, retry_id: str) -> None:
        """Undo :meth:`claim_retry` when the retry could not be previewed."""
        ...

    def redraw_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> list[str]:
        """Finished requests whose message does not show their final state yet."""
        ...

    def notify_end_due(
        self, finished_before: datetime, finished_after: datetime, limit: int = 20
    ) -> list[str]:
        """Finished requests whose end the notify channel was not told yet."""
        ...


class LeaseStore(Protocol):
    """The leases workers hold on ``executing`` requests while they advance them."""

    def peek_due(self, owner: str, now: datetime, limit: int) -> list[str]:
        """Up to ``limit`` requests ``owner`` may claim now, leasing none: running
        (``executing``, ``paused``, ``scheduled``), due for a poll (``next_poll_at`` unset
        or past) and free (no lease, an expired one, or one ``owner`` holds); never-polled
        first, then the most overdue. Candidates for :meth:`claim`, which decides."""
        ...

    def claim(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Lease this request to ``owner`` for ``lease_seconds`` if it is still running,
        due and free (as :meth:`peek_due` says); False when not, or when another unit is
        writing its row right now (passed over, not waited for). Two owners never hold the
        same request."""
        ...

    def release(self, request_id: str, owner: str, *, next_poll_at: datetime | None = None) -> bool:
        """Give the lease back (and set the next poll time in the same statement)."""
        ...

    def renew_lease(self, request_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Extend ``owner``'s lease; False when it no longer holds it."""
        ...


class RoleStore(Protocol):
    def grant(self, binding: Binding, *, by: str, now: datetime) -> bool: ...

    def revoke(self, binding: Binding) -> bool: ...

    def bindings_with_groups(self, user_id: str) -> list[Binding]:
        """The bindings of ``user_id`` and of every user group (``S…``), in the order they
        were granted: one read for an authorization decision, which keeps the groups the
        user is a member of."""
        ...

    def list_all(self) -> list[Binding]: ...


class AuditLog(Protocol):
    def append(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        request_id: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> None: ...


class AlarmStore(Protocol):
    """CloudMonitor alarm cards (docs/PRODUCT.md §5.12)."""

    def first_delivery(self, trans_id: str, *, now: datetime) -> bool:
        """Record a callback's ``transId``; False when it was seen before."""
        ...

    def link_delivery(self, trans_id: str, card_id: str) -> None: ...

    def open_card(self, rule: str, instance_id: str) -> AlarmCard | None:
        """The open card of this rule and instance, if any."""
        ...

    def get(self, card_id: str) -> AlarmCard | None: ...

    def add(self, card: AlarmCard) -> bool:
        """Insert a new card; False when its rule and instance have an open card."""
        ...

    def save(self, card: AlarmCard) -> bool: ...

    def claim_post(self, card_id: str) -> bool:
        """Take the card's first posting; False when another drawing took it."""
        ...

    def release_post(self, card_id: str) -> None:
        """Give a failed first posting back, for the next drawing."""
        ...

    def set_shown(
        self,
        card_id: str,
        *,
        message_ts: str | None = None,
        instance_name: str | None = None,
        instance_status: str | None = None,
    ) -> None: ...


class UnitOfWork(Protocol):
    """One transaction; nothing is durable until ``commit``."""

    @property
    def requests(self) -> RequestStore: ...

    @property
    def leases(self) -> LeaseStore: ...

    @property
    def roles(self) -> RoleStore: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def alarms(self) -> AlarmStore: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes a unit of work. ``durable=False``: its commit need not survive a power cut
    (the database may skip waiting for the disk, docs/decisions/0017); only for units
    whose loss is harmless, such as a poller's lease hand-over."""

    def __call__(self, *, durable: bool = True) -> UnitOfWork: ...


Clock = Callable[[], datetime]


# --- chat -----------------------------------------------------------------------------


class Presenter(Protocol):
    """Tells people what happened. The use cases say *what* (a request, its results);
    the Slack adapter decides how it looks (``bot.slack.blocks``) and sends it."""

    def publish_request(
        self, request: RebootRequest, *, can_execute: bool, note: PreviewNote | None = None
    ) -> str | None:
        """Post the request message (the preview) in its channel; returns its ts."""
        ...

    def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a posted message (and so to its thread)."""
        ...

    def refresh_request(self, request: RebootRequest) -> bool:
        """Redraw the request message for its current state (buttons gone, progress).
        False when Slack did not take it; True also when there is no message to draw."""
        ...

    def reply_execution(self, request: RebootRequest) -> None:
        """First thread reply after confirm: each instance's API result."""
        ...

    def reply_progress(self, request: RebootRequest, changed: Sequence[PlannedInstance]) -> None:
        """One thread reply for every change of a poll (never one per instance)."""
        ...

    def reply_summary(self, request: RebootRequest) -> bool:
        """The final thread reply: outcome, durations, every failure in words. False
        when Slack did not take it (the caller tries again later)."""
        ...

    def notify_started(self, request: RebootRequest) -> str | None:
        """Tell the notify channel a reboot started; returns the message's ts."""
        ...

    def notify_finished(self, request: RebootRequest) -> bool:
        """Tell the notify channel how the reboot ended. False when Slack did not take
        it; True also when there is no notify channel."""
        ...

    def notify_rollout(self, request: RebootRequest, event: RolloutEvent) -> bool:
        """Tell the notify channel a rollout was paused, resumed or aborted. False when
        Slack did not take it."""
        ...

    def announce_schedule(self, request: RebootRequest, event: ScheduleEvent) -> bool:
        """A moment of a scheduled request (scheduled, reminder, expired, not started and
        why, its window closed or reopened): a reply in the request's thread, and the
        notify channel when there is one. False when Slack took neither."""
        ...

    def notify_awaiting_approval(
        self, request: RebootRequest, *, approver_group: str | None
    ) -> str | None:
        """Tell the notify channel a request waits for approvers, mentioning the
        ``approver_group`` (``S…``) when there is one; returns the message's ts."""
        ...

    def tell(self, channel: str, user: str, answer: Answer) -> None:
        """An ephemeral reply only ``user`` sees, in the adapter's words."""
        ...

    def post_alarm_card(self, card: AlarmCard) -> str | None:
        """Post a CloudMonitor alarm's card in its channel; returns its ts."""
        ...

    def refresh_alarm_card(self, card: AlarmCard) -> bool:
        """Redraw an alarm card as it stands now. False when Slack did not take it."""
        ...


class GroupDirectory(Protocol):
    def members(self, group_id: str) -> frozenset[str]:
        """Members of a Slack user group (cached briefly by the adapter)."""
        ...

"""A reboot request and its instances, as the use cases and the renderers see them.

Frozen snapshots: the database layer builds them, the use cases decide on them, and
the Block Kit builders draw them. The rules of the request's life (which state may
follow which, when it has expired, when an instance is back) live here as pure
functions that take ``now``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.model import (
    RETRYABLE_OUTCOMES,
    AgentFinding,
    Happened,
    InstanceOutcome,
    InstanceRef,
    RequestSource,
    RequestState,
    StopReason,
    Verdict,
)

# Which state may follow which (docs/PRODUCT.md §7). Everything else is refused.
TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    RequestState.PREVIEWED: frozenset(
        {
            RequestState.EXECUTING,
            RequestState.AWAITING_APPROVAL,
            RequestState.SCHEDULED,
            RequestState.CANCELLED,
            RequestState.EXPIRED,
        }
    ),
    RequestState.AWAITING_APPROVAL: frozenset(
        {
            RequestState.EXECUTING,
            RequestState.SCHEDULED,
            RequestState.REJECTED,
            RequestState.CANCELLED,
            RequestState.EXPIRED,
        }
    ),
    # Started at its time (the confirmer's permission and a fresh DryRun checked first);
    # cancelled by a click, a lost permission or nothing left to reboot; expired when
    # its start was missed by more than the grace (§5.10).
    RequestState.SCHEDULED: frozenset(
        {RequestState.EXECUTING, RequestState.CANCELLED, RequestState.EXPIRED}
    ),
    RequestState.EXECUTING: frozenset(
        {
            RequestState.SUCCEEDED,
            RequestState.PARTIALLY_FAILED,
            RequestState.FAILED,
            RequestState.PAUSED,
            RequestState.ABORTED,
        }
    ),
    # Resume; an abort of a paused rollout ends it at once when nothing is in flight,
    # and a paused wave in flight may still end the request (every instance back).
    RequestState.PAUSED: frozenset(
        {
            RequestState.EXECUTING,
            RequestState.ABORTED,
            RequestState.SUCCEEDED,
            RequestState.PARTIALLY_FAILED,
            RequestState.FAILED,
        }
    ),
}


def may_follow(current: RequestState, nxt: RequestState) -> bool:
    return nxt in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class PlannedInstance:
    """One instance of a request: what the preview found and how it ended."""

    ref: InstanceRef
    position: int
    verdict: Verdict
    name: str | None = None
    status: str | None = None
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    verdict_code: str | None = None
    verdict_message: str | None = None
    outcome: InstanceOutcome = InstanceOutcome.PENDING
    # The API code of the latest answer about it ("200" accepted, else ECS's code).
    code: str | None = None
    # The ECS adapter's sentence for ``code`` (with its RequestId), never the bot's own
    # words: those come from ``happened``. On rows recorded before ``happened`` existed,
    # the whole sentence as it was written then.
    message: str | None = None
    api_request_id: str | None = None
    start_time_before: datetime | None = None
    reboot_sent_at: datetime | None = None
    reboot_acked_at: datetime | None = None
    seen_leaving_running: bool = False
    finished_at: datetime | None = None
    reported_outcome: InstanceOutcome | None = None
    # The rollout wave this instance reboots in, 1-based (docs/PRODUCT.md §5.8).
    wave: int = 1
    # With ECSBOT_HEALTH_CHECK=cloud-assistant (§5.9): what the gate found of its agent.
    agent: AgentFinding | None = None
    # Real reboot calls recorded as sent (each written BEFORE its call): the second only
    # after a lost answer, further ones only once no earlier call can act
    # (bot.domain.lost_answer).
    reboot_calls: int = 0
    # When the latest call after the first was recorded (None: one call), moved to when
    # the client gave up on it once its answer was lost (ECS may have taken it in until
    # then). The completion rule still counts from ``reboot_sent_at`` (a restart after
    # the first call is this request's reboot); ECSBOT_REBOOT_TIMEOUT and the in-flight
    # bound count from the latest call, so a call sent late still gets the whole timeout.
    reboot_resent_at: datetime | None = None
    # When ECS first refused this instance's first call before it reached ECS (throttled,
    # or the connection refused, beyond the client's retries). Nothing was sent, so the
    # call is tried again each poll, until ECSBOT_REBOOT_TIMEOUT has passed since then.
    unsent_since: datetime | None = None
    # What happened to its reboot (None: nothing yet), rendered by ``bot.slack.outcomes``.
    happened: Happened | None = None

    @property
    def will_reboot(self) -> bool:
        return self.verdict is Verdict.WILL_REBOOT


@dataclass(frozen=True)
class Approval:
    """One approver's yes to a request awaiting approval (docs/PRODUCT.md §6.1)."""

    user: str
    at: datetime


@dataclass(frozen=True)
class RebootRequest:
    id: str
    state: RequestState
    force: bool
    requester: str
    channel: str
    created_at: datetime
    expires_at: datetime
    instances: tuple[PlannedInstance, ...]
    command_text: str = ""
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None
    finished_at: datetime | None = None
    message_ts: str | None = None
    notify_ts: str | None = None
    permalink: str | None = None  # link to the request message (and its thread)
    progress_text: str | None = None
    reported_at: datetime | None = None  # when the thread was last told of progress
    # The request reached a final state that its message does not show yet.
    message_redraw_due: bool = False
    # The request finished; the notify channel has not been told how yet.
    notify_end_due: bool = False
    # The rollout (docs/PRODUCT.md §5.8): waves planned, the first wave's size (None: all at
    # once), the later waves' size, the failures tolerated (None: all at once).
    rollout_waves: int = 1
    rollout_canary: int | None = None
    rollout_batch: int | None = None
    rollout_max_errors: int | None = None
    # Pause once this wave is over (1 with ``--pause-after-canary``); cleared by the pause.
    pause_after_wave: int | None = None
    # Why no further wave is sent; None while it goes on.
    stop_reason: StopReason | None = None
    stopped_by: str | None = None  # who clicked Abort
    paused_by: str | None = None  # who clicked Pause (None: paused after the canary)
    # Why the person asks (``--reason``), shown to approvers and kept in the history.
    reason: str | None = None
    # Approvals needed before it runs (0: no approval rule applied at the preview).
    approvals_needed: int = 0
    # When a request awaiting approval expires (its confirm plus ECSBOT_APPROVAL_TTL).
    approval_expires_at: datetime | None = None
    rejected_by: str | None = None
    rejected_at: datetime | None = None
    # The request whose failed instances this one retries, and the retry opened from
    # this one (at most one: a second Retry click opens nothing).
    retry_of: str | None = None
    retried_by_request: str | None = None
    # Stored in a table of their own; the repositories attach them.
    approvals: tuple[Approval, ...] = ()
    # The selectors as typed (``tag:app=web``); what they matched at preview is frozen
    # into ``instances``, never matched again.
    selectors: tuple[str, ...] = ()
    # A scheduled reboot (docs/PRODUCT.md §5.10): when it starts (UTC; None: at the confirm),
    # and the maintenance window its waves are sent in (None: any time).
    scheduled_for: datetime | None = None
    window: str | None = None
    # When it moved to ``scheduled``, and when its reminder was posted (once).
    scheduled_at: datetime | None = None
    reminded_at: datetime | None = None
    # A rollout paused because its window closed resumes by itself at this opening; a
    # person's Pause clears it (then only Resume goes on).
    window_reopens_at: datetime | None = None
    # What opened the request: a slash command, a Retry, an alarm card, …
    source: RequestSource = RequestSource.COMMAND
    # The thread the preview was posted in (from a message's shortcut), or None for a
    # message of its own whose thread then holds the replies.
    thread_ts: str | None = None

    @property
    def thread_root(self) -> str | None:
        """Where the request's replies go: the thread it was posted in, else its own."""
        return self.thread_ts or self.message_ts

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({i.ref.region for i in self.instances}))

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts its instances belong to (``default`` with one account, §5.13)."""
        return tuple(sorted({i.ref.account for i in self.instances}))

    @functools.cached_property
    def to_reboot(self) -> tuple[PlannedInstance, ...]:
        # Kept once worked out (the request is frozen): a confirm asks it four times
        # before its ack, of fifty instances each.
        return tuple(i for i in self.instances if i.will_reboot)

    def with_instances(self, updated: Iterable[PlannedInstance]) -> RebootRequest:
        """This request with ``updated`` in place of its instances of the same ref."""
        by_ref = {i.ref: i for i in updated}
        if not by_ref:
            return self
        return dataclasses.replace(
            self, instances=tuple(by_ref.get(i.ref, i) for i in self.instances)
        )

    def is_expired(self, now: datetime) -> bool:
        if self.state is RequestState.AWAITING_APPROVAL:
            return self.approval_expires_at is not None and now >= self.approval_expires_at
        return self.state is RequestState.PREVIEWED and now >= self.expires_at

    @property
    def retryable(self) -> tuple[PlannedInstance, ...]:
        """The instances a Retry would reboot again: sent, and not back (docs/PRODUCT.md §6.2)."""
        if not self.state.is_final:
            return ()
        return tuple(i for i in self.instances if i.outcome in RETRYABLE_OUTCOMES)

    def progress(self) -> tuple[int, int]:
        """(instances back, instances being rebooted) for the ``3/10 back`` line."""
        attempted = [
            i
            for i in self.instances
            if i.outcome is not InstanceOutcome.SKIPPED and i.outcome is not InstanceOutcome.ABORTED
        ]
        back = sum(1 for i in attempted if i.outcome is InstanceOutcome.SUCCEEDED)
        return back, len(attempted)


def expiry(created_at: datetime, ttl_seconds: int) -> datetime:
    return created_at + timedelta(seconds=ttl_seconds)

"""The vocabulary of the bot: states, outcomes, verdicts and roles (docs/PRODUCT.md §5–7).

Pure values only: no I/O, no framework. The string values are public interface
(``history --json``, the database, the acceptance suite): never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.accounts import DEFAULT_ACCOUNT


class RequestState(StrEnum):
    PREVIEWED = "previewed"
    # Confirmed by the requester; waits for approvers (docs/PRODUCT.md §6.1) before it runs.
    AWAITING_APPROVAL = "awaiting_approval"
    # Confirmed (and approved) to run later (docs/PRODUCT.md §5.10): the poller starts it at
    # ``scheduled_for``, or it ends ``expired`` when that moment passed long ago.
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    # An approver said no (docs/PRODUCT.md §6.1): final, nothing was rebooted.
    REJECTED = "rejected"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    # A rollout between waves, waiting for a person to resume it (docs/PRODUCT.md §5.8); the
    # wave in flight when it was paused is still watched.
    PAUSED = "paused"
    # A rollout stopped by ``--max-errors`` or an Abort click: final.
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self not in (
            RequestState.PREVIEWED,
            RequestState.AWAITING_APPROVAL,
            RequestState.SCHEDULED,
            RequestState.EXECUTING,
            RequestState.PAUSED,
        )

    @property
    def is_running(self) -> bool:
        """Executing or paused: a rollout that Pause, Resume and Abort act on."""
        return self in (RequestState.EXECUTING, RequestState.PAUSED)


class InstanceOutcome(StrEnum):
    PENDING = "pending"
    SKIPPED = "skipped"
    REBOOTING = "rebooting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    # Never sent a reboot: its rollout was stopped before its wave (docs/PRODUCT.md §5.8).
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self not in (InstanceOutcome.PENDING, InstanceOutcome.REBOOTING)


class StopReason(StrEnum):
    """Why a rollout sends no further wave (``stop_reason``, in ``history --json``)."""

    MAX_ERRORS = "max_errors"  # more instances failed than ``--max-errors`` tolerates
    ABORT = "abort"  # someone clicked Abort


class AgentFinding(StrEnum):
    """What the health gate (docs/PRODUCT.md §5.9) found of an instance's Cloud Assistant
    agent once it was Running again."""

    ONLINE = "online"  # reported online after the reboot call
    ABSENT = "absent"  # no agent: back on Running alone


class RolloutEvent(StrEnum):
    """What the notify channel is told of a rollout between its start and its end."""

    PAUSED = "paused"
    RESUMED = "resumed"
    ABORTED = "aborted"


class Happened(StrEnum):
    """What happened to one instance's reboot, as a value (with the API ``code`` beside it
    on the instance): the instance's outcome says where it stands, this says why.
    ``bot.slack.outcomes`` puts it into words; the core writes none. Stored
    (``reboot_instances.happened``); null on instances nothing happened to yet, and on
    rows recorded before this existed, whose ``message`` holds the words of the time.
    """

    # The first call's answer.
    ACCEPTED = "accepted"  # ECS accepted the reboot
    REFUSED = "refused"  # ECS refused it, or the whole call failed (``code``)
    NOT_IN_ANSWER = "not_in_answer"  # the answer did not mention the instance
    NOT_SENT = "not_sent"  # refused before it reached ECS (throttled): tried again
    NEVER_SENT = "never_sent"  # refused so until ECSBOT_REBOOT_TIMEOUT: nothing was sent
    # A lost answer (docs/decisions/0003): the instance is looked at.
    ANSWER_LOST = "answer_lost"  # a call's answer was lost: being resolved
    LOST_RESTARTED = "lost_restarted"  # it had restarted: a call rebooted it
    LOST_UNPROVEN = "lost_unproven"  # Running, StartTime cannot tell: watched
    LOST_UNLISTED = "lost_unlisted"  # ECS no longer lists it: watched
    LOST_NO_CALL_LEFT = "lost_no_call_left"  # no further call may go out now: watched
    RESENT_ACCEPTED = "resent_accepted"  # had not restarted: sent again, accepted
    RESENT_LOST = "resent_lost"  # sent again, and that answer was lost too: watched
    RESENT_REFUSED = "resent_refused"  # sent again, ECS refused it (``code``): watched
    # Sent again, refused as no longer Running: an earlier call had started it.
    RESENT_ALREADY_REBOOTING = "resent_already_rebooting"
    # Coming back (the completion rule, the health gate).
    BACK = "back"
    BACK_AGENT_ONLINE = "back_agent_online"
    BACK_NO_AGENT = "back_no_agent"  # no Cloud Assistant agent: judged on Running alone
    WAITING_FOR_AGENT = "waiting_for_agent"  # Running again, agent not online yet
    AGENT_SILENT = "agent_silent"  # Running again, agent not online within the timeout
    NOT_BACK = "not_back"  # not back within the timeout (``status``: last seen)
    NOT_BACK_UNLISTED = "not_back_unlisted"  # ... and no longer listed by ECS
    # ... while its account could not be reached (its role, §5.13; ``code``, ``message``)
    NOT_BACK_UNREACHABLE = "not_back_unreachable"
    # A rollout that stopped before this instance's wave.
    ROLLOUT_ABORTED = "rollout_aborted"
    ROLLOUT_MAX_ERRORS = "rollout_max_errors"

    @property
    def lost_answer(self) -> bool:
        """A lost answer and what became of it."""
        return self in _LOST

    @property
    def sent_again(self) -> bool:
        """The call went out again after a lost answer."""
        return self.value.startswith("resent_")


_LOST = frozenset(h for h in Happened if h.value.startswith(("answer_lost", "lost_", "resent_")))


# The outcomes a Retry button offers to try again (docs/PRODUCT.md §6.2). Read by value so that
# ``aborted`` (rolling reboots) counts as soon as the outcome exists.
RETRYABLE_OUTCOMES = frozenset(
    outcome for outcome in InstanceOutcome if outcome.value in {"failed", "timed_out", "aborted"}
)


class Verdict(StrEnum):
    """What the preview concluded for one instance."""

    WILL_REBOOT = "will_reboot"
    NOT_FOUND = "not_found"
    NOT_RUNNING = "not_running"
    DENIED = "denied"
    # DescribeInstances lists an operation lock (security, arrears, …): ECS would
    # refuse it, so it is left out of the DryRun; the message names the lock.
    LOCKED = "locked"
    # The DryRun refused the instance for another reason (security lock, arrears, …);
    # the instance's code and message say which.
    REFUSED = "refused"


class RequestSource(StrEnum):
    """Where a request came from (docs/PRODUCT.md §7 ``source``)."""

    COMMAND = "command"
    FORM = "form"
    MESSAGE = "message"
    EVENT = "event"
    ALARM = "alarm"
    RETRY = "retry"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def covers(self, needed: Role) -> bool:
        """True when this role grants everything ``needed`` grants."""
        return self.rank >= needed.rank


_ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True, order=True)
class InstanceRef:
    """One instance as the user named it: its region and id, and the account it belongs
    to (``default`` with one account, §5.13)."""

    region: str
    instance_id: str
    account: str = DEFAULT_ACCOUNT

    def __str__(self) -> str:
        where = f"{self.region}/{self.instance_id}"
        return where if self.account == DEFAULT_ACCOUNT else f"{self.account}:{where}"


def final_request_state(outcomes: list[InstanceOutcome], *, stopped: bool = False) -> RequestState:
    """The state of a finished request from its instances' outcomes (docs/PRODUCT.md §7).

    Only the instances a reboot was sent to count: a ``skipped`` one was never going
    to reboot, and the person confirmed knowing it. ``succeeded`` when every counted
    instance succeeded, ``failed`` when none did (or none was sent), and
    ``partially_failed`` otherwise. A rollout stopped (``stopped``: by ``--max-errors``
    or an Abort click) or with instances never sent (``aborted``) ends ``aborted``.
    """
    if stopped or InstanceOutcome.ABORTED in outcomes:
        return RequestState.ABORTED
    sent = [outcome for outcome in outcomes if outcome is not InstanceOutcome.SKIPPED]
    succeeded = sum(1 for outcome in sent if outcome is InstanceOutcome.SUCCEEDED)
    if sent and succeeded == len(sent):
        return RequestState.SUCCEEDED
    if succeeded == 0:
        return RequestState.FAILED
    return RequestState.PARTIALLY_FAILED

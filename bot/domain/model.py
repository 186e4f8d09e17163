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

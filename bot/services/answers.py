"""What the use cases tell a person, as values: the ``Presenter`` puts them into words.

A use case says *what* happened (a denial, a request that expired, a lookup that
failed); ``bot.slack.text`` says it in Slack's words, so the core builds no markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from bot.domain.accounts import AccountProblem
from bot.domain.approval import ApprovalNeed
from bot.domain.errors import BotError, EcsError, StoreUnavailable
from bot.domain.events import PlatformEvent
from bot.domain.model import InstanceRef
from bot.domain.policy import Denial
from bot.domain.request import RebootRequest
from bot.domain.schedule import WhenProblem


@dataclass(frozen=True)
class Denied:
    """The person may not do what they asked; ``denial`` says which permission is missing."""

    denial: Denial


@dataclass(frozen=True)
class LookupFailed:
    """DescribeInstances (or the dry run) failed in ``regions``: nothing was rebooted."""

    regions: tuple[str, ...]
    error: EcsError


@dataclass(frozen=True)
class Selection:
    """What the selectors of a command matched: ``selectors`` as typed, the matches
    per region searched (in the order asked, zeros included) and how many instances
    were named by id besides (not counting ids the selectors matched too)."""

    selectors: tuple[str, ...]
    per_region: tuple[tuple[str, int], ...]
    ids_given: int = 0
    # Accounts not searched because their role could not be assumed: (account, STS code).
    unreachable: tuple[tuple[str, str], ...] = ()

    @property
    def matched(self) -> int:
        return sum(count for _, count in self.per_region)


@dataclass(frozen=True)
class NoMatch:
    """The selectors matched no instance in any region searched: nothing was recorded."""

    selection: Selection
    contradictory: bool = False  # two values asked for one tag key


@dataclass(frozen=True)
class TooManyMatched:
    """The selectors (with the ids given) name more instances than one request may hold
    (``ECSBOT_MAX_INSTANCES``): nothing was recorded."""

    selection: Selection
    count: int
    limit: int


@dataclass(frozen=True)
class MatchCapped:
    """ECS listed only the first 1,000 matches of a tag filter in ``regions``: the
    selection is incomplete, so nothing was recorded."""

    selection: Selection
    regions: tuple[str, ...]
    limit: int


@dataclass(frozen=True)
class NoSuchRequest:
    """A click named a request that does not exist. ``request_id`` is as the click
    payload carried it (not to be trusted as markup)."""

    request_id: str


@dataclass(frozen=True)
class NoSuchCard:
    """A card's button named a card the bot does not hold (``card_id`` as the click
    carried it: not to be trusted as markup)."""

    card_id: str


@dataclass(frozen=True)
class OtherChannel:
    """The clicked button belongs to a request in another channel."""


@dataclass(frozen=True)
class RequestExpired:
    """The request's buttons ran out (after ``confirm_ttl`` seconds); nothing ran."""

    request_id: str
    confirm_ttl: int


@dataclass(frozen=True)
class AlreadyDecided:
    """Someone confirmed or cancelled the request first (or it is past deciding)."""

    request: RebootRequest


@dataclass(frozen=True)
class NotRunning:
    """Pause, Resume or Abort (``action``) on a request that cannot take it: not a
    running rollout, already paused, not paused, or already stopping."""

    request: RebootRequest
    action: str


@dataclass(frozen=True)
class NothingToReboot:
    """The confirmed request holds no instance that will reboot."""


@dataclass(frozen=True)
class ClickNotRecorded:
    """The database did not answer while a click was being decided: nothing was done."""

    error: StoreUnavailable


@dataclass(frozen=True)
class StartInterrupted:
    """The database stopped answering while a confirmed request's reboot was starting:
    the click was recorded, and the poller goes on once the database answers (the
    calls already counted are resolved, never blindly sent again)."""

    request: RebootRequest


@dataclass(frozen=True)
class JobFailed:
    """Slow work after an ack failed: ``error`` when the bot knows why, None when the
    failure was unexpected (the details are in the log)."""

    error: BotError | None = None


@dataclass(frozen=True)
class AlreadyApproved:
    """The approver had approved this request already: one approval per person."""

    request: RebootRequest


@dataclass(frozen=True)
class ApprovalRecorded:
    """The click was counted; ``request`` shows the approvals so far (the quorum not
    reached yet, or reached by this click)."""

    request: RebootRequest
    started: bool


@dataclass(frozen=True)
class NotAwaitingApproval:
    """Approve or Reject on a request that is not waiting for approvals (never was, or
    no longer: started, rejected, cancelled, expired)."""

    request: RebootRequest


@dataclass(frozen=True)
class NothingToRetry:
    """Retry on a request that is not finished, or that has no failed, timed-out or
    aborted instance."""

    request: RebootRequest


@dataclass(frozen=True)
class AlreadyRetried:
    """Retry was clicked before on this request; ``retry_id`` is the request it opened."""

    request_id: str
    retry_id: str


@dataclass(frozen=True)
class CannotSchedule:
    """The WHEN of a command cannot be used now (too soon, too far, an unknown window):
    ``problem`` says what, in the words of ``bot.domain.schedule``."""

    problem: WhenProblem


@dataclass(frozen=True)
class CardEventsEnded:
    """A **Reboot now** on a card whose events have all ended (or are executing)."""

    card_id: str


Answer: TypeAlias = (
    Denied
    | CannotSchedule
    | AccountProblem
    | LookupFailed
    | NoMatch
    | TooManyMatched
    | MatchCapped
    | NoSuchRequest
    | NoSuchCard
    | OtherChannel
    | RequestExpired
    | AlreadyDecided
    | NotRunning
    | NothingToReboot
    | ClickNotRecorded
    | StartInterrupted
    | JobFailed
    | AlreadyApproved
    | ApprovalRecorded
    | NotAwaitingApproval
    | NothingToRetry
    | AlreadyRetried
    | CardEventsEnded
)
"""Everything ``Presenter.tell`` may be asked to say to one person."""


@dataclass(frozen=True)
class PreviewNote:
    """What the preview adds below the instances: the repeats that were dropped, and
    the denial when the requester (``user``) may view but not reboot."""

    user: str
    duplicates: tuple[InstanceRef, ...] = ()
    view_only: Denial | None = None
    # The request this preview retries (its failed instances only), if any.
    retry_of: str | None = None
    # Which approval rules apply (the count is the request's ``approvals_needed``).
    approval: ApprovalNeed | None = None
    selection: Selection | None = None
    # Pending platform reboot events of instances this preview reboots (§5.11): the
    # reboot avoids them.
    avoids: tuple[PlatformEvent, ...] = ()

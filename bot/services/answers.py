"""What the use cases tell a person, as values: the ``Presenter`` puts them into words.

A use case says *what* happened (a denial, a request that expired, a lookup that
failed); ``bot.slack.text`` says it in Slack's words, so the core builds no markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from bot.domain.errors import BotError, EcsError, StoreUnavailable
from bot.domain.model import InstanceRef
from bot.domain.policy import Denial
from bot.domain.request import RebootRequest


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
class NoSuchRequest:
    """A click named a request that does not exist. ``request_id`` is as the click
    payload carried it (not to be trusted as markup)."""

    request_id: str


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
class JobFailed:
    """Slow work after an ack failed: ``error`` when the bot knows why, None when the
    failure was unexpected (the details are in the log)."""

    error: BotError | None = None


Answer: TypeAlias = (
    Denied
    | LookupFailed
    | NoSuchRequest
    | OtherChannel
    | RequestExpired
    | AlreadyDecided
    | NotRunning
    | NothingToReboot
    | ClickNotRecorded
    | JobFailed
)
"""Everything ``Presenter.tell`` may be asked to say to one person."""


@dataclass(frozen=True)
class PreviewNote:
    """What the preview adds below the instances: the repeats that were dropped, and
    the denial when the requester (``user``) may view but not reboot."""

    user: str
    duplicates: tuple[InstanceRef, ...] = ()
    view_only: Denial | None = None

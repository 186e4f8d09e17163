"""What a person asked for, as values: the commands ``/ecs-reboot`` text is read into
(docs/PRODUCT.md §4) and the use cases take as their input.

Pure, frozen values; ``bot.domain.parser`` builds them from text, the services act on
them (a ``RebootCommand`` is what the preview is asked to preview).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from bot.domain.model import InstanceRef, Role
from bot.domain.rollout import RolloutFlags
from bot.domain.schedule import When
from bot.domain.selectors import Selector


@dataclass(frozen=True)
class HelpCommand:
    """``help``, ``-h``, ``--help`` or an empty command."""


@dataclass(frozen=True)
class StatusCommand:
    request_id: str


@dataclass(frozen=True)
class RolesCommand:
    """List the role bindings."""


@dataclass(frozen=True)
class ScheduledCommand:
    """List the scheduled reboots and the maintenance windows (docs/PRODUCT.md §5.10)."""


@dataclass(frozen=True)
class RoleBindingCommand:
    """A change to one binding (docs/PRODUCT.md §6). ``subject`` is a bare Slack id (``U…``,
    ``W…`` or ``S…``); ``region`` and the tag are None when the binding is unscoped."""

    subject: str
    role: Role
    region: str | None = None
    tag_key: str | None = None
    tag_value: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class GrantCommand(RoleBindingCommand):
    pass


@dataclass(frozen=True)
class RevokeCommand(RoleBindingCommand):
    pass


@dataclass(frozen=True)
class RebootCommand:
    """Reboot ``instances`` (each with its region resolved), plus whatever ``selectors``
    match in ``search_regions``. ``region`` is the ``--region`` given when it names one
    region (None without one or with a list); ``regions`` the whole ``--region`` list;
    ``duplicates`` are the dropped repeats. ``search_regions`` is empty without
    selectors, else the ``--region`` list or the default region.

    A new reboot flag becomes a field here (docs/ARCHITECTURE.md, "Adding a flag")."""

    instances: tuple[InstanceRef, ...]
    force: bool = False
    region: str | None = None
    duplicates: tuple[InstanceRef, ...] = ()
    rollout: RolloutFlags = field(default_factory=RolloutFlags)
    reason: str | None = None  # ``--reason``, without its quotes
    selectors: tuple[Selector, ...] = ()
    regions: tuple[str, ...] = ()
    search_regions: tuple[str, ...] = ()
    # The accounts named (``--account NAME[,NAME…]``, §5.13). Empty:
    # ECSBOT_DEFAULT_ACCOUNT, or the one account there is. The ids
    # belong to the one account this settles on; selectors search every account × region.
    accounts: tuple[str, ...] = ()
    # ``--at``, ``--in`` or ``--window`` (§5.10) as read, not yet on the clock (the
    # preview places it: ``bot.domain.schedule.resolve_when``). None: run at the confirm.
    when: When | None = None

    @property
    def all_regions(self) -> tuple[str, ...]:
        """Every region the command may touch, before anything is looked up: the ids'
        regions and, with selectors, the regions they search."""
        named = [ref.region for ref in self.instances]
        return tuple(sorted({*named, *(self.search_regions if self.selectors else ())}))


@dataclass(frozen=True)
class CommandError:
    """The text could not be read: every problem, each a sentence quoting its token."""

    problems: tuple[str, ...]


Command: TypeAlias = (
    HelpCommand
    | StatusCommand
    | RolesCommand
    | ScheduledCommand
    | GrantCommand
    | RevokeCommand
    | RebootCommand
    | CommandError
)

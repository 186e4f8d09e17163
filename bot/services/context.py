"""What every use case needs, wired once by ``bot.bootstrap``."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.approval import ApprovalRules
from bot.domain.events import PlatformEvent
from bot.domain.model import InstanceRef
from bot.domain.policy import Binding, Principal
from bot.domain.request import RebootRequest
from bot.domain.rollout import RolloutDefaults
from bot.domain.schedule import ScheduleLimits, ScheduleTimes
from bot.domain.windows import Window
from bot.services.ports import (
    Clock,
    EcsGateway,
    GroupDirectory,
    Presenter,
    UnitOfWork,
    UnitOfWorkFactory,
)


@dataclass(frozen=True)
class FlowConfig:
    """The settings the flow obeys, as plain values (see ``bot.settings``)."""

    confirm_ttl: int = 300
    reboot_timeout: int = 600
    # ECSBOT_INFLIGHT_BOUND: a lost call can no longer act this long after it was sent.
    inflight_bound: float = 60.0
    poll_interval: float = 2.0
    max_instances: int = 500
    default_region: str | None = None
    admins: Sequence[str] = ()
    allowed_channels: Sequence[str] = ()
    notify_channel: str | None = None
    # ECSBOT_ROLLING_ABOVE, ECSBOT_BATCH, ECSBOT_CANARY, ECSBOT_MAX_ERRORS (§5.8).
    rollout: RolloutDefaults = field(default_factory=RolloutDefaults)
    # ECSBOT_HEALTH_CHECK=cloud-assistant: back also means the agent online again (§5.9).
    health_check_agent: bool = False
    require_reason: bool = False
    approval_rules: ApprovalRules = field(default_factory=ApprovalRules)
    approval_ttl: int = 1800
    approver_group: str | None = None
    # Scheduled reboots (§5.10): ECSBOT_TIMEZONE, the lead limits, the reminder and the
    # grace, and ECSBOT_WINDOWS by name.
    timezone: str = "UTC"
    schedule_limits: ScheduleLimits = field(default_factory=ScheduleLimits)
    schedule_times: ScheduleTimes = field(default_factory=ScheduleTimes)
    windows: Mapping[str, Window] = field(default_factory=dict)
    # ECSBOT_ACCOUNTS' names (or "default") and ECSBOT_DEFAULT_ACCOUNT (§5.13).
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    default_account: str | None = None
    # name → role ARN of ECSBOT_ACCOUNTS (empty for one account): an alarm's owner uid
    # names its account by it.
    account_roles: Mapping[str, str] = field(default_factory=dict)


class OwedReleases:
    """Leases this process could not give back because the database did not answer.

    A step cut short by the database going away cannot release its lease either; left
    alone, the request would wait out the whole lease (30 s) after the database is back
    before any worker, this process's own included, could claim it. The worker owes the
    release instead, and the next poller tick gives it back, due at once, before it
    claims anything (``bot.services.lease.settle_owed``), so rollouts go on as soon as
    the database does. Nothing of this process still works on an owed request: the
    step that held it is over.
    """

    def __init__(self) -> None:
        self._owed: dict[str, str] = {}  # request id -> lease owner
        self._lock = threading.Lock()

    def owe(self, request_id: str, owner: str) -> None:
        with self._lock:
            self._owed[request_id] = owner

    def owed(self) -> dict[str, str]:
        with self._lock:
            return dict(self._owed)

    def paid(self, request_id: str, owner: str) -> None:
        with self._lock:
            if self._owed.get(request_id) == owner:
                del self._owed[request_id]


class PreviewedRequests:
    """The requests this process previewed, as recorded, until a click decides them:
    what a confirm click checks before its ack without reading the request's instance
    rows back (docs/decisions/0010).

    Only what a preview fixes is read from here (requester, channel, expiry, mode, the
    instances and their verdicts, the approval and schedule rules); whether the request
    is still ``previewed`` is decided by the conditional update, as on any click, and
    everything drawn after the ack is read from the database. A request another process
    previewed, or one this process forgot (a restart, more than :data:`MOST` at once),
    is read from the database as before.
    """

    MOST = 1000

    def __init__(self) -> None:
        self._requests: dict[str, RebootRequest] = {}
        self._lock = threading.Lock()

    def remember(self, request: RebootRequest) -> None:
        with self._lock:
            # Previews whose buttons expired before this one was made are no use to a
            # click: drop them, so unclicked 500-instance previews do not pile up.
            for stale in [
                r.id for r in self._requests.values() if r.expires_at <= request.created_at
            ]:
                del self._requests[stale]
            self._requests[request.id] = request
            while len(self._requests) > self.MOST:
                del self._requests[next(iter(self._requests))]  # the oldest

    def get(self, request_id: str) -> RebootRequest | None:
        with self._lock:
            return self._requests.get(request_id)

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._requests.pop(request_id, None)


def new_request_id() -> str:
    """Short enough to type in ``/ecs-reboot status``, random enough not to guess."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class Context:
    uow: UnitOfWorkFactory
    ecs: EcsGateway
    presenter: Presenter
    groups: GroupDirectory
    clock: Clock
    config: FlowConfig = field(default_factory=FlowConfig)
    new_id: Callable[[], str] = new_request_id
    # With the platform event watch (§5.11): the pending reboot events of instances, so
    # a preview can say that its reboot avoids them. None: the watch is off.
    pending_events: Callable[[Sequence[InstanceRef]], Sequence[PlatformEvent]] | None = None
    # Who holds leases on requests: unique per process, so replicas tell theirs apart.
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    )
    # Shared by this process's workers: leases the database was away to take back.
    owed_releases: OwedReleases = field(default_factory=OwedReleases)
    # The previews this process recorded, for the checks of a confirm before its ack.
    previewed: PreviewedRequests = field(default_factory=PreviewedRequests)

    def principal(self, uow: UnitOfWork, user_id: str) -> Principal:
        """The person with every binding that applies to them now (docs/PRODUCT.md §5.2: read from
        the database at each decision; only group membership is cached, by the adapter)."""
        member: dict[str, bool] = {}

        def holds(binding: Binding) -> bool:
            subject = binding.subject
            if subject == user_id:
                return True
            if subject not in member:  # a user group: asked once per decision
                member[subject] = user_id in self.groups.members(subject)
            return member[subject]

        # One statement (before the ack of every command and click): the user's
        # bindings and every group's, of which those of the user's groups are kept.
        candidates = uow.roles.bindings_with_groups(user_id)
        return Principal(
            user_id=user_id,
            bindings=tuple(binding for binding in candidates if holds(binding)),
            bootstrap_admin=user_id in self.config.admins,
        )

"""What every use case needs, wired once by ``bot.bootstrap``."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.domain.approval import ApprovalRules
from bot.domain.policy import Principal
from bot.domain.rollout import RolloutDefaults
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
    # Who holds leases on requests: unique per process, so replicas tell theirs apart.
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    )

    def principal(self, uow: UnitOfWork, user_id: str) -> Principal:
        """The person with every binding that applies to them now (docs/PRODUCT.md §5.2: read from
        the database at each decision; only group membership is cached, by the adapter)."""
        subjects = [user_id]
        for group in uow.roles.group_subjects():
            if user_id in self.groups.members(group):
                subjects.append(group)
        return Principal(
            user_id=user_id,
            bindings=tuple(uow.roles.bindings_for(subjects)),
            bootstrap_admin=user_id in self.config.admins,
        )

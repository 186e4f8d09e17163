"""Granting, revoking and listing roles (docs/PRODUCT.md §6), from Slack or the command line.

Both surfaces come here, so both are authorized the same way (Slack) or trusted as
the operator of the host (command line, ``actor`` ``cli:<user>``), and both audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.domain.accounts import AccountProblem
from bot.domain.policy import Binding, check_manage_roles
from bot.services.answers import Denied
from bot.services.context import Context
from bot.services.ports import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class RoleChange:
    """The answer to a grant or revoke: which, of what binding, and whether anything
    changed (granting what exists, or revoking what does not, changes nothing)."""

    kind: Literal["grant", "revoke"]
    binding: Binding
    changed: bool


@dataclass(frozen=True)
class RolesView:
    """The answer to ``/ecs-reboot roles``: the caller's own roles, and every binding
    when the caller may manage roles (None otherwise)."""

    bootstrap_admin: bool
    own: tuple[Binding, ...]
    everyone: tuple[Binding, ...] | None = None


def grant(
    uow_factory: UnitOfWorkFactory, binding: Binding, *, actor: str, now: datetime
) -> RoleChange:
    """Record a binding (already authorized by the caller) and audit it."""
    with uow_factory() as uow:
        created = uow.roles.grant(binding, by=actor, now=now)
        if created:
            _audit(uow, "grant", binding, actor=actor, now=now)
        uow.commit()
    return RoleChange("grant", binding, changed=created)


def revoke(
    uow_factory: UnitOfWorkFactory, binding: Binding, *, actor: str, now: datetime
) -> RoleChange:
    with uow_factory() as uow:
        removed = uow.roles.revoke(binding)
        if removed:
            _audit(uow, "revoke", binding, actor=actor, now=now)
        uow.commit()
    return RoleChange("revoke", binding, changed=removed)


def _audit(uow: UnitOfWork, action: str, binding: Binding, *, actor: str, now: datetime) -> None:
    uow.audit.append(
        at=now,
        actor=actor,
        action=action,
        detail={
            "subject": binding.subject,
            "role": binding.role.value,
            "region": binding.region,
            "tag": f"{binding.tag_key}={binding.tag_value}" if binding.tag_key else "",
            "account": binding.account,
        },
    )


def change_from_slack(
    ctx: Context, *, user: str, binding: Binding, revoke_it: bool
) -> RoleChange | Denied | AccountProblem:
    """``/ecs-reboot grant|revoke``: only an unscoped admin may change roles; a grant
    names a configured account (a revoke may clean up after one was removed)."""
    with ctx.uow() as uow:
        principal = ctx.principal(uow, user)
    decision = check_manage_roles(principal)
    if decision.denial is not None:
        return Denied(decision.denial)
    known = ctx.config.accounts
    if binding.account and not revoke_it and binding.account not in known:
        return AccountProblem(known, (binding.account,))
    if revoke_it:
        return revoke(ctx.uow, binding, actor=user, now=ctx.clock())
    return grant(ctx.uow, binding, actor=user, now=ctx.clock())


def list_bindings(uow_factory: UnitOfWorkFactory) -> list[Binding]:
    with uow_factory() as uow:
        return sorted(uow.roles.list_all(), key=binding_order)


def binding_order(binding: Binding) -> tuple[str, int, str, str, str, str]:
    """How bindings are listed: by subject, the strongest role first, then scope."""
    return (
        binding.subject,
        -binding.role.rank,
        binding.account,
        binding.region,
        binding.tag_key,
        binding.tag_value,
    )


def roles_view(ctx: Context, user: str) -> RolesView:
    """``/ecs-reboot roles``: the caller's own roles, and every binding for admins."""
    with ctx.uow() as uow:
        principal = ctx.principal(uow, user)
    everyone = None
    if check_manage_roles(principal).allowed:
        everyone = tuple(list_bindings(ctx.uow))
    return RolesView(principal.bootstrap_admin, tuple(principal.bindings), everyone)

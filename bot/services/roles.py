"""Granting, revoking and listing roles (DESIGN §6), from Slack or the command line.

Both surfaces come here, so both are authorized the same way (Slack) or trusted as
the operator of the host (command line, ``actor`` ``cli:<user>``), and both audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.policy import Binding, check_manage_roles
from bot.services.context import Context
from bot.services.ports import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class RoleChange:
    """The answer to a grant or revoke: whether anything changed, in words."""

    changed: bool
    text: str


def describe_binding(binding: Binding) -> str:
    subject = (
        f"<!subteam^{binding.subject}>"
        if binding.subject.startswith("S")
        else f"<@{binding.subject}>"
    )
    return f"{subject}: {binding.describe()}"


def grant(
    uow_factory: UnitOfWorkFactory, binding: Binding, *, actor: str, now: datetime
) -> RoleChange:
    """Record a binding (already authorized by the caller) and audit it."""
    with uow_factory() as uow:
        created = uow.roles.grant(binding, by=actor, now=now)
        if created:
            _audit(uow, "grant", binding, actor=actor, now=now)
        uow.commit()
    if created:
        return RoleChange(True, f"Granted {describe_binding(binding)}.")
    return RoleChange(False, f"{describe_binding(binding)} was already granted; nothing changed.")


def revoke(
    uow_factory: UnitOfWorkFactory, binding: Binding, *, actor: str, now: datetime
) -> RoleChange:
    with uow_factory() as uow:
        removed = uow.roles.revoke(binding)
        if removed:
            _audit(uow, "revoke", binding, actor=actor, now=now)
        uow.commit()
    if removed:
        return RoleChange(True, f"Revoked {describe_binding(binding)}.")
    return RoleChange(False, f"There was no binding {describe_binding(binding)}; nothing changed.")


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
        },
    )


def change_from_slack(ctx: Context, *, user: str, binding: Binding, revoke_it: bool) -> RoleChange:
    """``/ecs-reboot grant|revoke``: only an unscoped admin may change roles."""
    with ctx.uow() as uow:
        principal = ctx.principal(uow, user)
    decision = check_manage_roles(principal)
    if not decision.allowed:
        return RoleChange(False, f":no_entry: {decision.reason}")
    if revoke_it:
        return revoke(ctx.uow, binding, actor=user, now=ctx.clock())
    return grant(ctx.uow, binding, actor=user, now=ctx.clock())


def list_bindings(uow_factory: UnitOfWorkFactory) -> list[Binding]:
    with uow_factory() as uow:
        return sorted(
            uow.roles.list_all(),
            key=lambda b: (b.subject, -b.role.rank, b.region, b.tag_key, b.tag_value),
        )


def roles_text(ctx: Context, user: str) -> str:
    """``/ecs-reboot roles``: the caller's own roles, and every binding for admins."""
    with ctx.uow() as uow:
        principal = ctx.principal(uow, user)
    lines = []
    if principal.bootstrap_admin:
        lines.append("You are an admin everywhere (ECSBOT_ADMINS).")
    own = [b.describe() for b in principal.bindings]
    if own:
        lines.append("Your roles: " + "; ".join(own) + ".")
    elif not principal.bootstrap_admin:
        lines.append("You have no role yet: ask an admin to `/ecs-reboot grant @you operator`.")
    if check_manage_roles(principal).allowed:
        everyone = list_bindings(ctx.uow)
        lines.append(f"*All bindings* ({len(everyone)}):")
        lines.extend(f"• {describe_binding(b)}" for b in everyone)
    lines.append(
        "Roles: viewer (help, status, see previews) < operator (+ confirm normal reboots) "
        "< admin (+ force reboots, confirm anyone's request, grant and revoke)."
    )
    return "\n".join(lines)

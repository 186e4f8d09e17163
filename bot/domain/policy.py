"""Authorization: who may do what, on which instances (docs/PRODUCT.md §5.2, §6).

Deny by default. Pure: the caller hands in the bindings that apply to the person
(their own and their user groups'), the instances with their regions and tags, and
whether the person is a bootstrap admin (``ECSBOT_ADMINS``). Every denial carries a
``Denial`` value that says which permission is missing; ``bot.slack.text`` puts it
into words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.model import InstanceRef, Role


@dataclass(frozen=True)
class Binding:
    """A role granted to a subject, optionally only in an account, a region and/or for
    a tag (§6)."""

    subject: str
    role: Role
    region: str = ""  # "" = every region
    tag_key: str = ""  # "" = every instance, whatever its tags
    tag_value: str = ""
    account: str = ""  # "" = every account (§5.13)

    def covers(
        self, region: str, tags: Mapping[str, str] | None, account: str = DEFAULT_ACCOUNT
    ) -> bool:
        """True when this binding applies to an instance of ``account`` in ``region``
        with ``tags``; the account counts like the region.

        ``tags`` is None when they are not known yet (before DescribeInstances): a
        tag-scoped binding may then apply, and the decision is made again with the tags.
        """
        if self.account and self.account != account:
            return False
        if self.region and self.region != region:
            return False
        if not self.tag_key or tags is None:
            return True
        return tags.get(self.tag_key) == self.tag_value

    @property
    def scoped(self) -> bool:
        return bool(self.account or self.region or self.tag_key)

    def describe(self) -> str:
        """How people read it: ``operator in account prod in cn-hangzhou for env=prod``."""
        text = self.role.value
        if self.account:
            text += f" in account {self.account}"
        if self.region:
            text += f" in {self.region}"
        if self.tag_key:
            text += f" for {self.tag_key}={self.tag_value}"
        return text


class Target(NamedTuple):
    """An instance a decision is about. A tuple rather than a frozen dataclass: a click
    makes one per instance of its request before the ack, at a third of the cost."""

    region: str
    instance_id: str
    tags: Mapping[str, str] | None = None
    account: str = DEFAULT_ACCOUNT

    @classmethod
    def at(cls, ref: InstanceRef, tags: Mapping[str, str] | None = None) -> Target:
        """The instance ``ref`` names, in its account (a role scoped to an account is
        checked there)."""
        return cls(ref.region, ref.instance_id, tags, ref.account)


@dataclass(frozen=True)
class Principal:
    """The person asking, with every binding that applies to them."""

    user_id: str
    bindings: tuple[Binding, ...] = ()
    bootstrap_admin: bool = False

    def role_for(self, target: Target) -> Role | None:
        """The strongest role this person holds on ``target``, or None."""
        if self.bootstrap_admin:
            return Role.ADMIN
        roles = [
            b.role for b in self.bindings if b.covers(target.region, target.tags, target.account)
        ]
        return max(roles, key=lambda role: role.rank, default=None)

    @property
    def global_role(self) -> Role | None:
        """The strongest role held without any region or tag scope."""
        if self.bootstrap_admin:
            return Role.ADMIN
        roles = [b.role for b in self.bindings if not b.scoped]
        return max(roles, key=lambda role: role.rank, default=None)

    @property
    def has_any_role(self) -> bool:
        return self.bootstrap_admin or bool(self.bindings)

    @property
    def looks_at_tags(self) -> bool:
        """Whether an instance's tags can change what this person holds on it: only
        a tag-scoped binding reads them."""
        return not self.bootstrap_admin and any(b.tag_key for b in self.bindings)


# ── denials: which permission is missing ─────────────────────────────────────────


@dataclass(frozen=True)
class NoRole:
    """The person holds no role at all; ``needed`` is the role the action takes."""

    needed: Role


@dataclass(frozen=True)
class RoleMissing:
    """The person lacks ``needed`` on ``uncovered`` (in the order the targets came)."""

    needed: Role
    uncovered: tuple[Target, ...]


@dataclass(frozen=True)
class ChannelNotAllowed:
    """The bot may not act in this channel; ``allowed_channels`` are where it may."""

    allowed_channels: tuple[str, ...]


@dataclass(frozen=True)
class UnscopedAdminNeeded:
    """Granting and revoking need an admin binding with no region or tag scope."""


@dataclass(frozen=True)
class RequesterOrAdminOnly:
    """Only ``requester`` (who asked) or an admin on every target may do this."""

    requester: str


@dataclass(frozen=True)
class OwnRequest:
    """The requester may not approve their own request (four eyes, docs/PRODUCT.md §6.1)."""


Denial: TypeAlias = (
    NoRole
    | RoleMissing
    | ChannelNotAllowed
    | UnscopedAdminNeeded
    | RequesterOrAdminOnly
    | OwnRequest
)


@dataclass(frozen=True)
class Decision:
    """Allowed, or the ``denial`` that says why not."""

    denial: Denial | None = None
    # The instances the person lacks the role for (empty when allowed).
    uncovered: tuple[Target, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        return self.denial is None

    @classmethod
    def allow(cls) -> Decision:
        return cls()

    @classmethod
    def deny(cls, denial: Denial, uncovered: Iterable[Target] = ()) -> Decision:
        return cls(denial=denial, uncovered=tuple(uncovered))


def role_needed_to_reboot(*, force: bool) -> Role:
    """Force reboots (power cycles that can lose data) need the stronger role."""
    return Role.ADMIN if force else Role.OPERATOR


def check_channel(channel_id: str, allowed_channels: Sequence[str]) -> Decision:
    """``ECSBOT_ALLOWED_CHANNELS`` empty means every channel."""
    if not allowed_channels or channel_id in allowed_channels:
        return Decision.allow()
    return Decision.deny(ChannelNotAllowed(tuple(allowed_channels)))


def check_role(principal: Principal, needed: Role, targets: Sequence[Target]) -> Decision:
    """Every target must be covered by a binding of at least ``needed``."""
    if not principal.has_any_role:
        return Decision.deny(NoRole(needed), uncovered=targets)
    # Decided once per account, region and tags: a command's fifty ids in one region are one
    # question (this runs before the ack). Tags count only for a person with a tag-scoped
    # binding; for anyone else a click's fifty differently tagged instances are one too.
    covered: dict[tuple[str, str, tuple[tuple[str, str], ...] | None], bool] = {}
    uncovered = []
    by_tags = principal.looks_at_tags
    for target in targets:
        tags = None if target.tags is None or not by_tags else tuple(sorted(target.tags.items()))
        key = (target.account, target.region, tags)
        verdict = covered.get(key)
        if verdict is None:
            verdict = covered[key] = _covers(principal.role_for(target), needed)
        if not verdict:
            uncovered.append(target)
    if not uncovered:
        return Decision.allow()
    return Decision.deny(RoleMissing(needed, tuple(uncovered)), uncovered=uncovered)


def check_manage_roles(principal: Principal) -> Decision:
    """Granting and revoking need an admin binding without region or tag scope, so a
    scoped admin cannot widen anyone's reach beyond their own."""
    if _covers(principal.global_role, Role.ADMIN):
        return Decision.allow()
    return Decision.deny(UnscopedAdminNeeded())


def check_may_act_on(
    principal: Principal, *, requester: str, needed: Role, targets: Sequence[Target]
) -> Decision:
    """Confirming or cancelling: the requester, or an admin on every target; in both
    cases the role the reboot needs is checked again, now."""
    if principal.user_id != requester:
        admin = check_role(principal, Role.ADMIN, targets)
        if not admin.allowed:
            return Decision.deny(RequesterOrAdminOnly(requester), uncovered=admin.uncovered)
    return check_role(principal, needed, targets)


def check_may_approve(
    principal: Principal, *, requester: str, needed: Role, targets: Sequence[Target]
) -> Decision:
    """Approving: anyone but the requester who could confirm the request themselves,
    that is who holds ``needed`` (the role the reboot needs) on every target, now."""
    if principal.user_id == requester:
        return Decision.deny(OwnRequest())
    return check_role(principal, needed, targets)


def _covers(held: Role | None, needed: Role) -> bool:
    return held is not None and held.covers(needed)

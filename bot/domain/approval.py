"""Which requests need four-eyes approval, and from how many people (docs/PRODUCT.md §6.1).

Pure: the rules (``ECSBOT_APPROVALS*`` as plain values) and a request's instances in,
the need out. The preview records the need with the request, so the confirm applies
exactly what the preview said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class ApprovalTrigger(StrEnum):
    """Why a request needs approval: one entry per rule that applied."""

    FORCE = "force"
    SIZE = "size"
    TAG = "tag"
    ACCOUNT = "account"


@dataclass(frozen=True)
class ApprovalRules:
    """``ECSBOT_APPROVALS`` (quorum), ``ECSBOT_APPROVALS_FOR_FORCE``,
    ``ECSBOT_APPROVALS_ABOVE`` (0 = never), ``ECSBOT_APPROVALS_FOR_TAGS`` and
    ``ECSBOT_APPROVALS_FOR_ACCOUNTS`` (§5.13)."""

    quorum: int = 1
    for_force: bool = False
    above: int = 0
    for_tags: tuple[tuple[str, str], ...] = ()
    for_accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalNeed:
    """How many approvers a request needs (0: none) and which rules asked for them;
    ``tags`` are the listed ``K=V`` its instances carry, ``accounts`` the listed
    accounts they belong to."""

    count: int = 0
    triggers: tuple[ApprovalTrigger, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    accounts: tuple[str, ...] = ()

    @property
    def needed(self) -> bool:
        return self.count > 0


def approval_need(
    rules: ApprovalRules,
    *,
    force: bool,
    instance_tags: Sequence[Mapping[str, str]],
    instance_accounts: Sequence[str] = (),
) -> ApprovalNeed:
    """The need of a request that would reboot instances carrying ``instance_tags``
    (one mapping per instance to reboot; instances that will not reboot are not
    touched and do not count), in ``instance_accounts`` (the same instances')."""
    triggers: list[ApprovalTrigger] = []
    if force and rules.for_force:
        triggers.append(ApprovalTrigger.FORCE)
    if rules.above > 0 and len(instance_tags) > rules.above:
        triggers.append(ApprovalTrigger.SIZE)
    matched = tuple(
        (key, value)
        for key, value in rules.for_tags
        if any(tags.get(key) == value for tags in instance_tags)
    )
    if matched:
        triggers.append(ApprovalTrigger.TAG)
    accounts = tuple(a for a in rules.for_accounts if a in set(instance_accounts))
    if accounts:
        triggers.append(ApprovalTrigger.ACCOUNT)
    if not triggers or not instance_tags:
        return ApprovalNeed()
    return ApprovalNeed(max(1, rules.quorum), tuple(triggers), matched, accounts)

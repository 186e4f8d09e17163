"""Which requests need four-eyes approval, and who may approve (docs/PRODUCT.md §6.1): pure."""

from __future__ import annotations

from bot.domain.approval import ApprovalNeed, ApprovalRules, ApprovalTrigger, approval_need
from bot.domain.model import Role
from bot.domain.policy import (
    Binding,
    OwnRequest,
    Principal,
    RoleMissing,
    Target,
    check_may_approve,
)

PROD = {"env": "prod"}
DEV = {"env": "dev"}


def test_no_rule_set_means_no_approval_whatever_the_request() -> None:
    need = approval_need(ApprovalRules(), force=True, instance_tags=[PROD] * 50)
    assert need == ApprovalNeed()
    assert not need.needed


def test_force_needs_approval_only_when_the_rule_says_so() -> None:
    rules = ApprovalRules(quorum=2, for_force=True)
    assert approval_need(rules, force=True, instance_tags=[DEV]) == ApprovalNeed(
        2, (ApprovalTrigger.FORCE,)
    )
    assert approval_need(rules, force=False, instance_tags=[DEV]).count == 0


def test_size_rule_counts_strictly_more_than_the_limit() -> None:
    rules = ApprovalRules(above=3)
    assert approval_need(rules, force=False, instance_tags=[DEV] * 3).count == 0
    assert approval_need(rules, force=False, instance_tags=[DEV] * 4).triggers == (
        ApprovalTrigger.SIZE,
    )


def test_a_listed_tag_on_any_instance_triggers_and_is_named() -> None:
    rules = ApprovalRules(for_tags=(("env", "prod"), ("tier", "db")))
    need = approval_need(rules, force=False, instance_tags=[DEV, PROD])
    assert (need.count, need.triggers, need.tags) == (1, (ApprovalTrigger.TAG,), (("env", "prod"),))
    assert approval_need(rules, force=False, instance_tags=[DEV, {"env": "prodx"}]).count == 0


def test_a_listed_account_of_any_instance_triggers_and_is_named() -> None:
    rules = ApprovalRules(for_accounts=("prod", "billing"))
    need = approval_need(
        rules, force=False, instance_tags=[DEV, DEV], instance_accounts=["staging", "prod"]
    )
    assert (need.count, need.triggers, need.accounts) == (1, (ApprovalTrigger.ACCOUNT,), ("prod",))
    assert (
        approval_need(rules, force=False, instance_tags=[DEV], instance_accounts=["staging"]).count
        == 0
    )


def test_every_rule_that_applies_is_listed() -> None:
    rules = ApprovalRules(quorum=3, for_force=True, above=1, for_tags=(("env", "prod"),))
    need = approval_need(rules, force=True, instance_tags=[PROD, DEV])
    assert need.count == 3
    assert need.triggers == (ApprovalTrigger.FORCE, ApprovalTrigger.SIZE, ApprovalTrigger.TAG)


def test_nothing_to_reboot_needs_no_approval() -> None:
    assert approval_need(ApprovalRules(for_force=True), force=True, instance_tags=[]).count == 0


TARGETS = [Target("cn-hangzhou", "i-bp1aaaa0001", PROD)]


def test_the_requester_never_approves_even_as_admin() -> None:
    admin = Principal("U0ALICE", bootstrap_admin=True)
    decision = check_may_approve(admin, requester="U0ALICE", needed=Role.OPERATOR, targets=TARGETS)
    assert decision.denial == OwnRequest()


def test_an_approver_needs_the_role_that_could_confirm_it() -> None:
    operator = Principal("U0BOB", (Binding("U0BOB", Role.OPERATOR),))
    normal = check_may_approve(operator, requester="U0ALICE", needed=Role.OPERATOR, targets=TARGETS)
    force = check_may_approve(operator, requester="U0ALICE", needed=Role.ADMIN, targets=TARGETS)
    assert normal.allowed
    assert isinstance(force.denial, RoleMissing)
    assert force.denial.needed is Role.ADMIN


def test_a_scoped_operator_approves_only_what_the_scope_covers() -> None:
    scoped = Principal("U0BOB", (Binding("U0BOB", Role.OPERATOR, tag_key="env", tag_value="dev"),))
    decision = check_may_approve(scoped, requester="U0ALICE", needed=Role.OPERATOR, targets=TARGETS)
    assert isinstance(decision.denial, RoleMissing)

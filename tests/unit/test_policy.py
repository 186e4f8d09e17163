"""Authorization (docs/PRODUCT.md §5.2, §6): deny by default, roles ordered, scopes honoured,
every target covered, and every denial says which permission is missing (as a value;
tests/unit/test_slack_text.py puts denials into words)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import Role
from bot.domain.policy import (
    Binding,
    ChannelNotAllowed,
    NoRole,
    Principal,
    RequesterOrAdminOnly,
    RoleMissing,
    Target,
    UnscopedAdminNeeded,
    check_channel,
    check_manage_roles,
    check_may_act_on,
    check_role,
    role_needed_to_reboot,
)

HZ = "cn-hangzhou"
SH = "cn-shanghai"
ALICE = "U0ALICE"
BOB = "U0BOB"
WEB = Target(HZ, "i-bp1web00001")
DB = Target(HZ, "i-bp1db000001")
FAR = Target(SH, "i-uf6far00001")
PROD = {"env": "prod"}
DEV = {"env": "dev"}


def person(*bindings: Binding, user: str = ALICE, bootstrap: bool = False) -> Principal:
    return Principal(user_id=user, bindings=bindings, bootstrap_admin=bootstrap)


def grant(role: Role, *, region: str = "", tag: tuple[str, str] = ("", "")) -> Binding:
    return Binding(subject=ALICE, role=role, region=region, tag_key=tag[0], tag_value=tag[1])


def tagged(target: Target, tags: dict[str, str] | None) -> Target:
    return Target(target.region, target.instance_id, tags)


# --- roles ---------------------------------------------------------------------------------


def test_roles_are_ordered_viewer_operator_admin() -> None:
    assert Role.VIEWER.rank < Role.OPERATOR.rank < Role.ADMIN.rank
    assert Role.ADMIN.covers(Role.OPERATOR)
    assert Role.ADMIN.covers(Role.VIEWER)
    assert Role.OPERATOR.covers(Role.VIEWER)
    assert not Role.VIEWER.covers(Role.OPERATOR)
    assert not Role.OPERATOR.covers(Role.ADMIN)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_covers_itself(role: Role) -> None:
    assert role.covers(role)


def test_force_needs_admin_and_normal_needs_operator() -> None:
    assert role_needed_to_reboot(force=True) is Role.ADMIN
    assert role_needed_to_reboot(force=False) is Role.OPERATOR


# --- Binding.covers ----------------------------------------------------------------------


def test_unscoped_binding_covers_every_region_and_tag() -> None:
    binding = grant(Role.OPERATOR)
    assert binding.covers(HZ, PROD)
    assert binding.covers(SH, {})
    assert binding.covers(SH, None)
    assert not binding.scoped


def test_region_scoped_binding_covers_only_its_region() -> None:
    binding = grant(Role.OPERATOR, region=HZ)
    assert binding.scoped
    assert binding.covers(HZ, None)
    assert binding.covers(HZ, PROD)
    assert not binding.covers(SH, None)
    assert not binding.covers(SH, PROD)


def test_tag_scoped_binding_covers_only_instances_with_that_tag() -> None:
    binding = grant(Role.OPERATOR, tag=("env", "prod"))
    assert binding.scoped
    assert binding.covers(HZ, PROD)
    assert binding.covers(SH, {"env": "prod", "team": "web"})
    assert not binding.covers(HZ, DEV)
    assert not binding.covers(HZ, {})
    assert not binding.covers(HZ, {"Env": "prod"})


def test_tag_scoped_binding_may_cover_while_tags_are_unknown() -> None:
    assert grant(Role.OPERATOR, tag=("env", "prod")).covers(HZ, None)


def test_region_and_tag_scoped_binding_needs_both() -> None:
    binding = grant(Role.OPERATOR, region=HZ, tag=("env", "prod"))
    assert binding.covers(HZ, PROD)
    assert not binding.covers(SH, PROD)
    assert not binding.covers(HZ, DEV)
    assert not binding.covers(SH, None)


def test_binding_describes_itself_as_people_read_it() -> None:
    assert grant(Role.OPERATOR).describe() == "operator"
    assert (
        grant(Role.OPERATOR, region=HZ, tag=("env", "prod")).describe()
        == "operator in cn-hangzhou for env=prod"
    )


# --- Principal.role_for ---------------------------------------------------------------------


def test_no_binding_means_no_role() -> None:
    assert person().role_for(WEB) is None
    assert person().global_role is None
    assert not person().has_any_role


def test_strongest_covering_role_wins() -> None:
    alice = person(grant(Role.VIEWER), grant(Role.ADMIN, region=HZ), grant(Role.OPERATOR))
    assert alice.role_for(WEB) is Role.ADMIN
    assert alice.role_for(FAR) is Role.OPERATOR
    assert alice.global_role is Role.OPERATOR


def test_scoped_binding_gives_no_role_outside_its_scope() -> None:
    alice = person(grant(Role.OPERATOR, tag=("env", "prod")))
    assert alice.role_for(tagged(WEB, PROD)) is Role.OPERATOR
    assert alice.role_for(tagged(WEB, DEV)) is None
    assert alice.global_role is None


def test_bootstrap_admin_is_admin_everywhere() -> None:
    root = person(bootstrap=True)
    assert root.role_for(WEB) is Role.ADMIN
    assert root.role_for(tagged(FAR, DEV)) is Role.ADMIN
    assert root.global_role is Role.ADMIN
    assert root.has_any_role


# --- check_role -----------------------------------------------------------------------------


@pytest.mark.parametrize("needed", list(Role))
def test_deny_by_default_names_the_missing_role(needed: Role) -> None:
    decision = check_role(person(), needed, [WEB])
    assert not decision.allowed
    assert decision.denial == NoRole(needed)
    assert decision.uncovered == (WEB,)


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.OPERATOR, False),
        (Role.VIEWER, Role.ADMIN, False),
        (Role.OPERATOR, Role.VIEWER, True),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.ADMIN, Role.OPERATOR, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_a_role_allows_what_it_covers(held: Role, needed: Role, allowed: bool) -> None:
    decision = check_role(person(grant(held)), needed, [WEB, FAR])
    assert decision.allowed is allowed
    if allowed:
        assert decision.denial is None
        assert decision.uncovered == ()
    else:
        assert decision.denial == RoleMissing(needed, (WEB, FAR))
        assert set(decision.uncovered) == {WEB, FAR}


def test_viewer_may_not_reboot() -> None:
    decision = check_role(person(grant(Role.VIEWER)), role_needed_to_reboot(force=False), [WEB])
    assert not decision.allowed
    assert decision.denial == RoleMissing(Role.OPERATOR, (WEB,))


def test_operator_may_not_force() -> None:
    decision = check_role(person(grant(Role.OPERATOR)), role_needed_to_reboot(force=True), [WEB])
    assert not decision.allowed
    assert decision.denial == RoleMissing(Role.ADMIN, (WEB,))


def test_admin_may_force() -> None:
    assert check_role(person(grant(Role.ADMIN)), role_needed_to_reboot(force=True), [WEB]).allowed


def test_bootstrap_admin_may_do_anything_anywhere() -> None:
    root = person(bootstrap=True)
    for needed in Role:
        assert check_role(root, needed, [WEB, tagged(FAR, DEV)]).allowed


def test_every_target_must_be_covered() -> None:
    alice = person(grant(Role.OPERATOR, region=HZ))
    assert check_role(alice, Role.OPERATOR, [WEB, DB]).allowed
    decision = check_role(alice, Role.OPERATOR, [WEB, FAR, DB])
    assert not decision.allowed
    assert decision.uncovered == (FAR,)
    assert decision.denial == RoleMissing(Role.OPERATOR, (FAR,))


def test_one_instance_without_the_tag_denies_the_whole_request() -> None:
    alice = person(grant(Role.OPERATOR, tag=("env", "prod")))
    odd = tagged(DB, DEV)
    decision = check_role(alice, Role.OPERATOR, [tagged(WEB, PROD), odd])
    assert not decision.allowed
    assert decision.uncovered == (odd,)
    assert decision.denial == RoleMissing(Role.OPERATOR, (odd,))


def test_tag_scoped_role_may_cover_before_tags_are_known() -> None:
    alice = person(grant(Role.OPERATOR, tag=("env", "prod")))
    assert check_role(alice, Role.OPERATOR, [WEB, FAR]).allowed


def test_weaker_unscoped_role_does_not_hide_a_stronger_scoped_one() -> None:
    alice = person(grant(Role.VIEWER), grant(Role.OPERATOR, region=HZ))
    assert check_role(alice, Role.OPERATOR, [WEB]).allowed
    decision = check_role(alice, Role.OPERATOR, [FAR])
    assert not decision.allowed
    assert decision.uncovered == (FAR,)


def test_a_long_uncovered_list_is_kept_whole_in_the_denial() -> None:
    # Shortening it ("and 7 more") is the renderer's business.
    targets = [Target(SH, f"i-uf6far{n:05d}") for n in range(12)]
    decision = check_role(person(grant(Role.OPERATOR, region=HZ)), Role.OPERATOR, targets)
    assert not decision.allowed
    assert decision.uncovered == tuple(targets)
    assert decision.denial == RoleMissing(Role.OPERATOR, tuple(targets))


@given(
    regions=st.lists(st.sampled_from([HZ, SH, "cn-beijing"]), min_size=1, max_size=8),
    granted=st.sampled_from([HZ, SH, "cn-beijing"]),
)
def test_region_scope_decides_exactly_by_region(regions: list[str], granted: str) -> None:
    targets = [Target(region, f"i-abcdefgh{n:02d}") for n, region in enumerate(regions)]
    decision = check_role(person(grant(Role.OPERATOR, region=granted)), Role.OPERATOR, targets)
    outside = tuple(t for t in targets if t.region != granted)
    assert decision.allowed is (not outside)
    assert decision.uncovered == outside


_TAG_KEYS = st.sampled_from(["", "env", "team"])
_TAG_VALUES = st.sampled_from(["prod", "dev"])
_BINDINGS = st.builds(
    Binding,
    subject=st.just(ALICE),
    role=st.sampled_from(list(Role)),
    region=st.sampled_from(["", HZ, SH]),
    tag_key=_TAG_KEYS,
    tag_value=_TAG_VALUES,
    account=st.sampled_from(["", "default", "prod"]),
)
_TARGETS = st.builds(
    Target,
    region=st.sampled_from([HZ, SH]),
    instance_id=st.sampled_from(["i-abcdefgh01", "i-abcdefgh02", "i-abcdefgh03"]),
    tags=st.none() | st.dictionaries(st.sampled_from(["env", "team", "Name"]), _TAG_VALUES),
    account=st.sampled_from(["default", "prod"]),
)


@given(
    bindings=st.lists(_BINDINGS, max_size=4),
    bootstrap=st.booleans(),
    needed=st.sampled_from(list(Role)),
    targets=st.lists(_TARGETS, max_size=8),
)
def test_check_role_decides_each_target_by_the_role_held_on_it(
    bindings: list[Binding], bootstrap: bool, needed: Role, targets: list[Target]
) -> None:
    """However check_role groups its questions (by account, region, and tags only when a
    binding reads them), it denies exactly the targets on which the person's strongest
    role is below ``needed``."""
    principal = person(*bindings, bootstrap=bootstrap)
    decision = check_role(principal, needed, targets)
    if not principal.has_any_role:
        assert decision.denial == NoRole(needed)
        return
    short = tuple(
        target
        for target in targets
        if (held := principal.role_for(target)) is None or held.rank < needed.rank
    )
    assert decision.uncovered == short
    assert decision.allowed is (not short)


# --- check_channel --------------------------------------------------------------------------


def test_no_allowed_channels_means_every_channel() -> None:
    assert check_channel("C0OPS", []).allowed


def test_allowed_channels_are_enforced() -> None:
    assert check_channel("C0OPS", ["C0OPS", "C0SRE"]).allowed
    decision = check_channel("C0RANDOM", ["C0OPS", "C0SRE"])
    assert not decision.allowed
    assert decision.denial == ChannelNotAllowed(("C0OPS", "C0SRE"))


# --- check_manage_roles ---------------------------------------------------------------------


def test_unscoped_admin_may_manage_roles() -> None:
    assert check_manage_roles(person(grant(Role.ADMIN))).allowed
    assert check_manage_roles(person(bootstrap=True)).allowed


@pytest.mark.parametrize(
    "bindings",
    [
        (),
        (Binding(ALICE, Role.OPERATOR),),
        (Binding(ALICE, Role.VIEWER),),
        (Binding(ALICE, Role.ADMIN, region=HZ),),
        (Binding(ALICE, Role.ADMIN, tag_key="env", tag_value="prod"),),
        (Binding(ALICE, Role.ADMIN, region=HZ), Binding(ALICE, Role.OPERATOR)),
    ],
)
def test_only_an_unscoped_admin_may_manage_roles(bindings: tuple[Binding, ...]) -> None:
    decision = check_manage_roles(person(*bindings))
    assert not decision.allowed
    assert decision.denial == UnscopedAdminNeeded()


# --- check_may_act_on -----------------------------------------------------------------------


def test_requester_with_the_needed_role_may_confirm() -> None:
    alice = person(grant(Role.OPERATOR))
    assert check_may_act_on(alice, requester=ALICE, needed=Role.OPERATOR, targets=[WEB]).allowed


def test_requester_is_checked_again_at_the_click() -> None:
    # The role was revoked (or narrowed) between the preview and the click.
    alice = person(grant(Role.VIEWER))
    decision = check_may_act_on(alice, requester=ALICE, needed=Role.OPERATOR, targets=[WEB])
    assert not decision.allowed
    assert decision.denial == RoleMissing(Role.OPERATOR, (WEB,))


def test_requester_of_a_force_reboot_needs_admin() -> None:
    alice = person(grant(Role.OPERATOR))
    decision = check_may_act_on(alice, requester=ALICE, needed=Role.ADMIN, targets=[WEB])
    assert not decision.allowed
    assert decision.denial == RoleMissing(Role.ADMIN, (WEB,))


def test_an_operator_may_not_confirm_someone_elses_request() -> None:
    bob = person(grant(Role.OPERATOR), user=BOB)
    decision = check_may_act_on(bob, requester=ALICE, needed=Role.OPERATOR, targets=[WEB])
    assert not decision.allowed
    assert decision.denial == RequesterOrAdminOnly(ALICE)


def test_an_admin_may_confirm_someone_elses_request() -> None:
    bob = person(grant(Role.ADMIN), user=BOB)
    assert check_may_act_on(bob, requester=ALICE, needed=Role.OPERATOR, targets=[WEB]).allowed
    assert check_may_act_on(bob, requester=ALICE, needed=Role.ADMIN, targets=[WEB]).allowed


def test_confirming_someone_elses_request_needs_admin_on_every_target() -> None:
    bob = person(grant(Role.ADMIN, region=HZ), grant(Role.OPERATOR), user=BOB)
    assert check_may_act_on(bob, requester=ALICE, needed=Role.OPERATOR, targets=[WEB, DB]).allowed
    decision = check_may_act_on(bob, requester=ALICE, needed=Role.OPERATOR, targets=[WEB, FAR])
    assert not decision.allowed
    assert decision.denial == RequesterOrAdminOnly(ALICE)
    assert decision.uncovered == (FAR,)


def test_bootstrap_admin_may_act_on_anyones_request() -> None:
    root = person(bootstrap=True, user=BOB)
    assert check_may_act_on(root, requester=ALICE, needed=Role.ADMIN, targets=[FAR]).allowed


def test_stranger_without_any_role_may_not_act() -> None:
    decision = check_may_act_on(
        person(user=BOB), requester=ALICE, needed=Role.OPERATOR, targets=[WEB]
    )
    assert not decision.allowed
    assert decision.denial == RequesterOrAdminOnly(ALICE)


def test_an_account_binding_covers_only_its_account() -> None:
    # §6: the account counts like the region; a binding without one covers every account.
    from bot.domain.policy import Principal, Target, check_role

    staging_only = Principal("U1", (Binding("U1", Role.OPERATOR, account="staging"),))
    everywhere = Principal("U2", (Binding("U2", Role.OPERATOR),))
    prod = Target("cn-hangzhou", "i-1", {}, "prod")
    staging = Target("cn-hangzhou", "i-2", {}, "staging")
    assert staging_only.role_for(staging) is Role.OPERATOR
    assert staging_only.role_for(prod) is None
    assert check_role(staging_only, Role.OPERATOR, [staging, prod]).denial is not None
    assert check_role(everywhere, Role.OPERATOR, [staging, prod]).denial is None
    assert Binding("U1", Role.OPERATOR, "cn-hangzhou", account="prod").describe() == (
        "operator in account prod in cn-hangzhou"
    )
    assert Binding("U1", Role.ADMIN, account="prod").scoped

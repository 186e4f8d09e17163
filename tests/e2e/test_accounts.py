"""Several accounts (docs/PRODUCT.md §5.13), end to end: signed Slack requests into the
running bot, the simulator with member accounts behind. The bot assumes each account's
role when first needed; the DryRun goes out as the requester's role session and the
reboot as the confirmer's, which the simulator records per call (the audit trail
ActionTrail would show).

A command names its accounts with ``--account``; without it, ``ECSBOT_DEFAULT_ACCOUNT``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.domain.model import InstanceOutcome, RequestState, Role, Verdict
from bot.services.history import request_json
from bot.slack.blocks import ACTION_CONFIRM
from bot.slack.outcomes import instance_message
from tests.e2e.harness import ADMIN, OPERATOR, Harness, running_bot

HZ = "cn-hangzhou"
CONFIRMER = ADMIN  # an admin may confirm someone else's request


def _accounts_env(h_sim_roles: dict[str, str], default: str | None) -> dict[str, str]:
    env = {"ECSBOT_ACCOUNTS": ",".join(f"{n}={arn}" for n, arn in h_sim_roles.items())}
    if default is not None:
        env["ECSBOT_DEFAULT_ACCOUNT"] = default
    return env


@pytest.fixture
def prod_default(migrated_url: str) -> Iterator[Harness]:
    # The simulator derives role ARNs from the account names, before it runs.
    from bot.simulator.accounts import MEMBER_ROLE_NAME, member_account_id

    roles = {
        name: f"acs:ram::{member_account_id(name)}:role/{MEMBER_ROLE_NAME}"
        for name in ("prod", "staging")
    }
    with running_bot(
        migrated_url, instances=3, accounts=("prod", "staging"), env=_accounts_env(roles, "prod")
    ) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        yield h


def _ecs_calls(h: Harness) -> list[tuple[str, bool, str | None, str | None]]:
    return [
        (c.action, c.dry_run, c.account, c.session_name)
        for c in h.sim.calls.all()
        if c.action != "AssumeRole"
    ]


def test_a_reboot_in_the_default_account_is_signed_for_requester_and_confirmer(
    prod_default: Harness,
) -> None:
    h = prod_default
    assert h.sim.calls.all() == []  # no role is assumed at start-up
    prod_ids = h.sim.fleet_of("prod").ids(HZ)
    h.command(" ".join(prod_ids[:2]), user=OPERATOR)
    h.settle()
    request_id, _ = h.last_preview()
    request = h.request(request_id)
    assert [(i.ref.account, i.verdict) for i in request.instances] == [
        ("prod", Verdict.WILL_REBOOT),
        ("prod", Verdict.WILL_REBOOT),
    ]
    h.click(ACTION_CONFIRM, request_id, user=CONFIRMER)
    h.settle()
    h.run_until_final(request_id)
    final = h.request(request_id)
    assert final.state is RequestState.SUCCEEDED
    assert {i.outcome for i in final.instances} == {InstanceOutcome.SUCCEEDED}
    # Exactly prod's two instances rebooted, once each; nothing in staging or home.
    assert h.sim.fleet_of("prod").reboot_counts(HZ) == {i: 1 for i in prod_ids[:2]}
    assert h.sim.fleet_of("staging").reboot_counts(HZ) == {}
    assert h.sim.fleet.reboot_counts(HZ) == {}
    calls = _ecs_calls(h)
    assert ("RebootInstances", True, "prod", f"slack-{OPERATOR}") in calls
    assert [c for c in calls if c[0] == "RebootInstances" and not c[1]] == [
        ("RebootInstances", False, "prod", f"slack-{CONFIRMER}")
    ]
    assert {c[3] for c in calls if c[0] != "RebootInstances"} == {"ecs-reboot-bot"}
    assert {c[2] for c in calls} == {"prod"}
    row = request_json(final, message=instance_message)
    assert row["accounts"] == ["prod"]
    assert {i["account"] for i in row["instances"]} == {"prod"}
    json.dumps(row)


def test_an_unassumable_role_denies_its_instances_with_the_sts_code(
    prod_default: Harness,
) -> None:
    h = prod_default
    h.sim.sts.remove_role(h.sim.role_arn("prod"))
    h.command(" ".join(h.sim.fleet_of("prod").ids(HZ)[:2]))
    h.settle()
    request_id, preview = h.last_preview()
    request = h.request(request_id)
    assert [(i.verdict, i.verdict_code) for i in request.instances] == [
        (Verdict.DENIED, "EntityNotExist.Role"),
        (Verdict.DENIED, "EntityNotExist.Role"),
    ]
    assert "account prod" in json.dumps(preview.blocks)
    assert [c for c in h.sim.calls.all() if c.action != "AssumeRole"] == []


def test_several_accounts_without_a_default_refuse_bare_ids_before_asking_ecs(
    migrated_url: str,
) -> None:
    from bot.simulator.accounts import MEMBER_ROLE_NAME, member_account_id

    roles = {
        name: f"acs:ram::{member_account_id(name)}:role/{MEMBER_ROLE_NAME}"
        for name in ("prod", "staging")
    }
    with running_bot(
        migrated_url, instances=2, accounts=("prod", "staging"), env=_accounts_env(roles, None)
    ) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.command(h.sim.fleet_of("prod").ids(HZ)[0])
        h.settle()
        [answer] = h.ephemerals(OPERATOR)
        assert "none is the default" in answer
        assert "`prod`, `staging`" in answer
        assert h.sim.calls.all() == []
        assert h.previews() == []


def test_an_operator_bound_to_staging_is_denied_for_prod(prod_default: Harness) -> None:
    h = prod_default
    staging_operator = "U0STAGEOPS"
    h.grant(staging_operator, Role.OPERATOR, account="staging")
    # Denied at the ack: the command's own answer, before ECS is asked anything.
    answer = h.command(h.sim.fleet_of("prod").ids(HZ)[0], user=staging_operator).json()["text"]
    h.settle()
    assert ":no_entry:" in answer
    assert "prod · cn-hangzhou" in answer
    assert h.previews() == []
    assert [c for c in h.sim.calls.all() if c.action == "RebootInstances"] == []


def test_account_flag_reboots_only_that_accounts_instance_with_its_role(
    prod_default: Harness,
) -> None:
    h = prod_default
    target = h.sim.fleet_of("staging").ids(HZ)[0]
    h.command(f"--account staging {target}", user=OPERATOR)
    h.settle()
    request_id, _ = h.last_preview()
    assert [i.ref.account for i in h.request(request_id).instances] == ["staging"]
    h.click(ACTION_CONFIRM, request_id, user=CONFIRMER)
    h.settle()
    h.run_until_final(request_id)
    assert h.sim.fleet_of("staging").reboot_counts(HZ) == {target: 1}
    assert h.sim.fleet_of("prod").reboot_counts(HZ) == {}
    reboots = [c for c in _ecs_calls(h) if c[0] == "RebootInstances" and not c[1]]
    assert reboots == [("RebootInstances", False, "staging", f"slack-{CONFIRMER}")]
    assert request_json(h.request(request_id), message=instance_message)["accounts"] == ["staging"]


def test_an_unknown_account_and_bare_ids_over_two_accounts_are_input_errors(
    prod_default: Harness,
) -> None:
    h = prod_default
    target = h.sim.fleet_of("prod").ids(HZ)[0]
    h.command(f"--account nope {target}")
    h.command(f"--account prod,staging {target}")
    malformed = h.command(f"--account Prod! {target}").json()["text"]
    h.settle()
    # Two answers of jobs that may run side by side: told apart by what they say.
    answers = h.ephemerals(OPERATOR)
    assert len(answers) == 2
    [unknown] = [answer for answer in answers if "`nope`" in answer]
    [bare] = [answer for answer in answers if answer != unknown]
    assert "`nope`" in unknown
    assert "`prod`, `staging`" in unknown
    assert "one account" in bare
    assert "not an account name" in malformed
    assert h.sim.calls.all() == []
    assert h.previews() == []


def test_a_selector_over_both_accounts_previews_both_grouped(prod_default: Harness) -> None:
    h = prod_default
    h.command("--account prod,staging tag:app=web")
    h.settle()
    request_id, preview = h.last_preview()
    accounts = {i.ref.account for i in h.request(request_id).instances}
    assert accounts == {"prod", "staging"}
    shown = json.dumps(preview.blocks, ensure_ascii=False)
    assert "prod · cn-hangzhou" in shown
    assert "staging · cn-hangzhou" in shown
    assert shown.index("prod · cn-hangzhou") < shown.index("staging · cn-hangzhou")


def test_grant_takes_an_account_and_refuses_an_unknown_one(prod_default: Harness) -> None:
    h = prod_default
    answer = h.command("grant <@U0STAGER> operator --account staging", user=ADMIN)
    assert "operator" in answer.json()["text"]
    with h.bot.ctx.uow() as uow:
        [binding] = uow.roles.bindings_with_groups("U0STAGER")
    assert binding.account == "staging"
    refused = h.command("grant <@U0OTHER> operator --account nope", user=ADMIN).json()["text"]
    assert "No account `nope`" in refused
    with h.bot.ctx.uow() as uow:
        assert uow.roles.bindings_with_groups("U0OTHER") == []


def test_a_selector_tells_which_account_it_could_not_search(prod_default: Harness) -> None:
    h = prod_default
    h.sim.sts.remove_role(h.sim.role_arn("staging"))
    h.command("--account prod,staging tag:app=web")
    h.settle()
    _, preview = h.last_preview()
    shown = json.dumps(preview.blocks, ensure_ascii=False)
    assert "Not searched: account `staging` (EntityNotExist.Role)" in shown

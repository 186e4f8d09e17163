"""The preview use case across several accounts (§5.13), with the real ECS client and
the simulator's member accounts behind it (the rest of the ports are the in-memory
fakes): which account each instance is looked up, dry-run and recorded in, and what a
person is told when the command's accounts cannot be settled."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from bot.domain.accounts import AccountProblem
from bot.domain.commands import RebootCommand
from bot.domain.model import InstanceRef, Role, Verdict
from bot.domain.policy import Binding
from bot.domain.selectors import TagSelector
from bot.ecs.account_credentials import AccountCredentials
from bot.ecs.client import EcsClient
from bot.ecs.credentials import StaticCredentialsProvider, StsTarget
from bot.services.context import FlowConfig
from bot.services.preview import PreviewAsked, preview
from bot.simulator import ManualClock, Simulator
from bot.slack.text import answer_text
from bot.testing.memory import MemoryBot, memory_bot

HZ = "cn-hangzhou"
USER = "U0REQ"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        regions=(HZ,), instances_per_region=3, clock=ManualClock(), accounts=("prod", "staging")
    ) as simulator:
        for account, app in (("prod", "pay"), ("staging", "pay"), ("staging", "web")):
            simulator.fleet_of(account).add_instance(HZ, name=f"{app}-x", tags={"app": app})
        yield simulator


def bot_on(sim: Simulator, *, default: str | None) -> Iterator[MemoryBot]:
    bot = memory_bot(FlowConfig(accounts=("prod", "staging"), default_account=default))
    bot.db.grant(Binding(USER, Role.OPERATOR))
    credentials = AccountCredentials(
        StaticCredentialsProvider(sim.access_key_id, sim.access_key_secret),
        {"prod": sim.role_arn("prod"), "staging": sim.role_arn("staging")},
        target=StsTarget(endpoint=sim.endpoint),
        clock=sim.clock,
    )
    with EcsClient(credentials=credentials, endpoint=sim.endpoint, clock=sim.clock) as ecs:
        bot.ctx = dataclasses.replace(bot.ctx, ecs=ecs)
        yield bot


@pytest.fixture
def bot(sim: Simulator) -> Iterator[MemoryBot]:
    yield from bot_on(sim, default=None)


def asked(**fields: object) -> PreviewAsked:
    command = dataclasses.replace(RebootCommand(instances=()), **fields)  # type: ignore[arg-type]
    return PreviewAsked(user=USER, channel="C1", command=command)


def test_a_tag_selector_over_two_accounts_previews_both(sim: Simulator, bot: MemoryBot) -> None:
    request = preview(
        bot.ctx,
        asked(
            selectors=(TagSelector("app", "pay"),),
            search_regions=(HZ,),
            accounts=("prod", "staging"),
        ),
    )
    assert request is not None
    prod_pay = sim.fleet_of("prod").find(HZ, tags=[("app", "pay")])
    staging_pay = sim.fleet_of("staging").find(HZ, tags=[("app", "pay")])
    assert [i.ref for i in request.instances] == [
        *(InstanceRef(HZ, i, "prod") for i in prod_pay),
        *(InstanceRef(HZ, i, "staging") for i in staging_pay),
    ]
    assert {i.verdict for i in request.instances} == {Verdict.WILL_REBOOT}
    assert request.accounts == ("prod", "staging")
    # One filtered page and one DryRun per account, each signed in that account.
    describes = [(c.account, c.session_name) for c in sim.calls.of("DescribeInstances")]
    assert describes == [("prod", "ecs-reboot-bot"), ("staging", "ecs-reboot-bot")]
    dry_runs = [(c.account, c.session_name) for c in sim.calls.of("RebootInstances")]
    assert dry_runs == [("prod", f"slack-{USER}"), ("staging", f"slack-{USER}")]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"accounts": ("prod", "dev")}, AccountProblem(("prod", "staging"), ("dev",))),
        ({}, AccountProblem(("prod", "staging"))),
        ({"accounts": ("prod", "staging")}, AccountProblem(("prod", "staging"), bare_ids=True)),
    ],
)
def test_accounts_that_cannot_be_settled_are_told_and_nothing_is_asked(
    sim: Simulator, bot: MemoryBot, fields: dict[str, object], problem: AccountProblem
) -> None:
    prod_id = sim.fleet_of("prod").ids(HZ)[0]
    assert preview(bot.ctx, asked(instances=(InstanceRef(HZ, prod_id),), **fields)) is None
    [told] = bot.presenter.of("tell")
    assert told.said == problem
    assert "known: `prod`, `staging`" in answer_text(problem)
    assert sim.calls.all() == []
    assert bot.db.actions() == []


def test_ids_belong_to_the_default_account(sim: Simulator) -> None:
    for bot in bot_on(sim, default="staging"):
        staging_id = sim.fleet_of("staging").ids(HZ)[0]
        prod_id = sim.fleet_of("prod").ids(HZ)[0]
        request = preview(
            bot.ctx, asked(instances=(InstanceRef(HZ, staging_id), InstanceRef(HZ, prod_id)))
        )
        assert request is not None
        assert [(i.ref.account, i.verdict) for i in request.instances] == [
            ("staging", Verdict.WILL_REBOOT),
            ("staging", Verdict.NOT_FOUND),  # prod's instance is not staging's
        ]


# --- an account removed from ECSBOT_ACCOUNTS while a request of it is in flight -----------


def _without_prod(sim: Simulator, bot: MemoryBot) -> None:
    """The bot restarted with ECSBOT_ACCOUNTS naming staging only."""
    credentials = AccountCredentials(
        StaticCredentialsProvider(sim.access_key_id, sim.access_key_secret),
        {"staging": sim.role_arn("staging")},
        target=StsTarget(endpoint=sim.endpoint),
        clock=sim.clock,
    )
    ecs = EcsClient(credentials=credentials, endpoint=sim.endpoint, clock=sim.clock)
    bot.ctx = dataclasses.replace(bot.ctx, ecs=ecs)


def _confirm(bot: MemoryBot, request_id: str) -> None:
    from bot.services.clicks import Click
    from bot.services.confirm import confirm

    later = confirm(bot.ctx, Click(user=USER, channel="C1", request_id=request_id))
    assert later is not None
    later()


def test_a_removed_account_is_sent_nothing_more(sim: Simulator) -> None:
    from bot.domain.model import InstanceOutcome

    for bot in bot_on(sim, default="prod"):
        prod_ids = sim.fleet_of("prod").ids(HZ)[:2]
        request = preview(bot.ctx, asked(instances=tuple(InstanceRef(HZ, i) for i in prod_ids)))
        assert request is not None
        _without_prod(sim, bot)
        _confirm(bot, request.id)
        final = bot.db.request(request.id)
        assert [(i.outcome, i.code) for i in final.instances] == [
            (InstanceOutcome.FAILED, "AccountNotConfigured"),
            (InstanceOutcome.FAILED, "AccountNotConfigured"),
        ]
        assert "ECSBOT_ACCOUNTS" in (final.instances[0].message or "")
        assert sim.calls.of("RebootInstances", dry_run=False) == []


def test_a_removed_account_s_rebooting_instances_time_out_saying_why(sim: Simulator) -> None:
    from bot.domain.model import InstanceOutcome
    from bot.services.poller import poll_once

    clock = sim.clock
    assert isinstance(clock, ManualClock)
    for bot in bot_on(sim, default="prod"):
        bot.ctx = dataclasses.replace(bot.ctx, clock=clock.now)
        prod_id = sim.fleet_of("prod").ids(HZ)[0]
        request = preview(bot.ctx, asked(instances=(InstanceRef(HZ, prod_id),)))
        assert request is not None
        _confirm(bot, request.id)
        assert bot.db.request(request.id).instances[0].outcome is InstanceOutcome.REBOOTING
        _without_prod(sim, bot)
        describes = len(sim.calls.of("DescribeInstances"))
        for _ in range(12):
            clock.advance(60)
            poll_once(bot.ctx, clock.now())
        [instance] = bot.db.request(request.id).instances
        assert (instance.outcome, instance.code) == (
            InstanceOutcome.TIMED_OUT,
            "AccountNotConfigured",
        )
        assert "account prod" in (instance.message or "")
        assert len(sim.calls.of("DescribeInstances")) == describes  # nothing sent to prod

"""Credentials per account and per person (DESIGN §5.13) against the simulator's STS and
member accounts: the bot's own key pair (home) assumes each account's role when first
needed, one session per (account, person); the simulator records which account each
ECS call acted in and which RoleSessionName signed it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.domain.errors import RoleNotAssumable, StsUnavailable
from bot.ecs.account_credentials import AccountCredentials, session_name_for
from bot.ecs.client import EcsClient
from bot.ecs.credentials import StaticCredentialsProvider, StsTarget
from bot.simulator import ManualClock, Simulator

REGION = "cn-hangzhou"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        regions=(REGION,), instances_per_region=3, clock=ManualClock(), accounts=("prod", "staging")
    ) as simulator:
        yield simulator


class Sleeps:
    """Records the backoff instead of waiting."""

    def __init__(self) -> None:
        self.waited: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def accounts_of(sim: Simulator, sleeps: Sleeps, **roles: str) -> AccountCredentials:
    base = StaticCredentialsProvider(sim.access_key_id, sim.access_key_secret)
    return AccountCredentials(
        base,
        roles or {"prod": sim.role_arn("prod"), "staging": sim.role_arn("staging")},
        target=StsTarget(endpoint=sim.endpoint, sleep=sleeps),
        clock=sim.clock,
    )


@pytest.fixture
def client(sim: Simulator, sleeps: Sleeps) -> Iterator[EcsClient]:
    with EcsClient(
        credentials=accounts_of(sim, sleeps),
        endpoint=sim.endpoint,
        clock=sim.clock,
        sleep=sleeps,
    ) as ecs:
        yield ecs


def signed(sim: Simulator) -> list[tuple[str, bool, str | None, str | None]]:
    """(action, dry run, account, session name) of every ECS call, in order."""
    return [
        (c.action, c.dry_run, c.account, c.session_name)
        for c in sim.calls.all()
        if c.action != "AssumeRole"
    ]


def assumed(sim: Simulator) -> list[tuple[str, str]]:
    """(role ARN, session name) of every successful AssumeRole."""
    return [
        (c.params["RoleArn"], c.params["RoleSessionName"])
        for c in sim.calls.of("AssumeRole")
        if c.ok
    ]


def test_each_call_is_signed_in_its_account_for_its_person(
    sim: Simulator, client: EcsClient
) -> None:
    prod_ids = sim.fleet_of("prod").ids(REGION)
    assert sim.calls.all() == []  # nothing assumed before the first call
    seen = client.describe_instances(REGION, prod_ids, account="prod")
    assert [i.instance_id for i in seen] == prod_ids
    # staging's role sees none of prod's instances
    assert client.describe_instances(REGION, prod_ids, account="staging") == []
    [verdict] = client.dry_run_reboot(
        REGION, prod_ids[:1], force=False, account="prod", acting_user="U0REQUEST"
    )
    assert verdict.error is None
    [result] = client.reboot(
        REGION, prod_ids[:1], force=False, account="prod", acting_user="U0CONFIRM"
    )
    assert result.ok
    client.describe_instances(REGION, prod_ids, account="prod")
    assert signed(sim) == [
        ("DescribeInstances", False, "prod", "ecs-reboot-bot"),
        ("DescribeInstances", False, "staging", "ecs-reboot-bot"),
        ("RebootInstances", True, "prod", "slack-U0REQUEST"),
        ("RebootInstances", False, "prod", "slack-U0CONFIRM"),
        ("DescribeInstances", False, "prod", "ecs-reboot-bot"),
    ]
    # One AssumeRole per (account, session): the second prod read reused the first.
    assert assumed(sim) == [
        (sim.role_arn("prod"), "ecs-reboot-bot"),
        (sim.role_arn("staging"), "ecs-reboot-bot"),
        (sim.role_arn("prod"), "slack-U0REQUEST"),
        (sim.role_arn("prod"), "slack-U0CONFIRM"),
    ]
    assert sim.fleet_of("prod").reboot_counts(REGION) == {prod_ids[0]: 1}
    assert sim.fleet.reboot_counts(REGION) == {}


def test_one_account_uses_the_bot_identity_as_before(sim: Simulator, sleeps: Sleeps) -> None:
    base = StaticCredentialsProvider(sim.access_key_id, sim.access_key_secret)
    with EcsClient(credentials=base, endpoint=sim.endpoint, clock=sim.clock) as plain:
        home_ids = sim.fleet.ids(REGION)
        plain.dry_run_reboot(REGION, home_ids, force=False, acting_user="U1")
        assert len(plain.describe_instances(REGION, home_ids)) == 3
    assert signed(sim) == [
        ("RebootInstances", True, "home", None),
        ("DescribeInstances", False, "home", None),
    ]
    assert sim.calls.of("AssumeRole") == []


def test_an_account_not_configured_is_refused_before_anything_is_sent(
    sim: Simulator, client: EcsClient
) -> None:
    with pytest.raises(RoleNotAssumable) as raised:
        client.reboot(REGION, ["i-bp1aaaaaaaaaaaaaaa"], force=False, account="gone")
    assert (raised.value.code, raised.value.account) == ("AccountNotConfigured", "gone")
    assert "known: prod, staging" in str(raised.value)
    assert sim.calls.all() == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"role_exists": False}, "EntityNotExist.Role"),
        ({"trusted_account_ids": []}, "NoPermission"),
    ],
)
def test_a_role_that_cannot_be_assumed_names_sts_code_and_spares_the_others(
    sim: Simulator, client: EcsClient, change: dict[str, object], code: str
) -> None:
    role = sim.role_arn("staging")
    if change.get("role_exists") is False:
        sim.sts.remove_role(role)
    else:
        sim.sts.configure(trust={role: []})
    with pytest.raises(RoleNotAssumable) as raised:
        client.describe_instances(REGION, ["i-bp1aaaaaaaaaaaaaaa"], account="staging")
    assert (raised.value.code, raised.value.account) == (code, "staging")
    assert "account staging" in raised.value.describe()
    # The DryRun's verdict: the whole batch refused with STS's code, found in one try.
    [verdict] = client.dry_run_reboot(
        REGION, ["i-bp1aaaaaaaaaaaaaaa", "i-bp1bbbbbbbbbbbbbbb"], force=False, account="staging"
    )
    assert verdict.error is not None
    assert verdict.error.code == code
    assert not verdict.per_instance
    assert len(sim.calls.of("AssumeRole")) == 2  # a refusal is not retried
    prod_ids = sim.fleet_of("prod").ids(REGION)
    assert len(client.describe_instances(REGION, prod_ids, account="prod")) == 3


def test_sts_throttling_is_retried_then_named(
    sim: Simulator, client: EcsClient, sleeps: Sleeps
) -> None:
    prod_ids = sim.fleet_of("prod").ids(REGION)
    sim.faults.throttle("AssumeRole", times=2)
    assert len(client.describe_instances(REGION, prod_ids, account="prod")) == 3
    assert len(sim.calls.of("AssumeRole")) == 3
    assert len(sleeps.waited) == 2
    sim.faults.fail("AssumeRole", times=None)
    with pytest.raises(StsUnavailable) as raised:
        client.describe_instances(REGION, prod_ids, account="staging")
    assert (raised.value.code, raised.value.account) == ("ServiceUnavailable", "staging")
    assert len(sim.calls.of("AssumeRole")) == 6  # three tries for staging
    assert not [c for c in sim.calls.all() if c.action == "DescribeInstances" and not c.ok]


def test_credentials_are_refreshed_before_they_expire_and_never_used_expired(
    sim: Simulator, client: EcsClient
) -> None:
    clock = sim.clock
    assert isinstance(clock, ManualClock)
    prod_ids = sim.fleet_of("prod").ids(REGION)
    client.describe_instances(REGION, prod_ids, account="prod")
    clock.advance(2000)  # 1600 s left: more than the 15-minute margin, reused
    client.describe_instances(REGION, prod_ids, account="prod")
    assert len(sim.calls.of("AssumeRole")) == 1
    clock.advance(800)  # 800 s left: inside the margin, refreshed before the call
    client.describe_instances(REGION, prod_ids, account="prod")
    assert len(sim.calls.of("AssumeRole")) == 2
    # STS down at the next refresh, and the cached credentials almost spent: the call
    # is not signed with them.
    clock.advance(3600 - 30)
    sim.faults.fail("AssumeRole", times=None)
    with pytest.raises(StsUnavailable):
        client.describe_instances(REGION, prod_ids, account="prod")
    assert all(c.ok for c in sim.calls.of("DescribeInstances"))
    assert len(sim.calls.of("DescribeInstances")) == 3


def test_session_names_fit_sts_rules() -> None:
    assert session_name_for("U0123ABC") == "slack-U0123ABC"
    assert session_name_for(None) == "ecs-reboot-bot"
    assert session_name_for("W1 x/y") == "slack-W1-x-y"
    assert len(session_name_for("U" * 100)) == 64


def test_bootstrap_wires_ecsbot_accounts_and_assumes_nothing_at_start(sim: Simulator) -> None:
    from bot.bootstrap import make_ecs_client
    from bot.settings import load_settings

    sim.sts.remove_role(sim.role_arn("staging"))  # broken: the bot starts all the same
    settings = load_settings(
        ALIBABA_CLOUD_ACCESS_KEY_ID=sim.access_key_id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=sim.access_key_secret,
        ALIBABA_CLOUD_STS_ENDPOINT=sim.endpoint,
        ECSBOT_ECS_ENDPOINT=sim.endpoint,
        ECSBOT_ACCOUNTS=f"prod={sim.role_arn('prod')},staging={sim.role_arn('staging')}",
    )
    with make_ecs_client(settings, clock=sim.clock) as ecs:
        assert sim.calls.all() == []
        prod_ids = sim.fleet_of("prod").ids(REGION)
        assert len(ecs.describe_instances(REGION, prod_ids, account="prod")) == 3
        with pytest.raises(RoleNotAssumable) as raised:
            ecs.describe_instances(REGION, prod_ids, account="staging")
        assert raised.value.code == "EntityNotExist.Role"
        # The bot's own identity still serves "default" (requests older than the setting).
        assert len(ecs.describe_instances(REGION, sim.fleet.ids(REGION))) == 3
    assert signed(sim) == [
        ("DescribeInstances", False, "prod", "ecs-reboot-bot"),
        ("DescribeInstances", False, "home", None),
    ]

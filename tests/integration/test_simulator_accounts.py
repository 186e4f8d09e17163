"""Several accounts in the simulator (DESIGN §5.13): the official SDK's generic STS client
assumes each member account's role with the home key pair, and the official ECS client
with those temporary keys sees that account's instances only; every call records the
account it acted in and the session name that signed it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.exceptions import ClientException as SdkError

from bot.simulator import ManualClock, Simulator
from bot.simulator.accounts import HOME_ACCOUNT_ID, member_account_id, parse_account_names
from tests.integration.test_simulator import REGION, sdk, simulator_command
from tests.integration.test_simulator_features import sts_call


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[Simulator]:
    with Simulator(
        regions=(REGION,), instances_per_region=4, clock=clock, accounts=("prod", "staging")
    ) as simulator:
        yield simulator


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.endpoint, timeout=5) as client:
        yield client


def assume(sim: Simulator, account: str, session: str, **signer: str) -> dict[str, Any]:
    query = {"RoleArn": sim.role_arn(account), "RoleSessionName": session}
    return sts_call_as(sim, query, **signer)


def sts_call_as(sim: Simulator, query: dict[str, str], **signer: str) -> dict[str, Any]:
    """AssumeRole through the SDK's generic client, signed with the home key pair or
    with ``key_id``/``secret``/``token``."""
    if not signer:
        return sts_call(sim, "AssumeRole", query)
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_openapi.client import Client as OpenApiClient
    from alibabacloud_tea_util.models import RuntimeOptions

    config = open_api_models.Config(
        access_key_id=signer["key_id"],
        access_key_secret=signer["secret"],
        security_token=signer["token"],
        endpoint=sim.address,
        protocol="HTTP",
    )
    params = open_api_models.Params(
        action="AssumeRole",
        version="2015-04-01",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_models.OpenApiRequest(query=query)
    body = OpenApiClient(config).call_api(params, request, RuntimeOptions())["body"]
    assert isinstance(body, dict)
    return body


def ecs_as(sim: Simulator, credentials: dict[str, str]) -> Any:
    return sdk(
        sim,
        key_id=credentials["AccessKeyId"],
        secret=credentials["AccessKeySecret"],
        token=credentials["SecurityToken"],
    )


def ids_seen(client: Any) -> list[str]:
    body = client.describe_instances(
        ecs_models.DescribeInstancesRequest(region_id=REGION, max_results=100)
    ).body
    return [instance.instance_id for instance in body.instances.instance]


def test_each_role_sees_only_its_account(sim: Simulator) -> None:
    prod = assume(sim, "prod", "ecs-reboot-bot")
    assert prod["AssumedRoleUser"]["Arn"] == (
        f"acs:ram::{member_account_id('prod')}:role/ecs-reboot-bot/ecs-reboot-bot"
    )
    staging = assume(sim, "staging", "ecs-reboot-bot")
    prod_ids = sim.fleet_of("prod").ids(REGION)
    staging_ids = sim.fleet_of("staging").ids(REGION)
    home_ids = sim.fleet.ids(REGION)
    assert len({*prod_ids, *staging_ids, *home_ids}) == 12  # ids are unique across accounts
    assert ids_seen(ecs_as(sim, prod["Credentials"])) == prod_ids
    assert ids_seen(ecs_as(sim, staging["Credentials"])) == staging_ids
    assert ids_seen(sdk(sim)) == home_ids
    # Another account's instance does not exist for this one.
    with pytest.raises(SdkError) as raised:
        ecs_as(sim, prod["Credentials"]).reboot_instances(
            ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[staging_ids[0]])
        )
    assert raised.value.code == "InvalidInstanceId.NotFound"
    assert sim.fleet_of("staging").reboot_count(REGION, staging_ids[0]) == 0


def test_every_call_records_account_and_session_name(sim: Simulator, http: httpx.Client) -> None:
    reader = ecs_as(sim, assume(sim, "prod", "ecs-reboot-bot")["Credentials"])
    actor = ecs_as(sim, assume(sim, "prod", "slack-U0CONFIRM")["Credentials"])
    target = sim.fleet_of("prod").ids(REGION)[0]
    ids_seen(reader)
    actor.reboot_instances(
        ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[target])
    )
    assert sim.fleet_of("prod").reboot_count(REGION, target) == 1
    assert sim.fleet.reboot_counts(REGION) == {}
    ids_seen(sdk(sim))
    recorded = [(c.action, c.account, c.session_name) for c in sim.calls.all()]
    assert recorded == [
        ("AssumeRole", "home", None),
        ("AssumeRole", "home", None),
        ("DescribeInstances", "prod", "ecs-reboot-bot"),
        ("RebootInstances", "prod", "slack-U0CONFIRM"),
        ("DescribeInstances", "home", None),
    ]
    listed = http.get("/_sim/calls", params={"session_name": "slack-U0CONFIRM"}).json()["calls"]
    assert [(c["action"], c["account"], c["ids"]) for c in listed] == [
        ("RebootInstances", "prod", [target])
    ]
    assert len(http.get("/_sim/calls", params={"account": "prod"}).json()["calls"]) == 2
    reboots = http.get("/_sim/reboots", params={"account": "prod"}).json()["reboots"]
    assert reboots == {REGION: {target: 1}}


def test_a_missing_or_distrusting_role_is_refused_with_sts_codes(
    sim: Simulator, http: httpx.Client
) -> None:
    answer = http.patch("/_sim/accounts/staging", json={"role_exists": False})
    assert answer.json()["role_exists"] is False
    with pytest.raises(SdkError) as raised:
        assume(sim, "staging", "ecs-reboot-bot")
    assert (raised.value.code, raised.value.status_code) == ("EntityNotExist.Role", 404)
    http.patch("/_sim/accounts/staging", json={"role_exists": True, "trusted_account_ids": []})
    with pytest.raises(SdkError) as raised:
        assume(sim, "staging", "ecs-reboot-bot")
    assert (raised.value.code, raised.value.status_code) == ("NoPermission", 403)
    # A session of prod's role is not the home account that staging's role trusts.
    http.patch("/_sim/accounts/staging", json={"trusted_account_ids": [HOME_ACCOUNT_ID]})
    prod = assume(sim, "prod", "ecs-reboot-bot")["Credentials"]
    with pytest.raises(SdkError) as raised:
        assume(
            sim,
            "staging",
            "hop",
            key_id=prod["AccessKeyId"],
            secret=prod["AccessKeySecret"],
            token=prod["SecurityToken"],
        )
    assert raised.value.code == "NoPermission"
    assert assume(sim, "staging", "ecs-reboot-bot")["Credentials"]["AccessKeyId"]
    listed = http.get("/_sim/accounts").json()["accounts"]
    assert listed["staging"] == {
        "account_id": member_account_id("staging"),
        "role_arn": sim.role_arn("staging"),
        "role_exists": True,
        "trusted_account_ids": [HOME_ACCOUNT_ID],
    }


def test_temporary_keys_of_a_member_expire(sim: Simulator, clock: ManualClock) -> None:
    query = {"RoleArn": sim.role_arn("prod"), "RoleSessionName": "bot", "DurationSeconds": "900"}
    client = ecs_as(sim, sts_call_as(sim, query)["Credentials"])
    assert ids_seen(client)
    clock.advance(900)  # the expiry, and still within the SDK's timestamp window
    with pytest.raises(SdkError) as raised:
        ids_seen(client)
    assert raised.value.code == "InvalidSecurityToken.Expired"


def test_admin_instances_take_the_account(sim: Simulator, http: httpx.Client) -> None:
    added = http.post(
        "/_sim/instances", json={"account": "prod", "region": REGION, "name": "extra"}
    )
    assert added.status_code == 201
    instance_id = added.json()["instance_id"]
    assert instance_id in sim.fleet_of("prod").ids(REGION)
    assert http.get(f"/_sim/instances/{REGION}/{instance_id}").status_code == 404
    got = http.get(f"/_sim/instances/{REGION}/{instance_id}", params={"account": "prod"})
    assert got.json()["name"] == "extra"
    patched = http.patch(
        f"/_sim/instances/{REGION}/{instance_id}",
        params={"account": "prod"},
        json={"status": "Stopped"},
    )
    assert patched.json()["status"] == "Stopped"
    state = http.get("/_sim/state", params={"account": "staging"}).json()
    assert [i["instance_id"] for i in state["regions"][REGION]] == sim.fleet_of("staging").ids(
        REGION
    )
    assert http.get("/_sim/state", params={"account": "nope"}).status_code == 400
    assert (
        http.post("/_sim/instances", json={"account": "nope", "region": REGION}).status_code == 400
    )


def test_describe_names_the_accounts(sim: Simulator) -> None:
    info = sim.describe()
    assert info["home_account_id"] == HOME_ACCOUNT_ID
    assert set(info["accounts"]) == {"prod", "staging"}
    assert info["accounts"]["prod"]["role_arn"] == (
        f"acs:ram::{member_account_id('prod')}:role/ecs-reboot-bot"
    )
    assert info["accounts"]["prod"]["instances"] == {REGION: sim.fleet_of("prod").ids(REGION)}
    with Simulator(instances_per_region=1) as plain:
        assert "accounts" not in plain.describe()


def test_account_names_are_checked() -> None:
    assert parse_account_names("prod, staging") == ["prod", "staging"]
    for bad in ("Prod", "home", "prod,prod", "-x", "a" * 32):
        with pytest.raises(ValueError, match=r"account|distinct"):
            parse_account_names(bad)


def test_command_prints_accounts_and_refuses_bad_names() -> None:
    with simulator_command("--json", "--instances", "2", "--accounts", "prod,staging") as run:
        info = json.loads(run.readline())
        assert set(info["accounts"]) == {"prod", "staging"}
        prod = info["accounts"]["prod"]
        assert len(prod["instances"]["cn-hangzhou"]) == 2
        body = httpx.get(f"{info['endpoint']}/_sim/accounts", timeout=5).json()
        assert body["accounts"]["prod"]["role_arn"] == prod["role_arn"]
    with simulator_command("--accounts", "Bad Name") as run:
        run.process.wait(timeout=10)
    assert run.process.returncode == 2
    assert "--accounts" in run.stderr

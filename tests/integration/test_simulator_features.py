"""The simulator's newer surface over real HTTP: DescribeInstances filters and
NextToken, DescribeCloudAssistantStatus, lock and RAM refusals, lost answers, the
admin routes, the CLI flags and STS. The official SDK is the oracle where it has the
call; STS goes through the SDK's generic ``call_api`` (RPC, 2015-04-01)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions

from bot.simulator import ManualClock, Simulator
from bot.simulator.sts import DEFAULT_OIDC_PROVIDER_ARN, DEFAULT_ROLE_ARN
from tests.integration.test_simulator import (
    assert_error,
    call,
    printed_sdk,
    reboot_params,
    sdk,
    signed_v3,
    simulator_command,
    status_of,
)

REGION = "cn-hangzhou"
SdkError = (ClientException, ServerException)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[Simulator]:
    with Simulator(regions=(REGION,), instances_per_region=60, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.endpoint, timeout=5) as client:
        yield client


def jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


# --- DescribeInstances filters --------------------------------------------------------------


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_sdk_describe_by_tag_and_name_pages_with_next_token(sim: Simulator, v1: bool) -> None:
    client = sdk(sim, v1=v1)
    seen: list[str] = []
    token = None
    while True:
        request = ecs_models.DescribeInstancesRequest(
            region_id=REGION,
            tag=[ecs_models.DescribeInstancesRequestTag(key="app", value="web")],
            instance_name="web-*",
            max_results=7,
            next_token=token,
        )
        body = client.describe_instances(request).body
        assert body.total_count == 20
        seen += [i.instance_id for i in body.instances.instance]
        for instance in body.instances.instance:
            assert instance.instance_name.startswith("web-")
            assert {(t.tag_key, t.tag_value) for t in instance.tags.tag} >= {("app", "web")}
        token = body.next_token
        if not token:
            break
    assert seen == sim.fleet.ids(REGION)[:20]


def test_sdk_describe_filters_combine(sim: Simulator) -> None:
    ids = sim.fleet.ids(REGION)
    body = (
        sdk(sim)
        .describe_instances(
            ecs_models.DescribeInstancesRequest(
                region_id=REGION,
                instance_ids=json.dumps([ids[0], ids[25], ids[45]]),
                tag=[ecs_models.DescribeInstancesRequestTag(key="app")],  # any value
                instance_name="*-0*",
            )
        )
        .body
    )
    names = {i.instance_id: i.instance_name for i in body.instances.instance}
    assert names == {ids[0]: "web-01", ids[25]: "api-06", ids[45]: "db-06"}
    none = (
        sdk(sim)
        .describe_instances(
            ecs_models.DescribeInstancesRequest(
                region_id=REGION,
                tag=[
                    ecs_models.DescribeInstancesRequestTag(key="app", value="web"),
                    ecs_models.DescribeInstancesRequestTag(key="app", value="db"),
                ],
            )
        )
        .body
    )
    assert none.total_count == 0


def test_locks_and_ram_denied_show_in_describe(sim: Simulator, http: httpx.Client) -> None:
    a, b = sim.fleet.ids(REGION)[:2]
    sim.fleet.update(REGION, a, locks=["recycling", "security"])
    sim.fleet.update(REGION, b, ram_denied=True)
    status, body = call(
        http, sim, "DescribeInstances", {"RegionId": REGION, "InstanceIds": json.dumps([a, b])}
    )
    assert status == 200
    found = {i["InstanceId"]: i for i in body["Instances"]["Instance"]}
    assert found[a]["OperationLocks"]["LockReason"] == [
        {"LockReason": "recycling"},
        {"LockReason": "security"},
    ]
    assert found[b]["OperationLocks"]["LockReason"] == []


# --- RebootInstances refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"ram_denied": True}, "Forbidden.RAM"),
        ({"locks": ["financial"]}, "InstanceExpiredOrInArrears"),
        ({"locks": ["security"]}, "InstanceLockedForSecurity"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_sdk_all_together_refusals(
    sim: Simulator, setup: dict[str, Any], code: str, dry_run: bool
) -> None:
    good, bad = sim.fleet.ids(REGION)[:2]
    sim.fleet.update(REGION, bad, **setup)
    request = ecs_models.RebootInstancesRequest(
        region_id=REGION, instance_id=[good, bad], dry_run=dry_run
    )
    with pytest.raises(SdkError) as raised:
        sdk(sim).reboot_instances(request)
    assert (raised.value.code, raised.value.status_code) == (code, 403)
    assert sim.fleet.reboot_count(REGION, good) == 0


def test_sdk_success_first_with_a_ram_denied_and_a_locked_instance(sim: Simulator) -> None:
    good, denied, locked = sim.fleet.ids(REGION)[:3]
    sim.fleet.update(REGION, denied, ram_denied=True)
    sim.fleet.update(REGION, locked, expired=True)
    body = (
        sdk(sim)
        .reboot_instances(
            ecs_models.RebootInstancesRequest(
                region_id=REGION,
                instance_id=[good, denied, locked],
                batch_optimization="SuccessFirst",
            )
        )
        .body
    )
    codes = {r.instance_id: r.code for r in body.instance_responses.instance_response}
    assert codes == {
        good: "200",
        denied: "Forbidden.RAM",
        locked: "InstanceExpiredOrInArrears",
    }
    assert sim.fleet.reboot_counts(REGION) == {good: 1}


# --- DescribeCloudAssistantStatus -----------------------------------------------------------


def test_sdk_cloud_assistant_status_across_a_reboot(sim: Simulator, clock: ManualClock) -> None:
    with_agent = next(
        v for v in sim.fleet.page(REGION, 0, 60) if v.cloud_assistant and v.status == "Running"
    )
    without = sim.fleet.add_instance(REGION, cloud_assistant=False)
    target = with_agent.instance_id

    def statuses() -> dict[str, Any]:
        request = ecs_models.DescribeCloudAssistantStatusRequest(
            region_id=REGION, instance_id=[target, without]
        )
        body = sdk(sim).describe_cloud_assistant_status(request).body
        assert body.total_count == 2
        items = body.instance_cloud_assistant_status_set.instance_cloud_assistant_status
        return {item.instance_id: item for item in items}

    before = statuses()
    assert before[target].cloud_assistant_status == "true"
    assert before[target].cloud_assistant_version
    assert before[target].ostype in ("Linux", "Windows")
    assert before[without].cloud_assistant_status == "false"
    assert before[without].last_heartbeat_time is None
    rebooted_at = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    sdk(sim).reboot_instances(
        ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[target])
    )
    clock.advance(1)
    assert statuses()[target].cloud_assistant_status == "false"
    clock.advance(4)  # Running again; the agent needs 2 s more
    assert status_of(sim, target) == "Running"
    assert statuses()[target].cloud_assistant_status == "false"
    clock.advance(2)
    after = statuses()[target]
    assert after.cloud_assistant_status == "true"
    assert after.last_heartbeat_time > rebooted_at


def test_sdk_cloud_assistant_status_pages(sim: Simulator) -> None:
    seen: list[str] = []
    token = None
    while True:
        body = (
            sdk(sim)
            .describe_cloud_assistant_status(
                ecs_models.DescribeCloudAssistantStatusRequest(
                    region_id=REGION, max_results=50, next_token=token
                )
            )
            .body
        )
        status_set = body.instance_cloud_assistant_status_set
        seen += [s.instance_id for s in status_set.instance_cloud_assistant_status]
        token = body.next_token
        if not token:
            break
    assert seen == sim.fleet.ids(REGION)


# --- lost answers -------------------------------------------------------------------------------


def test_hang_then_drop_applies_nothing(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.hang_then_drop("RebootInstances", seconds=0.3)
    instance_id = sim.fleet.ids(REGION)[0]
    started = time.monotonic()
    with pytest.raises(httpx.TransportError):
        http.send(signed_v3(sim, reboot_params(instance_id)))
    assert time.monotonic() - started >= 0.3
    assert sim.fleet.reboot_count(REGION, instance_id) == 0
    assert sim.calls.all()[-1].code == "ConnectionDropped"


def test_a_slow_answer_after_the_effect_times_the_client_out(sim: Simulator) -> None:
    sim.faults.timeout_after_apply("RebootInstances", mode="slow", seconds=1.0)
    instance_id = sim.fleet.ids(REGION)[0]
    with httpx.Client(timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.send(signed_v3(sim, reboot_params(instance_id)))
    assert sim.fleet.reboot_count(REGION, instance_id) == 1
    assert status_of(sim, instance_id) == "Stopping"


def test_in_flight_reboot_races_a_second_call(
    sim: Simulator, http: httpx.Client, clock: ManualClock
) -> None:
    sim.faults.in_flight("RebootInstances", delay=5)
    instance_id = sim.fleet.ids(REGION)[0]
    response = http.send(signed_v3(sim, reboot_params(instance_id)))
    assert_error(response.status_code, response.json(), 500, "InternalError")
    assert status_of(sim, instance_id) == "Running"  # not yet
    again = http.send(signed_v3(sim, reboot_params(instance_id)))  # the bot's retry
    assert again.status_code == 200
    assert sim.fleet.reboot_count(REGION, instance_id) == 2
    assert sim.calls.of("RebootInstances")[0].applied


def test_in_flight_reboot_leaves_running_after_the_delay(
    sim: Simulator, http: httpx.Client, clock: ManualClock
) -> None:
    http.post("/_sim/faults", json={"kind": "in_flight", "delay": 3, "mode": "drop"})
    instance_id = sim.fleet.ids(REGION)[0]
    with pytest.raises(httpx.TransportError):
        http.send(signed_v3(sim, reboot_params(instance_id)))
    clock.advance(2.5)
    assert status_of(sim, instance_id) == "Running"
    clock.advance(1)
    assert status_of(sim, instance_id) == "Stopping"


# --- admin routes -------------------------------------------------------------------------------


def test_admin_patch_get_instance_and_reboot_counts(sim: Simulator, http: httpx.Client) -> None:
    instance_id = sim.fleet.ids(REGION)[0]
    path = f"/_sim/instances/{REGION}/{instance_id}"
    patched = http.patch(
        path,
        json={
            "locks": ["financial"],
            "ram_denied": True,
            "name": "renamed-01",
            "tags": {"app": "legacy"},
            "cloud_assistant": False,
        },
    )
    assert patched.status_code == 200, patched.text
    got = http.get(path).json()
    assert got["lock_reasons"] == ["financial"]
    assert got["expired"]
    assert got["ram_denied"]
    assert (got["name"], got["tags"]) == ("renamed-01", {"app": "legacy"})
    assert not got["cloud_assistant"]
    assert http.patch(path, json={"colour": "red"}).status_code == 400
    assert http.patch(path, json={"locks": ["sleepy"]}).status_code == 400
    missing = f"/_sim/instances/{REGION}/i-bp1unknown0000000000"
    assert http.get(missing).status_code == 404
    assert http.patch(missing, json={"status": "Stopped"}).status_code == 404

    http.patch(path, json={"locks": [], "ram_denied": False})
    assert call(http, sim, "RebootInstances", reboot_params(instance_id))[0] == 200
    assert http.get("/_sim/reboots").json() == {"reboots": {REGION: {instance_id: 1}}}
    assert http.get(path).json()["reboot_count"] == 1
    old_style = http.post(
        "/_sim/instances",
        json={"region": REGION, "instance_id": instance_id, "update": True, "ram_denied": True},
    )
    assert old_style.json()["ram_denied"]


def test_admin_patch_sets_when_an_instance_last_started(sim: Simulator, http: httpx.Client) -> None:
    instance_id = sim.fleet.ids(REGION)[0]
    path = f"/_sim/instances/{REGION}/{instance_id}"
    patched = http.patch(path, json={"start_time": "2026-12-08T10:00:42+00:00"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["start_time"] == "2026-12-08T10:00:42+00:00"
    status, body = call(
        http, sim, "DescribeInstances", {"RegionId": REGION, "InstanceIds": f'["{instance_id}"]'}
    )
    assert status == 200
    # ECS's minute precision, in the API; the admin view keeps the second.
    assert body["Instances"]["Instance"][0]["StartTime"] == "2026-12-08T10:00Z"
    for bad in ("2026-12-08T10:00:42", "yesterday", 1700000000):
        assert http.patch(path, json={"start_time": bad}).status_code == 400, bad


def test_admin_sts_settings_and_credentials(sim: Simulator, http: httpx.Client) -> None:
    settings = http.get("/_sim/sts").json()
    assert settings["role_arns"] == [DEFAULT_ROLE_ARN]
    assert settings["oidc_tokens"] is None
    changed = http.post(
        "/_sim/sts", json={"role_arns": ["acs:ram::1:role/other"], "oidc_tokens": ["a.b.c"]}
    ).json()
    assert changed["role_arns"] == ["acs:ram::1:role/other"]
    assert changed["oidc_tokens"] == ["a.b.c"]
    assert http.post("/_sim/sts", json={"oidc_tokens": None}).json()["oidc_tokens"] is None
    assert http.post("/_sim/sts", json={"colour": 1}).status_code == 400
    issued = http.post("/_sim/sts/credentials", json={"duration_seconds": 900})
    assert issued.status_code == 201
    keys = issued.json()
    client = sdk(
        sim,
        key_id=keys["access_key_id"],
        secret=keys["access_key_secret"],
        token=keys["security_token"],
    )
    response = client.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION))
    assert response.body.total_count == 60


# --- STS over HTTP ---------------------------------------------------------------------------


def sts_call(
    sim: Simulator, action: str, query: dict[str, str], *, anonymous: bool = False
) -> dict[str, Any]:
    """One STS call through the official SDK's generic RPC client (V3-signed)."""
    config = Config(
        access_key_id=None if anonymous else sim.access_key_id,
        access_key_secret=None if anonymous else sim.access_key_secret,
        endpoint=sim.address,
        protocol="HTTP",
    )
    params = open_api_models.Params(
        action=action,
        version="2015-04-01",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="Anonymous" if anonymous else "AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_models.OpenApiRequest(query=query)
    response = OpenApiClient(config).call_api(params, request, RuntimeOptions())
    body = response["body"]
    assert isinstance(body, dict)
    return body


def test_sts_assume_role_keys_reach_ecs_until_they_expire(
    sim: Simulator, clock: ManualClock
) -> None:
    body = sts_call(
        sim,
        "AssumeRole",
        {"RoleArn": DEFAULT_ROLE_ARN, "RoleSessionName": "ecs-bot", "DurationSeconds": "900"},
    )
    credentials = body["Credentials"]
    assert credentials["AccessKeyId"].startswith("STS.")
    assert credentials["Expiration"].endswith("Z")
    assert body["AssumedRoleUser"]["Arn"].endswith("/ecs-bot")
    assert ":ecs-bot" in body["AssumedRoleUser"]["AssumedRoleId"]
    assert [c.action for c in sim.calls.all()] == ["AssumeRole"]
    for v1 in (False, True):
        client = sdk(
            sim,
            v1=v1,
            key_id=credentials["AccessKeyId"],
            secret=credentials["AccessKeySecret"],
            token=credentials["SecurityToken"],
        )
        assert (
            client.describe_instances(
                ecs_models.DescribeInstancesRequest(region_id=REGION)
            ).body.total_count
            == 60
        )
    wrong = sdk(
        sim,
        key_id=credentials["AccessKeyId"],
        secret=credentials["AccessKeySecret"],
        token="CAISwrong",
    )
    with pytest.raises(SdkError) as raised:
        wrong.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION))
    assert raised.value.code == "InvalidSecurityToken.Mismatch"
    clock.advance(900)  # the expiry, and still within the SDK's timestamp window
    with pytest.raises(SdkError) as raised:
        client.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION))
    assert raised.value.code == "InvalidSecurityToken.Expired"


def test_sts_errors_come_as_sts_answers_them(sim: Simulator) -> None:
    with pytest.raises(SdkError) as raised:
        sts_call(sim, "AssumeRole", {"RoleArn": "acs:ram::1:role/nobody", "RoleSessionName": "bot"})
    assert (raised.value.code, raised.value.status_code) == ("EntityNotExist.Role", 404)
    with pytest.raises(SdkError) as raised:
        sts_call(sim, "AssumeRole", {"RoleArn": DEFAULT_ROLE_ARN, "RoleSessionName": "bot"}
                 | {"DurationSeconds": "7200"})  # fmt: skip
    assert raised.value.code == "InvalidParameter.DurationSeconds"


def test_sts_assume_role_with_oidc_is_anonymous(sim: Simulator) -> None:
    token = jwt({"sub": "system:serviceaccount:ops:ecs-bot", "iss": "https://oidc.example"})
    query = {
        "RoleArn": DEFAULT_ROLE_ARN,
        "OIDCProviderArn": DEFAULT_OIDC_PROVIDER_ARN,
        "OIDCToken": token,
        "RoleSessionName": "pod-7",
    }
    body = sts_call(sim, "AssumeRoleWithOIDC", query, anonymous=True)
    assert body["Credentials"]["AccessKeyId"].startswith("STS.")
    assert body["OIDCTokenInfo"]["Subject"] == "system:serviceaccount:ops:ecs-bot"
    recorded = sim.calls.of("AssumeRoleWithOIDC")[0]
    assert recorded.params["OIDCToken"] == "***"
    assert recorded.signature_version is None
    sim.sts.configure(oidc_tokens=["another.token.here"])
    with pytest.raises(SdkError) as raised:
        sts_call(sim, "AssumeRoleWithOIDC", query, anonymous=True)
    assert raised.value.code == "AuthenticationFail.OIDCToken.InvalidSignature"
    with pytest.raises(SdkError) as raised:
        sts_call(sim, "AssumeRoleWithOIDC", query | {"OIDCToken": "x"}, anonymous=True)
    assert raised.value.code == "AuthenticationFail.OIDCToken.Invalid"


def test_assume_role_needs_a_signature(sim: Simulator) -> None:
    with pytest.raises(SdkError) as raised:
        sts_call(
            sim,
            "AssumeRole",
            {"RoleArn": DEFAULT_ROLE_ARN, "RoleSessionName": "bot"},
            anonymous=True,
        )
    assert raised.value.code == "MissingParameter"


# --- the command line -----------------------------------------------------------------------


def test_cli_special_instances_in_json_and_text() -> None:
    with simulator_command(
        "--json",
        "--instances",
        "6",
        "--regions",
        "cn-hangzhou,cn-shanghai",
        "--locked",
        "1",
        "--in-arrears",
        "2",
        "--ram-denied",
        "1",
    ) as simulator:
        info = json.loads(simulator.readline())
        ids = info["instances"]["cn-hangzhou"]
        assert info["special"] == {
            "locked": ids[:1],
            "in_arrears": ids[1:3],
            "ram_denied": ids[3:4],
        }
        with httpx.Client(base_url=info["endpoint"], timeout=5) as client:
            state = client.get(f"/_sim/instances/cn-hangzhou/{ids[3]}").json()
            assert state["ram_denied"]
            assert client.get(f"/_sim/instances/cn-hangzhou/{ids[0]}").json()["security_lock"]
        with pytest.raises(SdkError) as raised:
            printed_sdk(info, "cn-hangzhou").reboot_instances(
                ecs_models.RebootInstancesRequest(region_id="cn-hangzhou", instance_id=[ids[1]])
            )
        assert raised.value.code == "InstanceExpiredOrInArrears"
    assert simulator.process.returncode == 0, simulator.stderr


def test_cli_text_output_lists_special_instances() -> None:
    with simulator_command("--instances", "3", "--locked", "2") as simulator:
        lines = [simulator.readline() for _ in range(8)]
    ids = [line.strip() for line in lines if line.strip().startswith("i-")]
    assert f"  locked: {ids[0]} {ids[1]}\n" in lines


def test_cli_refuses_more_special_instances_than_it_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.simulator import cli

    with pytest.raises(SystemExit):
        cli.main(["--locked", "2", "--ram-denied", "2", "--instances", "3", "--port", "0"])
    assert "special instances" in capsys.readouterr().err

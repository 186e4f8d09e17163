"""The simulator's fleet features, pure: locks, RAM denial, filters, the Cloud
Assistant agent, reboots still in flight, and STS credentials. No HTTP, no sleeping."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest

from bot.simulator import ApiError, Faults, Fleet, ManualClock, StsService
from bot.simulator.api import EcsApi, tag_filters
from bot.simulator.assistant import describe_cloud_assistant_status
from bot.simulator.faults import add_from_json
from bot.simulator.fleet import name_matcher
from bot.simulator.sts import DEFAULT_OIDC_PROVIDER_ARN, DEFAULT_ROLE_ARN

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HZ = "cn-hangzhou"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def fleet(clock: ManualClock) -> Fleet:
    fleet = Fleet((HZ,), clock=clock, seed=3)
    fleet.populate(HZ, 60)
    return fleet


def jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2lnbmF0dXJl"


# --- locks and RAM ------------------------------------------------------------------------


def test_lock_reasons_and_the_old_flags(fleet: Fleet) -> None:
    instance_id = fleet.ids(HZ)[0]
    view = fleet.update(HZ, instance_id, locks=["recycling"], security_lock=True)
    assert view.lock_reasons == ("recycling", "security")
    assert view.security_lock
    assert not view.expired
    view = fleet.update(HZ, instance_id, security_lock=False, expired=True)
    assert view.lock_reasons == ("recycling", "financial")
    assert view.expired
    added = fleet.add_instance(HZ, locks=["refunded"], expired=True, ram_denied=True)
    view2 = fleet.get(HZ, added)
    assert view2 is not None
    assert view2.lock_reasons == ("refunded", "financial")
    assert view2.ram_denied
    with pytest.raises(ValueError, match="unknown lock"):
        fleet.update(HZ, instance_id, locks=["sleepy"])


@pytest.mark.parametrize(
    ("locks", "code"),
    [
        (["security"], "InstanceLockedForSecurity"),
        (["financial"], "InstanceExpiredOrInArrears"),
        (["dedicatedhostfinancial"], "InstanceExpiredOrInArrears"),
        (["recycling"], "InstanceExpiredOrInArrears"),
        (["refunded"], "IncorrectInstanceStatus"),
        (["financial", "security"], "InstanceLockedForSecurity"),
    ],
)
def test_each_lock_refuses_the_reboot(fleet: Fleet, locks: list[str], code: str) -> None:
    api = EcsApi(fleet)
    instance_id = fleet.ids(HZ)[0]
    fleet.update(HZ, instance_id, locks=locks)
    with pytest.raises(ApiError) as refused:
        api.call("RebootInstances", {"RegionId": HZ, "InstanceId.1": instance_id})
    assert (refused.value.status, refused.value.code) == (403, code)
    assert fleet.reboot_count(HZ, instance_id) == 0


def test_ram_denied_refuses_reboots_but_describe_shows_it(fleet: Fleet) -> None:
    api = EcsApi(fleet)
    denied, fine = fleet.ids(HZ)[:2]
    fleet.update(HZ, denied, ram_denied=True)
    for dry in ("false", "true"):
        with pytest.raises(ApiError) as refused:
            api.call(
                "RebootInstances",
                {"RegionId": HZ, "InstanceId.1": fine, "InstanceId.2": denied, "DryRun": dry},
            )
        assert (refused.value.status, refused.value.code) == (403, "Forbidden.RAM")
        assert "not authorized" in refused.value.message
    body = api.call(
        "RebootInstances",
        {
            "RegionId": HZ,
            "InstanceId.1": fine,
            "InstanceId.2": denied,
            "BatchOptimization": "SuccessFirst",
        },
    )
    codes = {r["InstanceId"]: r["Code"] for r in body["InstanceResponses"]["InstanceResponse"]}
    assert codes == {fine: "200", denied: "Forbidden.RAM"}
    shown = api.call("DescribeInstances", {"RegionId": HZ, "InstanceIds": json.dumps([denied])})
    assert [i["InstanceId"] for i in shown["Instances"]["Instance"]] == [denied]


# --- generated fleet and filters -------------------------------------------------------------


def test_generated_tags_names_and_zones(fleet: Fleet) -> None:
    views = fleet.page(HZ, 0, 60)
    assert [v.name for v in views[:2]] == ["web-01", "web-02"]
    assert all(v.tags["app"] == v.name.split("-")[0] for v in views)
    assert len({v.zone for v in views[:2]}) == 2
    assert len({v.zone for v in views}) >= 2
    assert {v.tags["app"] for v in views} == {"web", "api", "db"}
    without_agent = [v for v in views if not v.cloud_assistant]
    assert 0 < len(without_agent) < 20  # about 10 %


def test_find_by_tag_name_and_ids(fleet: Fleet) -> None:
    ids = fleet.ids(HZ)
    web = fleet.find(HZ, tags=[("app", "web")])
    assert web == ids[:20]
    assert fleet.find(HZ, tags=[("app", None)]) == ids
    assert fleet.find(HZ, tags=[("app", "web"), ("app", "api")]) == []
    assert fleet.find(HZ, tags=[("nope", None)]) == []
    assert fleet.find(HZ, name="web-0*") == ids[:9]
    assert fleet.find(HZ, name="*-01") == [ids[0], ids[20], ids[40]]
    assert fleet.find(HZ, name="web-01") == [ids[0]]
    assert fleet.find(HZ, name="web") == []
    picked = [ids[25], ids[3], "i-bp1unknown0000000000"]
    assert fleet.find(HZ, instance_ids=picked, tags=[("app", "web")]) == [ids[3]]
    prod_web = fleet.find(HZ, tags=[("app", "web"), ("env", "prod")], name="web-*")
    assert prod_web
    for instance_id in prod_web:
        view = fleet.get(HZ, instance_id)
        assert view is not None
        assert (view.tags["app"], view.tags["env"]) == ("web", "prod")
    fleet.update(HZ, ids[0], tags={"app": "legacy"}, name="old-box")
    assert ids[0] not in fleet.find(HZ, tags=[("app", "web")])
    assert fleet.find(HZ, tags=[("app", "legacy")], name="old-*") == [ids[0]]


def test_name_matcher_is_literal_but_for_the_star() -> None:
    assert name_matcher("a.b*")("a.bc")
    assert not name_matcher("a.b*")("axbc")
    assert name_matcher("*")("")
    assert not name_matcher("web-0?")("web-01")


def test_tag_filter_parameters() -> None:
    params = {"Tag.1.Key": "app", "Tag.1.Value": "web", "Tag.2.Key": "env"}
    assert tag_filters(params) == [("app", "web"), ("env", None)]
    with pytest.raises(ApiError):
        tag_filters({"Tag.21.Key": "x"})
    with pytest.raises(ApiError):
        tag_filters({"Tag.1.Value": "web"})


def test_filters_are_fast_over_ten_thousand_instances(clock: ManualClock) -> None:
    fleet = Fleet((HZ,), clock=clock)
    fleet.populate(HZ, 10_000)
    api = EcsApi(fleet)
    started = time.perf_counter()
    token = ""
    pages = 0
    while True:
        params = {"RegionId": HZ, "Tag.1.Key": "app", "Tag.1.Value": "web", "MaxResults": "100"}
        if token:
            params["NextToken"] = token
        body = api.call("DescribeInstances", params)
        pages += 1
        token = body["NextToken"]
        if not token:
            break
    by_name = api.call("DescribeInstances", {"RegionId": HZ, "InstanceName": "db-1*"})
    elapsed = time.perf_counter() - started
    assert pages == 10  # 2,000 web instances, capped at the first 1,000
    assert body["TotalCount"] == 1000
    assert by_name["TotalCount"] == 1000  # db-10 … db-19 in each block of 100
    assert elapsed < 5


# --- the Cloud Assistant agent --------------------------------------------------------------


def test_agent_goes_offline_during_a_reboot_and_heartbeats_after(
    clock: ManualClock,
) -> None:
    fleet = Fleet((HZ,), clock=clock, agent_seconds=2)
    instance_id = fleet.add_instance(HZ, cloud_assistant=True)
    before = fleet.get(HZ, instance_id)
    assert before is not None
    assert before.agent_online
    assert before.last_heartbeat == T0
    clock.advance(10)
    rebooted_at = clock.now()
    fleet.reboot(HZ, [instance_id])
    seen = []
    for step in (0, 2, 3, 1, 1):  # Stopping, Starting, Running, +1 s, +2 s
        clock.advance(step)
        view = fleet.get(HZ, instance_id)
        assert view is not None
        seen.append((view.status, view.agent_online))
        if not view.agent_online:
            assert view.last_heartbeat is not None
            assert view.last_heartbeat <= rebooted_at
    assert seen == [
        ("Stopping", False),
        ("Starting", False),
        ("Running", False),
        ("Running", False),
        ("Running", True),
    ]
    view = fleet.get(HZ, instance_id)
    assert view is not None
    assert view.last_heartbeat is not None
    assert view.last_heartbeat > rebooted_at


def test_never_returning_instance_never_heartbeats_and_no_agent_never_does(
    clock: ManualClock,
) -> None:
    fleet = Fleet((HZ,), clock=clock)
    lost = fleet.add_instance(HZ, never_returns=True, cloud_assistant=True)
    bare = fleet.add_instance(HZ, cloud_assistant=False)
    fleet.reboot(HZ, [lost])
    clock.advance(3600)
    view = fleet.get(HZ, lost)
    assert view is not None
    assert not view.agent_online
    assert view.last_heartbeat is not None
    assert view.last_heartbeat <= T0
    body = describe_cloud_assistant_status(
        fleet, HZ, {"RegionId": HZ, "InstanceId.1": bare, "InstanceId.2": lost}
    )
    statuses = body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
    assert [(s["InstanceId"], s["CloudAssistantStatus"]) for s in statuses] == [
        (bare, "false"),
        (lost, "false"),
    ]
    assert "LastHeartbeatTime" not in statuses[0]
    assert body["TotalCount"] == 2


def test_cloud_assistant_status_paging_and_limits(fleet: Fleet) -> None:
    params = {"RegionId": HZ, "MaxResults": "25"}
    seen: list[str] = []
    while True:
        body = describe_cloud_assistant_status(fleet, HZ, params)
        seen += [
            s["InstanceId"]
            for s in body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
        ]
        if not body["NextToken"]:
            break
        params["NextToken"] = body["NextToken"]
    assert seen == fleet.ids(HZ)
    windows = describe_cloud_assistant_status(
        fleet, HZ, {"RegionId": HZ, "OSType": "windows", "PageSize": "50"}
    )
    items = windows["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
    assert all(s["OSType"] == "Windows" for s in items)
    assert windows["TotalCount"] == len(items)
    too_many = {f"InstanceId.{n}": f"i-bp1many{n:012d}" for n in range(1, 52)}
    with pytest.raises(ApiError):
        describe_cloud_assistant_status(fleet, HZ, {"RegionId": HZ, **too_many})
    with pytest.raises(ApiError):
        describe_cloud_assistant_status(fleet, HZ, {"RegionId": HZ, "MaxResults": "51"})
    with pytest.raises(ApiError):
        describe_cloud_assistant_status(fleet, HZ, {"RegionId": HZ, "OSType": "BeOS"})


# --- reboots still in flight -----------------------------------------------------------------


def test_a_delayed_reboot_leaves_running_later(fleet: Fleet, clock: ManualClock) -> None:
    instance_id = fleet.ids(HZ)[0]
    [(_, previous, current)] = fleet.reboot(HZ, [instance_id], delay=4)
    assert (previous, current) == ("Running", "Running")
    assert fleet.reboot_count(HZ, instance_id) == 1
    clock.advance(3.9)
    view = fleet.get(HZ, instance_id)
    assert view is not None
    assert view.status == "Running"
    clock.advance(0.2)
    view = fleet.get(HZ, instance_id)
    assert view is not None
    assert view.status == "Stopping"
    assert fleet.reboot_counts(HZ) == {instance_id: 1}


def test_new_fault_kinds_check_their_arguments() -> None:
    faults = Faults()
    assert faults.hang_then_drop("RebootInstances", seconds=1).seconds == 1
    assert faults.timeout_after_apply(mode="slow").seconds == 5
    assert faults.in_flight(delay=3).delay == 3
    with pytest.raises(ValueError, match="mode"):
        faults.timeout_after_apply(mode="lost")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        faults.in_flight(mode="slow")
    with pytest.raises(ValueError, match="negative"):
        faults.hang_then_drop(seconds=-1)
    rule = add_from_json(faults, {"kind": "in_flight", "delay": 2, "mode": "drop"})
    assert (rule["kind"], rule["delay"], rule["mode"]) == ("in_flight", 2, "drop")


# --- STS -------------------------------------------------------------------------------------


def test_sts_issues_credentials_that_expire(clock: ManualClock) -> None:
    sts = StsService(clock)
    body = sts.call(
        "AssumeRole",
        {"RoleArn": DEFAULT_ROLE_ARN, "RoleSessionName": "bot", "DurationSeconds": "900"},
    )
    credentials = body["Credentials"]
    assert credentials["AccessKeyId"].startswith("STS.")
    assert credentials["Expiration"] == "2024-05-01T12:15:00Z"
    assert body["AssumedRoleUser"]["Arn"].endswith(":role/ecs-reboot-bot/bot")
    issued = sts.lookup(credentials["AccessKeyId"])
    assert issued is not None
    assert issued.security_token == credentials["SecurityToken"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"RoleSessionName": "bot"}, 400, "MissingParameter"),
        ({"RoleArn": "arn:aws:iam::1:role/x", "RoleSessionName": "bot"}, 400,
         "InvalidParameter.RoleArn"),
        ({"RoleArn": "acs:ram::1:role/other", "RoleSessionName": "bot"}, 404,
         "EntityNotExist.Role"),
        ({"RoleArn": DEFAULT_ROLE_ARN, "RoleSessionName": "b"}, 400,
         "InvalidParameter.RoleSessionName"),
        ({"RoleArn": DEFAULT_ROLE_ARN, "RoleSessionName": "bot", "DurationSeconds": "60"}, 400,
         "InvalidParameter.DurationSeconds"),
        ({"RoleArn": DEFAULT_ROLE_ARN, "RoleSessionName": "bot", "Policy": "{"}, 400,
         "InvalidParameter.PolicyGrammar"),
    ],
)  # fmt: skip
def test_assume_role_refusals(
    clock: ManualClock, params: dict[str, str], status: int, code: str
) -> None:
    with pytest.raises(ApiError) as refused:
        StsService(clock).call("AssumeRole", params)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_oidc_token_checks(clock: ManualClock) -> None:
    good = jwt({"sub": "system:serviceaccount:bot", "iss": "https://oidc", "exp": 2e9})
    base = {
        "RoleArn": DEFAULT_ROLE_ARN,
        "OIDCProviderArn": DEFAULT_OIDC_PROVIDER_ARN,
        "RoleSessionName": "pod-1",
    }
    sts = StsService(clock)
    body = sts.call("AssumeRoleWithOIDC", {**base, "OIDCToken": good})
    assert body["OIDCTokenInfo"]["Subject"] == "system:serviceaccount:bot"
    cases = [
        ({"OIDCToken": ""}, "AuthenticationFail.OIDCToken.Invalid"),
        ({"OIDCToken": "not-a-jwt"}, "AuthenticationFail.OIDCToken.Invalid"),
        ({"OIDCToken": jwt({"exp": 1})}, "AuthenticationFail.OIDCToken.Expired"),
        (
            {"OIDCToken": good, "OIDCProviderArn": "acs:ram::1:oidc-provider/x"},
            "AuthenticationFail.NoPermission",
        ),
    ]
    for extra, code in cases:
        with pytest.raises(ApiError) as refused:
            sts.call("AssumeRoleWithOIDC", {**base, **extra})
        assert refused.value.code == code
    sts.configure(oidc_tokens=[good])
    other = jwt({"sub": "someone-else"})
    with pytest.raises(ApiError) as refused:
        sts.call("AssumeRoleWithOIDC", {**base, "OIDCToken": other})
    assert refused.value.code == "AuthenticationFail.OIDCToken.InvalidSignature"
    sts.configure(any_oidc_token=True)
    assert sts.call("AssumeRoleWithOIDC", {**base, "OIDCToken": other})["Credentials"]

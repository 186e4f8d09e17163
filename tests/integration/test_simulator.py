"""The ECS simulator over real HTTP on loopback.

The official Alibaba Cloud SDK is the oracle: if it can sign, call and parse against
the simulator, so can the bot. Raw requests (httpx, signed with ``bot.ecs.signing``)
reach the error paths the SDK would refuse to build. Time is a ManualClock; no test
sleeps.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.models import Config

from bot.ecs import signing
from bot.simulator import ManualClock, Simulator

REGION = "cn-hangzhou"
REPO = Path(__file__).resolve().parents[2]


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    # Starts at the real time: the SDK stamps its requests with the real clock.
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[Simulator]:
    with Simulator(
        regions=(REGION, "cn-shanghai"), instances_per_region=25, clock=clock
    ) as simulator:
        yield simulator


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.endpoint, timeout=5) as client:
        yield client


def sdk(
    sim: Simulator,
    *,
    v1: bool = False,
    key_id: str | None = None,
    secret: str | None = None,
    token: str | None = None,
) -> EcsClient:
    """The official client; ``v1`` switches it to RPC HMAC-SHA1 signing."""
    options: dict[str, Any] = {"signature_algorithm": "v2"} if v1 else {}
    if token is not None:
        options["security_token"] = token
    return EcsClient(
        Config(
            access_key_id=key_id or sim.access_key_id,
            access_key_secret=secret or sim.access_key_secret,
            endpoint=sim.address,
            protocol="HTTP",
            region_id=REGION,
            **options,
        )
    )


def printed_sdk(info: dict[str, Any], region: str) -> EcsClient:
    """The official client on the endpoint and keys ``python -m bot.simulator --json``
    printed."""
    return EcsClient(
        Config(
            access_key_id=info["access_key_id"],
            access_key_secret=info["access_key_secret"],
            endpoint=info["endpoint"].removeprefix("http://"),
            protocol="HTTP",
            region_id=region,
        )
    )


@dataclass
class SimulatorCommand:
    """A running ``python -m bot.simulator``; once it is stopped, what it wrote to stderr."""

    process: subprocess.Popen[str]
    stderr: str = ""

    def readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline()


@contextmanager
def simulator_command(
    *options: str, stop: signal.Signals = signal.SIGTERM
) -> Iterator[SimulatorCommand]:
    """``python -m bot.simulator --port 0 *options`` for the ``with`` block, then sent
    ``stop`` (SIGTERM as a service manager stops it, SIGINT as Ctrl+C) and waited for."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, module and options
        [sys.executable, "-m", "bot.simulator", "--port", "0", *options],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    command = SimulatorCommand(process)
    try:
        yield command
    finally:
        process.send_signal(stop)
        _, command.stderr = process.communicate(timeout=10)


def signed_v3(
    sim: Simulator,
    params: dict[str, str],
    *,
    action: str = "RebootInstances",
    version: str = "2014-05-26",
    date: datetime | None = None,
    nonce: str | None = None,
    secret: str | None = None,
) -> httpx.Request:
    """A V3-signed POST with the RPC parameters in the query, as the SDK sends it."""
    headers = {
        "host": sim.address,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": (date or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": signing.EMPTY_BODY_SHA256,
    }
    headers["Authorization"] = signing.v3_authorization(
        sim.access_key_id, secret or sim.access_key_secret, "POST", "/", params, headers
    )
    url = f"{sim.endpoint}/?{signing.canonical_query(params)}"
    return httpx.Request("POST", url, headers=headers)


def call(
    http: httpx.Client, sim: Simulator, action: str, params: dict[str, str], **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    response = http.send(signed_v3(sim, params, action=action, **kwargs))
    body = response.json()
    assert "RequestId" in body
    return response.status_code, body


def reboot_params(*ids: str, **extra: str) -> dict[str, str]:
    params = {"RegionId": REGION, **extra}
    params.update({f"InstanceId.{n}": i for n, i in enumerate(ids, start=1)})
    return params


def status_of(sim: Simulator, instance_id: str, region: str = REGION) -> str:
    view = sim.fleet.get(region, instance_id)
    assert view is not None
    return view.status


def assert_error(status: int, body: dict[str, Any], want_status: int, want_code: str) -> None:
    assert (status, body["Code"]) == (want_status, want_code), body
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


# --- the official SDK, both signature schemes -----------------------------------------------


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_sdk_describe_instances_pages_with_next_token(sim: Simulator, v1: bool) -> None:
    client = sdk(sim, v1=v1)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        response = client.describe_instances(
            ecs_models.DescribeInstancesRequest(region_id=REGION, max_results=10, next_token=token)
        )
        body = response.body
        assert response.status_code == 200
        assert body.total_count == 25
        seen += [i.instance_id for i in body.instances.instance]
        pages += 1
        token = body.next_token
        if not token:
            break
    assert pages == 3
    assert seen == sim.fleet.ids(REGION)
    assert {c.signature_version for c in sim.calls} == {"v1" if v1 else "v3"}


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_sdk_describe_instances_by_ids_has_the_documented_fields(sim: Simulator, v1: bool) -> None:
    ids = sim.fleet.ids(REGION)[:3]
    response = sdk(sim, v1=v1).describe_instances(
        ecs_models.DescribeInstancesRequest(
            region_id=REGION, instance_ids=json.dumps([*ids, "i-bp1unknown0000000000"])
        )
    )
    instances = response.body.instances.instance
    assert [i.instance_id for i in instances] == ids  # the unknown id is simply absent
    assert response.body.total_count == 3
    first = instances[0]
    view = sim.fleet.get(REGION, ids[0])
    assert view is not None
    assert (first.instance_name, first.status, first.region_id, first.zone_id) == (
        view.name,
        "Running",
        REGION,
        view.zone,
    )
    assert datetime.strptime(first.start_time, "%Y-%m-%dT%H:%MZ")  # minute precision
    assert datetime.strptime(first.creation_time, "%Y-%m-%dT%H:%MZ")
    assert {(t.tag_key, t.tag_value) for t in first.tags.tag} == set(view.tags.items())
    assert first.operation_locks.lock_reason == []


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_sdk_dry_run_then_reboot(sim: Simulator, v1: bool) -> None:
    client = sdk(sim, v1=v1)
    ids = sim.fleet.ids(REGION)[:2]
    with pytest.raises(ClientException) as raised:
        client.reboot_instances(
            ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=ids, dry_run=True)
        )
    assert raised.value.code == "DRYRUN.SUCCESS"
    assert raised.value.status_code == 400
    assert [status_of(sim, i) for i in ids] == ["Running", "Running"]

    response = client.reboot_instances(
        ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=ids, force_reboot=True)
    )
    results = response.body.instance_responses.instance_response
    assert [(r.instance_id, r.code, r.message) for r in results] == [
        (i, "200", "success") for i in ids
    ]
    assert {(r.previous_status, r.current_status) for r in results} == {("Running", "Stopping")}
    assert [status_of(sim, i) for i in ids] == ["Stopping", "Stopping"]
    real = sim.calls.of("RebootInstances", dry_run=False)
    assert len(real) == 1
    assert real[0].applied
    assert real[0].ids == tuple(ids)
    assert real[0].params["ForceReboot"].lower() == "true"


def test_sdk_success_first_reports_each_instance(sim: Simulator) -> None:
    good, running_not = sim.fleet.ids(REGION)[:2]
    sim.fleet.update(REGION, running_not, status="Stopped")
    unknown = "i-bp1unknown0000000000"
    response = sdk(sim).reboot_instances(
        ecs_models.RebootInstancesRequest(
            region_id=REGION,
            instance_id=[good, running_not, unknown],
            batch_optimization="SuccessFirst",
        )
    )
    assert response.status_code == 200
    by_id = {r.instance_id: r for r in response.body.instance_responses.instance_response}
    assert (by_id[good].code, by_id[good].current_status) == ("200", "Stopping")
    assert by_id[running_not].code == "IncorrectInstanceStatus"
    assert by_id[running_not].current_status == "Stopped"
    assert by_id[unknown].code == "InvalidInstanceId.NotFound"
    assert status_of(sim, good) == "Stopping"
    assert status_of(sim, running_not) == "Stopped"


def test_sdk_success_first_dry_run_always_passes(sim: Simulator) -> None:
    with pytest.raises(ClientException) as raised:
        sdk(sim).reboot_instances(
            ecs_models.RebootInstancesRequest(
                region_id=REGION,
                instance_id=["i-bp1unknown0000000000"],
                batch_optimization="SuccessFirst",
                dry_run=True,
            )
        )
    assert raised.value.code == "DRYRUN.SUCCESS"


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_sdk_describe_instance_status(sim: Simulator, v1: bool) -> None:
    ids = sim.fleet.ids(REGION)
    sim.fleet.reboot(REGION, [ids[0]])
    client = sdk(sim, v1=v1)
    response = client.describe_instance_status(
        ecs_models.DescribeInstanceStatusRequest(region_id=REGION, instance_id=ids[:3])
    )
    statuses = response.body.instance_statuses.instance_status
    assert [(s.instance_id, s.status) for s in statuses] == [
        (ids[0], "Stopping"),
        (ids[1], "Running"),
        (ids[2], "Running"),
    ]
    page = client.describe_instance_status(
        ecs_models.DescribeInstanceStatusRequest(region_id=REGION, page_size=20, page_number=2)
    ).body
    assert (page.total_count, page.page_number, page.page_size) == (25, 2, 20)
    assert [s.instance_id for s in page.instance_statuses.instance_status] == ids[20:]


def test_sdk_with_sts_token(clock: ManualClock) -> None:
    with Simulator(clock=clock, security_token="sts-token-1") as sim:
        ok = sdk(sim, token="sts-token-1").describe_instance_status(
            ecs_models.DescribeInstanceStatusRequest(region_id=REGION)
        )
        assert ok.body.total_count == 10
        for token in ("another-token", None):
            with pytest.raises(ClientException) as raised:
                sdk(sim, token=token).describe_instance_status(
                    ecs_models.DescribeInstanceStatusRequest(region_id=REGION)
                )
            assert raised.value.code == "InvalidSecurityToken.Mismatch"


def test_v1_get_request_signed_by_the_official_util(sim: Simulator, http: httpx.Client) -> None:
    ids = sim.fleet.ids(REGION)[:2]
    params = {
        "Action": "DescribeInstanceStatus",
        "Version": "2014-05-26",
        "Format": "JSON",
        "AccessKeyId": sim.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RegionId": REGION,
        "InstanceId.1": ids[0],
        "InstanceId.2": ids[1],
    }
    params["Signature"] = OpenApiUtil.get_rpcsignature(params, "GET", sim.access_key_secret)
    response = http.get("/", params=params)
    assert response.status_code == 200, response.text
    assert [s["InstanceId"] for s in response.json()["InstanceStatuses"]["InstanceStatus"]] == ids

    # The same parameters as a form body (POST) are accepted too, nonce fresh.
    params["SignatureNonce"] = uuid.uuid4().hex
    del params["Signature"]
    params["Signature"] = OpenApiUtil.get_rpcsignature(params, "POST", sim.access_key_secret)
    response = http.post("/", data=params)
    assert response.status_code == 200, response.text
    assert [c.signature_version for c in sim.calls] == ["v1", "v1"]


# --- signature checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_wrong_secret_is_refused(sim: Simulator, v1: bool) -> None:
    with pytest.raises(ClientException) as raised:
        sdk(sim, v1=v1, secret="not-the-secret").describe_instances(
            ecs_models.DescribeInstancesRequest(region_id=REGION)
        )
    assert (raised.value.code, raised.value.status_code) == ("SignatureDoesNotMatch", 400)
    assert sim.calls.all()[0].signature_version is None  # not authenticated


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_unknown_access_key_is_refused(sim: Simulator, v1: bool) -> None:
    with pytest.raises(ClientException) as raised:
        sdk(sim, v1=v1, key_id="LTAI5tSomebodyElse0000").describe_instances(
            ecs_models.DescribeInstancesRequest(region_id=REGION)
        )
    assert (raised.value.code, raised.value.status_code) == ("InvalidAccessKeyId.NotFound", 404)


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_timestamp_far_from_the_simulator_clock_is_refused(
    sim: Simulator, clock: ManualClock, v1: bool
) -> None:
    clock.advance(16 * 60)  # the SDK's timestamp is now 16 minutes behind
    with pytest.raises(ClientException) as raised:
        sdk(sim, v1=v1).describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION))
    assert raised.value.code == "InvalidTimeStamp.Expired"
    clock.advance(-2 * 60)  # 14 minutes: still inside the window
    sdk(sim, v1=v1).describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION))


def test_reused_nonce_is_refused(sim: Simulator, http: httpx.Client) -> None:
    params = {"RegionId": REGION}
    request = signed_v3(sim, params, action="DescribeInstances", nonce="nonce-1")
    assert http.send(request).status_code == 200
    replay = http.send(signed_v3(sim, params, action="DescribeInstances", nonce="nonce-1"))
    assert_error(replay.status_code, replay.json(), 400, "SignatureNonceUsed")


def test_forged_request_does_not_burn_the_nonce(sim: Simulator, http: httpx.Client) -> None:
    params = {"RegionId": REGION}
    forged = http.send(signed_v3(sim, params, action="DescribeInstances", nonce="n", secret="x"))
    assert forged.json()["Code"] == "SignatureDoesNotMatch"
    assert http.send(signed_v3(sim, params, action="DescribeInstances", nonce="n")).is_success


def test_malformed_or_missing_signatures(sim: Simulator, http: httpx.Client) -> None:
    status, body = call(http, sim, "DescribeInstances", {"RegionId": REGION})
    assert status == 200

    bare = http.post(
        "/", params={"RegionId": REGION}, headers={"x-acs-action": "DescribeInstances"}
    )
    assert_error(bare.status_code, bare.json(), 400, "MissingParameter")

    request = signed_v3(sim, {"RegionId": REGION}, action="DescribeInstances")
    request.headers["Authorization"] = "ACS3-HMAC-SHA256 garbage"
    broken = http.send(request)
    assert_error(broken.status_code, broken.json(), 400, "IncompleteSignature")

    old_date = datetime.now(UTC) - timedelta(hours=1)
    status, body = call(http, sim, "DescribeInstances", {"RegionId": REGION}, date=old_date)
    assert_error(status, body, 400, "InvalidTimeStamp.Expired")

    v1_unsigned = http.get("/", params={"Action": "DescribeInstances", "RegionId": REGION})
    assert_error(v1_unsigned.status_code, v1_unsigned.json(), 400, "MissingParameter")


def test_tampered_query_is_refused(sim: Simulator, http: httpx.Client) -> None:
    ids = sim.fleet.ids(REGION)
    request = signed_v3(sim, reboot_params(ids[0]))
    tampered = httpx.Request(
        "POST", str(request.url).replace(ids[0], ids[1]), headers=request.headers
    )
    response = http.send(tampered)
    assert_error(response.status_code, response.json(), 400, "SignatureDoesNotMatch")
    assert "server string to sign is:" in response.json()["Message"]
    assert status_of(sim, ids[1]) == "Running"


# --- state machine over HTTP -------------------------------------------------------------------


def describe(http: httpx.Client, sim: Simulator, *ids: str) -> dict[str, dict[str, Any]]:
    status, body = call(
        http, sim, "DescribeInstances", {"RegionId": REGION, "InstanceIds": json.dumps(list(ids))}
    )
    assert status == 200
    return {i["InstanceId"]: i for i in body["Instances"]["Instance"]}


def test_reboot_plays_out_with_the_clock(
    sim: Simulator, http: httpx.Client, clock: ManualClock
) -> None:
    clock.set(clock.now().replace(second=0))  # minute-precise StartTime needs a round start
    instance_id = sim.fleet.ids(REGION)[0]
    before = describe(http, sim, instance_id)[instance_id]["StartTime"]
    status, body = call(http, sim, "RebootInstances", reboot_params(instance_id))
    assert status == 200
    assert body["InstanceResponses"]["InstanceResponse"][0]["CurrentStatus"] == "Stopping"

    seen = []
    for step in (0, 2, 3):
        clock.advance(step)
        seen.append(describe(http, sim, instance_id)[instance_id]["Status"])
    assert seen == ["Stopping", "Starting", "Running"]
    after = describe(http, sim, instance_id)[instance_id]["StartTime"]
    assert after > before
    assert after == clock.now().strftime("%Y-%m-%dT%H:%MZ")


def test_never_returns_instance_stays_down(
    sim: Simulator, http: httpx.Client, clock: ManualClock
) -> None:
    instance_id = sim.fleet.add_instance(REGION, never_returns=True)
    assert call(http, sim, "RebootInstances", reboot_params(instance_id))[0] == 200
    clock.advance(600)
    assert describe(http, sim, instance_id)[instance_id]["Status"] == "Starting"


# --- every error the simulator implements -----------------------------------------------------


def test_reboot_parameter_errors(sim: Simulator, http: httpx.Client) -> None:
    ids = sim.fleet.ids(REGION)
    cases: list[tuple[dict[str, str], int, str]] = [
        (reboot_params(), 403, "InvalidInstanceId.NotFound"),
        (
            reboot_params(*[f"i-bp1many{n:012d}" for n in range(101)]),
            403,
            "InvalidParameter.TooManyInstanceIds",
        ),
        (reboot_params(ids[0], "i-BAD"), 403, "Abs.InvalidInstanceIds.MalFormed"),
        (reboot_params(ids[0], "not-an-id"), 403, "Abs.InvalidInstanceIds.MalFormed"),
        (reboot_params(ids[0], BatchOptimization="Sometimes"), 400, "InvalidParameter"),
        (reboot_params(ids[0], DryRun="maybe"), 400, "InvalidParameter"),
        ({"InstanceId.1": ids[0]}, 400, "MissingParameter"),
        (reboot_params(ids[0]) | {"RegionId": "mars-north-1"}, 404, "InvalidRegionId.NotFound"),
    ]
    for params, want_status, want_code in cases:
        status, body = call(http, sim, "RebootInstances", params)
        assert_error(status, body, want_status, want_code)
    assert all(status_of(sim, i) == "Running" for i in ids)


@pytest.mark.parametrize(
    ("setup", "want_status", "want_code"),
    [
        ({"status": "Stopped"}, 403, "IncorrectInstanceStatus"),
        ({"security_lock": True}, 403, "InstanceLockedForSecurity"),
        ({"expired": True}, 403, "InstanceExpiredOrInArrears"),
        (None, 404, "InvalidInstanceId.NotFound"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_all_together_fails_whole_call_for_one_bad_instance(
    sim: Simulator,
    http: httpx.Client,
    setup: dict[str, Any] | None,
    want_status: int,
    want_code: str,
    dry_run: bool,
) -> None:
    good, bad = sim.fleet.ids(REGION)[:2]
    if setup is None:
        bad = "i-bp1unknown0000000000"
    else:
        sim.fleet.update(REGION, bad, **setup)
    params = reboot_params(good, bad, DryRun=str(dry_run).lower())
    status, body = call(http, sim, "RebootInstances", params)
    assert_error(status, body, want_status, want_code)
    assert bad in body["Message"]
    assert status_of(sim, good) == "Running"  # nothing rebooted
    assert sim.fleet.reboot_count(REGION, good) == 0


def test_locks_show_in_describe_instances(sim: Simulator, http: httpx.Client) -> None:
    locked, expired = sim.fleet.ids(REGION)[:2]
    sim.fleet.update(REGION, locked, security_lock=True)
    sim.fleet.update(REGION, expired, expired=True)
    found = describe(http, sim, locked, expired)
    assert found[locked]["OperationLocks"]["LockReason"] == [{"LockReason": "security"}]
    assert found[expired]["OperationLocks"]["LockReason"] == [{"LockReason": "financial"}]


def test_rebooting_an_instance_twice_is_refused_while_it_is_down(
    sim: Simulator, http: httpx.Client
) -> None:
    instance_id = sim.fleet.ids(REGION)[0]
    assert call(http, sim, "RebootInstances", reboot_params(instance_id))[0] == 200
    status, body = call(http, sim, "RebootInstances", reboot_params(instance_id))
    assert_error(status, body, 403, "IncorrectInstanceStatus")
    assert sim.fleet.reboot_count(REGION, instance_id) == 1


def test_describe_errors_and_page_number_paging(sim: Simulator, http: httpx.Client) -> None:
    too_many = json.dumps([f"i-bp1many{n:012d}" for n in range(101)])
    cases: list[tuple[str, dict[str, str], int, str]] = [
        (
            "DescribeInstances",
            {"RegionId": REGION, "InstanceIds": too_many},
            400,
            "InvalidParameter",
        ),
        (
            "DescribeInstances",
            {"RegionId": REGION, "InstanceIds": "[oops"},
            400,
            "InvalidParameter",
        ),
        ("DescribeInstances", {"RegionId": REGION, "MaxResults": "101"}, 400, "InvalidParameter"),
        ("DescribeInstances", {"RegionId": REGION, "MaxResults": "0"}, 400, "InvalidParameter"),
        ("DescribeInstances", {"RegionId": REGION, "NextToken": "bogus!"}, 400, "InvalidParameter"),
        ("DescribeInstances", {"RegionId": "mars-north-1"}, 404, "InvalidRegionId.NotFound"),
        ("DescribeInstanceStatus", {"RegionId": REGION, "PageSize": "51"}, 400, "InvalidParameter"),
        (
            "DescribeInstanceStatus",
            {"RegionId": REGION} | {f"InstanceId.{n}": f"i-bp1many{n:012d}" for n in range(1, 102)},
            400,
            "InvalidParameter",
        ),
        ("StartInstances", {"RegionId": REGION}, 404, "InvalidAction.NotFound"),
    ]
    for action, params, want_status, want_code in cases:
        status, body = call(http, sim, action, params)
        assert_error(status, body, want_status, want_code)

    status, body = call(http, sim, "DescribeInstances", {"RegionId": REGION}, version="2016-01-01")
    assert_error(status, body, 400, "InvalidVersion")

    status, body = call(
        http, sim, "DescribeInstances", {"RegionId": REGION, "PageSize": "20", "PageNumber": "2"}
    )
    assert status == 200
    assert (body["PageNumber"], body["PageSize"], body["TotalCount"]) == (2, 20, 25)
    assert [i["InstanceId"] for i in body["Instances"]["Instance"]] == sim.fleet.ids(REGION)[20:]

    status, body = call(http, sim, "DescribeInstances", {"RegionId": "cn-shanghai"})
    assert body["TotalCount"] == 25
    assert len(body["Instances"]["Instance"]) == 10
    assert all(i["RegionId"] == "cn-shanghai" for i in body["Instances"]["Instance"])


# --- fault injection ---------------------------------------------------------------------------


def test_throttle_n_times_then_pass(sim: Simulator) -> None:
    sim.faults.throttle("DescribeInstances", times=2)
    client = sdk(sim)
    request = ecs_models.DescribeInstancesRequest(region_id=REGION)
    codes = []
    for _ in range(3):
        try:
            client.describe_instances(request)
            codes.append("ok")
        except ClientException as error:
            codes.append(error.code)
    assert codes == ["Throttling.User", "Throttling.User", "ok"]
    assert sim.calls.count("DescribeInstances") == 3
    # Other actions were never affected.
    client.describe_instance_status(ecs_models.DescribeInstanceStatusRequest(region_id=REGION))


def test_throttle_with_retry_after_hint(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.throttle("*", code="Throttling.Api", retry_after_ms=1500)
    response = http.send(signed_v3(sim, {"RegionId": REGION}, action="DescribeInstances"))
    assert response.json()["Code"] == "Throttling.Api"
    assert response.headers["x-acs-retry-after"] == "1500"


@pytest.mark.parametrize(
    ("code", "want_status"), [("ServiceUnavailable", 503), ("InternalError", 500)]
)
def test_fail_answers_a_server_error_and_applies_nothing(
    sim: Simulator, code: str, want_status: int
) -> None:
    sim.faults.fail("RebootInstances", times=1, code=code)
    instance_id = sim.fleet.ids(REGION)[0]
    request = ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[instance_id])
    with pytest.raises(ServerException) as raised:
        sdk(sim).reboot_instances(request)
    assert (raised.value.code, raised.value.status_code) == (code, want_status)
    assert status_of(sim, instance_id) == "Running"
    sdk(sim).reboot_instances(request)  # the fault fired once only
    assert status_of(sim, instance_id) == "Stopping"


def test_drop_connection(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.drop_connection("RebootInstances", times=1)
    instance_id = sim.fleet.ids(REGION)[0]
    with pytest.raises(httpx.RemoteProtocolError):
        http.send(signed_v3(sim, reboot_params(instance_id)))
    assert status_of(sim, instance_id) == "Running"
    assert sim.calls.all()[-1].code == "ConnectionDropped"
    assert http.send(signed_v3(sim, reboot_params(instance_id))).status_code == 200


@pytest.mark.parametrize("mode", ["error", "drop"])
def test_timeout_after_apply_leaves_the_outcome_unknown(
    sim: Simulator, http: httpx.Client, mode: str
) -> None:
    sim.faults.timeout_after_apply("RebootInstances", times=1, mode=mode)  # type: ignore[arg-type]
    instance_id = sim.fleet.ids(REGION)[0]
    request = signed_v3(sim, reboot_params(instance_id))
    if mode == "drop":
        with pytest.raises(httpx.RemoteProtocolError):
            http.send(request)
    else:
        response = http.send(request)
        assert_error(response.status_code, response.json(), 500, "InternalError")
    assert status_of(sim, instance_id) == "Stopping"  # the reboot did happen
    assert sim.calls.all()[-1].applied


def test_latency_delays_the_answer_but_not_the_result(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.latency("DescribeInstances", 0.05)
    status, _ = call(http, sim, "DescribeInstances", {"RegionId": REGION})
    assert status == 200
    assert sim.faults.active()["latency"] == {"DescribeInstances": 0.05}
    sim.faults.clear()
    assert sim.faults.active() == {"faults": [], "latency": {}}


def test_faults_check_their_arguments(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="times"):
        sim.faults.throttle("RebootInstances", times=0)
    with pytest.raises(ValueError, match="negative"):
        sim.faults.latency("RebootInstances", -1)


# --- concurrency and lifecycle ----------------------------------------------------------------


def test_answers_concurrent_callers(sim: Simulator) -> None:
    sim.faults.latency("DescribeInstances", 0.1)

    def one(_: int) -> int:
        with httpx.Client(timeout=5) as client:
            request = signed_v3(sim, {"RegionId": REGION}, action="DescribeInstances")
            return client.send(request).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert list(pool.map(one, range(16))) == [200] * 16
    assert sim.calls.count("DescribeInstances") == 16


def test_stop_closes_the_endpoint(clock: ManualClock) -> None:
    sim = Simulator(clock=clock)
    endpoint = sim.start()
    with httpx.Client(base_url=endpoint, timeout=2) as client:
        assert client.get("/_sim/state").status_code == 200
        sim.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/_sim/state")
    sim.stop()  # idempotent


# --- admin routes ------------------------------------------------------------------------------


def test_admin_state_and_calls(sim: Simulator, http: httpx.Client) -> None:
    state = http.get("/_sim/state").json()
    assert state["endpoint"] == sim.endpoint
    assert state["access_key_id"] == sim.access_key_id
    assert state["instances"][REGION] == sim.fleet.ids(REGION)
    first = state["regions"][REGION][0]
    assert first["instance_id"] == sim.fleet.ids(REGION)[0]
    assert first["status"] == "Running"
    assert first["name"] == "web-01"

    call(http, sim, "RebootInstances", reboot_params(first["instance_id"], DryRun="true"))
    call(http, sim, "DescribeInstances", {"RegionId": REGION})
    calls = http.get("/_sim/calls").json()["calls"]
    assert [(c["action"], c["dry_run"], c["code"]) for c in calls] == [
        ("RebootInstances", True, "DRYRUN.SUCCESS"),
        ("DescribeInstances", False, None),
    ]
    assert calls[0]["ids"] == [first["instance_id"]]
    assert calls[0]["signature_version"] == "v3"
    only = http.get("/_sim/calls", params={"action": "DescribeInstances"}).json()["calls"]
    assert len(only) == 1
    assert http.delete("/_sim/calls").json() == {"calls": []}
    assert len(sim.calls) == 0


def test_admin_faults(sim: Simulator, http: httpx.Client) -> None:
    added = http.post("/_sim/faults", json={"kind": "throttle", "action": "DescribeInstances"})
    assert added.status_code == 201
    assert added.json()["code"] == "Throttling.User"
    http.post(
        "/_sim/faults", json={"kind": "latency", "action": "RebootInstances", "seconds": 0.01}
    )
    active = http.get("/_sim/faults").json()
    assert len(active["faults"]) == 1
    assert active["latency"] == {"RebootInstances": 0.01}
    status, body = call(http, sim, "DescribeInstances", {"RegionId": REGION})
    assert_error(status, body, 400, "Throttling.User")
    assert http.get("/_sim/faults").json()["faults"] == []  # consumed

    http.post("/_sim/faults", json={"kind": "fail", "code": "InternalError", "times": 5})
    assert http.delete("/_sim/faults").json() == {"faults": [], "latency": {}}

    bad = http.post("/_sim/faults", json={"kind": "meteor"})
    assert bad.status_code == 400
    assert "kind" in bad.json()["error"]
    bad = http.post("/_sim/faults", json={"kind": "fail", "colour": "red"})
    assert bad.status_code == 400


def test_admin_instances_and_clock(sim: Simulator, http: httpx.Client, clock: ManualClock) -> None:
    created = http.post(
        "/_sim/instances",
        json={
            "region": "cn-beijing",
            "name": "db-01",
            "tags": {"env": "prod"},
            "status": "Stopped",
        },
    )
    assert created.status_code == 201
    instance_id = created.json()["instance_id"]
    assert instance_id.startswith("i-2ze")
    view = sim.fleet.get("cn-beijing", instance_id)
    assert view is not None
    assert view.name == "db-01"
    assert view.status == "Stopped"

    updated = http.post(
        "/_sim/instances",
        json={
            "region": "cn-beijing",
            "instance_id": instance_id,
            "update": True,
            "status": "Running",
        },
    )
    assert updated.status_code == 200
    assert updated.json()["status"] == "Running"
    assert call(http, sim, "DescribeInstances", {"RegionId": "cn-beijing"})[1]["TotalCount"] == 1

    sim.fleet.reboot("cn-beijing", [instance_id])
    moved = http.post("/_sim/clock", json={"advance": 5})
    assert moved.status_code == 200
    assert status_of(sim, instance_id, "cn-beijing") == "Running"

    assert http.post("/_sim/instances", json={"name": "x"}).status_code == 400
    assert (
        http.post("/_sim/instances", json={"region": REGION, "instance_id": "i-x"}).status_code
        == 400
    )
    assert http.post("/_sim/instances", content=b"[1]").status_code == 400
    missing = http.get("/_sim/nothing")
    assert missing.status_code == 404
    assert "GET /_sim/state" in missing.json()["routes"]


def test_admin_clock_needs_a_manual_clock() -> None:
    with Simulator() as sim, httpx.Client(base_url=sim.endpoint) as client:
        assert client.post("/_sim/clock", json={"advance": 1}).status_code == 409


# --- the command line --------------------------------------------------------------------------


def test_cli_json_line_then_serves_until_terminated() -> None:
    with simulator_command(
        "--json", "--regions", "cn-hangzhou,cn-shanghai", "--instances", "3", "--seed", "7"
    ) as simulator:
        info = json.loads(simulator.readline())
        assert set(info) == {"endpoint", "access_key_id", "access_key_secret", "instances"}
        assert info["endpoint"].startswith("http://127.0.0.1:")
        assert {region: len(ids) for region, ids in info["instances"].items()} == {
            "cn-hangzhou": 3,
            "cn-shanghai": 3,
        }
        response = printed_sdk(info, "cn-shanghai").describe_instances(
            ecs_models.DescribeInstancesRequest(region_id="cn-shanghai")
        )
        assert [i.instance_id for i in response.body.instances.instance] == info["instances"][
            "cn-shanghai"
        ]
    assert simulator.process.returncode == 0, simulator.stderr


def test_cli_text_output_names_everything() -> None:
    with simulator_command("--instances", "2", stop=signal.SIGINT) as simulator:
        lines = [simulator.readline() for _ in range(6)]
    assert simulator.process.returncode == 0
    text = "".join(lines)
    assert "http://127.0.0.1:" in text
    assert "LTAI" in text
    assert "i-bp1" in text

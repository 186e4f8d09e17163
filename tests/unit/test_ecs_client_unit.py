"""EcsClient against a scripted ECS behind ``httpx.MockTransport``: request shape and
signatures, batching, paging, parsing, and every retry path (no real sleeps)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from bot.domain.errors import EcsError, EcsOutcomeUnknown, EcsTransientError
from bot.ecs import catalogue, signing
from bot.ecs.client import EcsClient
from bot.ecs.credentials import StaticCredentialsProvider
from bot.ecs.wire import RetryPolicy
from bot.services.ports import EcsGateway

AK = "LTAI5tUnitTestKey"
SECRET = "unit-test-secret-do-not-print"
TOKEN = "sts-token-do-not-print"
REGION = "cn-hangzhou"
NOW = datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC)

Responder = Callable[[httpx.Request, dict[str, str]], httpx.Response]


def ok(body: dict[str, Any] | None = None, **headers: str) -> Responder:
    return lambda _req, _params: httpx.Response(
        200, json={"RequestId": "req-ok", **(body or {})}, headers=headers
    )


def error(status: int, code: str, message: str = "msg", **headers: str) -> Responder:
    body = {
        "RequestId": f"req-{code}",
        "HostId": "ecs.aliyuncs.com",
        "Code": code,
        "Message": message,
        "Recommend": "https://api.aliyun.com/troubleshoot",
    }
    return lambda _req, _params: httpx.Response(status, json=body, headers=headers)


def raises(exc_type: type[httpx.TransportError]) -> Responder:
    def respond(request: httpx.Request, _params: dict[str, str]) -> httpx.Response:
        raise exc_type("injected", request=request)

    return respond


@dataclass
class ScriptedEcs:
    """Answers each request with the next scripted responder (the last one repeats) and
    records the decoded parameters. Checks every signature: what was sent was signed."""

    script: list[Responder]
    version: str = "v3"
    calls: list[dict[str, str]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        self._check_signature(request, params)
        self.requests.append(request)
        self.calls.append(params)
        responder = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return responder(request, params)

    def _check_signature(self, request: httpx.Request, params: dict[str, str]) -> None:
        assert request.method == "POST"
        assert request.url.path == "/"
        assert request.content == b""
        if self.version == "v1":
            assert params["Signature"] == signing.v1_signature("POST", params, SECRET)
            return
        headers = {k.lower(): v for k, v in request.headers.items()}
        parsed = signing.parse_v3_authorization(headers["authorization"])
        assert parsed is not None
        signed = {name: headers[name] for name in parsed.signed_headers}
        expected = signing.v3_authorization(AK, SECRET, "POST", "/", params, signed)
        assert headers["authorization"] == expected
        # The raw query on the wire is exactly the canonical query that was signed.
        assert request.url.query.decode() == signing.canonical_query(params)

    def ids(self, index: int) -> list[str]:
        params = self.calls[index]
        if "InstanceIds" in params:
            return list(json.loads(params["InstanceIds"]))
        return [v for k, v in sorted(params.items(), key=_index_key) if k.startswith("InstanceId.")]


def _index_key(item: tuple[str, str]) -> tuple[int, str]:
    name = item[0]
    return (int(name.split(".")[1]), name) if name.startswith("InstanceId.") else (0, name)


@dataclass
class Harness:
    ecs: ScriptedEcs
    client: EcsClient
    sleeps: list[float]
    hook: list[tuple[str, str, str | None]]


@pytest.fixture
def make() -> Iterator[Callable[..., Harness]]:
    clients: list[EcsClient] = []

    def build(*script: Responder, version: str = "v3", token: str | None = None) -> Harness:
        ecs = ScriptedEcs(list(script), version=version)
        sleeps: list[float] = []
        hook: list[tuple[str, str, str | None]] = []
        client = EcsClient(
            credentials=StaticCredentialsProvider(AK, SECRET, token),
            endpoint="https://ecs.{region}.aliyuncs.com",
            signature_version="v1" if version == "v1" else "v3",
            retry=RetryPolicy(max_attempts=4),
            sleep=sleeps.append,
            random=lambda: 1.0,  # the top of the jitter range: delays are predictable
            transport=httpx.MockTransport(ecs),
            clock=lambda: NOW,
            on_call=lambda action, region, code, _s: hook.append((action, region, code)),
        )
        clients.append(client)
        return Harness(ecs, client, sleeps, hook)

    yield build
    for client in clients:
        client.close()


def ids(n: int) -> list[str]:
    return [f"i-bp1unit{index:08d}" for index in range(n)]


def instances(*items: dict[str, Any], next_token: str = "") -> Responder:
    return ok({"Instances": {"Instance": list(items)}, "NextToken": next_token})


def instance(instance_id: str, **extra: Any) -> dict[str, Any]:
    return {"InstanceId": instance_id, "InstanceName": "web", "Status": "Running", **extra}


# --- request shape ------------------------------------------------------------------------


def test_v3_request_headers_and_host(make: Callable[..., Harness]) -> None:
    h = make(instances(), token=TOKEN)
    h.client.describe_instances("cn-shanghai", ["i-bp1abcdefgh"])
    request = h.ecs.requests[0]
    assert request.url.host == "ecs.cn-shanghai.aliyuncs.com"
    assert request.headers["host"] == "ecs.cn-shanghai.aliyuncs.com"
    assert request.headers["x-acs-action"] == "DescribeInstances"
    assert request.headers["x-acs-version"] == "2014-05-26"
    assert request.headers["x-acs-date"] == "2025-03-01T12:00:05Z"
    assert len(request.headers["x-acs-signature-nonce"]) == 32
    assert request.headers["x-acs-content-sha256"] == signing.EMPTY_BODY_SHA256
    assert request.headers["x-acs-security-token"] == TOKEN
    assert "x-acs-security-token" in request.headers["authorization"]
    assert h.ecs.calls[0] == {
        "RegionId": "cn-shanghai",
        "InstanceIds": '["i-bp1abcdefgh"]',
        "MaxResults": "100",
    }


def test_v1_request_carries_the_rpc_signature_params(make: Callable[..., Harness]) -> None:
    h = make(instances(), version="v1", token=TOKEN)
    h.client.describe_instances(REGION, ["i-bp1abcdefgh"])
    params = h.ecs.calls[0]
    assert params["Action"] == "DescribeInstances"
    assert params["Version"] == "2014-05-26"
    assert params["Format"] == "JSON"
    assert params["AccessKeyId"] == AK
    assert params["SignatureMethod"] == "HMAC-SHA1"
    assert params["SignatureVersion"] == "1.0"
    assert params["Timestamp"] == "2025-03-01T12:00:05Z"
    assert params["SecurityToken"] == TOKEN
    assert "authorization" not in h.ecs.requests[0].headers


def test_every_request_gets_a_fresh_nonce(make: Callable[..., Harness]) -> None:
    h = make(error(503, "ServiceUnavailable"), instances())
    h.client.describe_instances(REGION, ["i-bp1abcdefgh"])
    nonces = {r.headers["x-acs-signature-nonce"] for r in h.ecs.requests}
    assert len(nonces) == 2


# --- DescribeInstances ----------------------------------------------------------------------


def test_describe_instances_batches_250_ids_into_3_calls(make: Callable[..., Harness]) -> None:
    h = make(instances())
    wanted = ids(250)
    h.client.describe_instances(REGION, wanted)
    assert [len(h.ecs.ids(i)) for i in range(3)] == [100, 100, 50]
    assert h.ecs.ids(0) + h.ecs.ids(1) + h.ecs.ids(2) == wanted


def test_describe_instances_follows_next_token(make: Callable[..., Harness]) -> None:
    a, b, c = ids(3)
    h = make(
        instances(instance(a), instance(b), next_token="page-2"),
        instances(instance(c)),
    )
    found = h.client.describe_instances(REGION, [a, b, c])
    assert [info.instance_id for info in found] == [a, b, c]
    assert "NextToken" not in h.ecs.calls[0]
    assert h.ecs.calls[1]["NextToken"] == "page-2"
    assert h.ecs.calls[1]["InstanceIds"] == h.ecs.calls[0]["InstanceIds"]


def test_describe_instances_parses_every_field(make: Callable[..., Harness]) -> None:
    a, b = ids(2)
    h = make(
        instances(
            instance(
                a,
                InstanceName="db-1",
                Status="Stopped",
                ZoneId="cn-hangzhou-h",
                RegionId=REGION,
                StartTime="2025-02-28T09:15Z",
                Tags={"Tag": [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team"}]},
                OperationLocks={"LockReason": [{"LockReason": "security"}]},
            ),
            instance(b, StartTime="2025-02-28T09:15:42Z"),
        )
    )
    first, second = h.client.describe_instances(REGION, [a, b])
    assert first.name == "db-1"
    assert first.status == "Stopped"
    assert first.zone == "cn-hangzhou-h"
    assert first.region == REGION
    assert first.start_time == datetime(2025, 2, 28, 9, 15, tzinfo=UTC)
    assert dict(first.tags) == {"env": "prod", "team": ""}
    assert first.operation_locks == ("security",)
    assert second.start_time == datetime(2025, 2, 28, 9, 15, 42, tzinfo=UTC)
    assert second.operation_locks == ()
    assert second.zone is None


def test_describe_instances_empty_input_makes_no_call(make: Callable[..., Harness]) -> None:
    h = make(instances())
    assert h.client.describe_instances(REGION, []) == []
    assert h.ecs.calls == []


# --- dry run --------------------------------------------------------------------------------


def test_dry_run_pass_and_refusal_per_batch(make: Callable[..., Harness]) -> None:
    h = make(
        error(400, "DRYRUN.SUCCESS", "This request is a dryrun request with successful result."),
        error(403, "IncorrectInstanceStatus", "The current status does not support it."),
    )
    wanted = ids(150)
    first, second = h.client.dry_run_reboot(REGION, wanted, force=True)

    assert first.passed
    assert first.instance_ids == tuple(wanted[:100])
    assert first.region == REGION
    assert not second.passed
    assert second.instance_ids == tuple(wanted[100:])
    assert second.error is not None
    assert second.error.code == "IncorrectInstanceStatus"
    assert second.error.request_id == "req-IncorrectInstanceStatus"
    assert second.error.explanation == catalogue.explain("IncorrectInstanceStatus")
    assert second.error.http_status == 403
    for call in h.ecs.calls:
        assert call["DryRun"] == "true"
        assert call["BatchOptimization"] == "AllTogether"
        assert call["ForceReboot"] == "true"
    assert h.sleeps == []  # a refusal is an answer, not a fault: no retry


def test_dry_run_operation_code_also_passes(make: Callable[..., Harness]) -> None:
    h = make(error(400, "DryRunOperation", "Request validation has been passed."))
    [batch] = h.client.dry_run_reboot(REGION, ids(1), force=False)
    assert batch.passed
    assert h.ecs.calls[0]["ForceReboot"] == "false"


def test_dry_run_retries_throttling_with_throttling_backoff(make: Callable[..., Harness]) -> None:
    h = make(
        error(400, "Throttling.User"), error(400, "Throttling.Api"), error(400, "DRYRUN.SUCCESS")
    )
    [batch] = h.client.dry_run_reboot(REGION, ids(2), force=False)
    assert batch.passed
    assert len(h.ecs.calls) == 3
    assert h.sleeps == [0.5, 1.0]  # from 500 ms, doubling (random() = 1.0)


def test_dry_run_transport_failure_that_outlives_retries_raises(
    make: Callable[..., Harness],
) -> None:
    h = make(raises(httpx.ReadTimeout))
    with pytest.raises(EcsTransientError) as info:
        h.client.dry_run_reboot(REGION, ids(2), force=False)
    assert info.value.code == catalogue.CLIENT_TIMEOUT
    assert len(h.ecs.calls) == 4


# --- retries of the read-only actions -------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        error(503, "ServiceUnavailable"),
        error(500, "InternalError"),
        error(503, "LimitedOperation.ServiceUnavailable"),
        raises(httpx.ConnectError),
        raises(httpx.ReadTimeout),
        raises(httpx.RemoteProtocolError),
        lambda _r, _p: httpx.Response(502, text="<html>Bad Gateway</html>"),
    ],
    ids=["503", "500", "limited-503", "connect", "read-timeout", "dropped", "html-502"],
)
def test_read_only_call_retries_transient_faults(
    make: Callable[..., Harness], fault: Responder
) -> None:
    a = ids(1)[0]
    h = make(fault, fault, instances(instance(a)))
    found = h.client.describe_instances(REGION, [a])
    assert [info.instance_id for info in found] == [a]
    assert len(h.ecs.requests) == 3
    assert h.sleeps == [0.1, 0.2]  # from 100 ms, doubling


def test_read_only_call_gives_up_after_max_attempts(make: Callable[..., Harness]) -> None:
    h = make(error(503, "ServiceUnavailable", "temporary failure"))
    with pytest.raises(EcsTransientError) as info:
        h.client.describe_instances(REGION, ids(1))
    assert len(h.ecs.calls) == 4
    assert h.sleeps == [0.1, 0.2, 0.4]
    assert info.value.code == "ServiceUnavailable"
    assert info.value.request_id == "req-ServiceUnavailable"
    assert info.value.explanation == catalogue.explain("ServiceUnavailable")


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=10, throttling_base=0.5, error_base=0.1, cap=20.0)
    assert policy.delay(10, throttled=True, random=lambda: 1.0) == 20.0
    assert policy.delay(3, throttled=True, random=lambda: 0.5) == 1.0
    assert policy.delay(1, throttled=False, random=lambda: 0.0) == 0.0
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_positive_retry_after_header_is_honoured(make: Callable[..., Harness]) -> None:
    h = make(
        error(400, "Throttling", **{"x-acs-retry-after": "1500"}),
        error(400, "Throttling", **{"x-acs-retry-after": "0"}),  # not positive: ignored
        instances(),
    )
    h.client.describe_instances(REGION, ids(1))
    assert h.sleeps == [1.5, 1.0]


def test_non_transient_error_is_raised_at_once_without_secrets(
    make: Callable[..., Harness],
) -> None:
    h = make(error(400, "SignatureDoesNotMatch", "Specified signature is not matched."))
    with pytest.raises(EcsError) as info:
        h.client.describe_instances(REGION, ids(1))
    assert not isinstance(info.value, EcsTransientError)
    assert info.value.code == "SignatureDoesNotMatch"
    assert info.value.explanation == catalogue.explain("SignatureDoesNotMatch")
    assert len(h.ecs.calls) == 1
    for text in (str(info.value), info.value.describe(), repr(info.value)):
        assert SECRET not in text


# --- the real reboot ------------------------------------------------------------------------


def reboot_answer(*responses: dict[str, Any]) -> Responder:
    return ok({"InstanceResponses": {"InstanceResponse": list(responses)}})


def test_reboot_sends_one_success_first_call_and_parses_mixed_results(
    make: Callable[..., Harness],
) -> None:
    a, b, c, d = ids(4)
    h = make(
        reboot_answer(
            {
                "Code": 200,
                "Message": "success",
                "InstanceId": a,
                "CurrentStatus": "Stopping",
                "PreviousStatus": "Running",
            },
            {
                "Code": "200",
                "Message": "success",
                "InstanceId": b,
                "CurrentStatus": "Stopping",
                "PreviousStatus": "Running",
            },
            {
                "Code": "IncorrectInstanceStatus",
                "Message": "The current status does not support this operation.",
                "InstanceId": c,
                "CurrentStatus": "Stopped",
                "PreviousStatus": "Stopped",
            },
        )
    )
    results = h.client.reboot(REGION, [a, b, c, d], force=False)

    assert len(h.ecs.calls) == 1
    call = h.ecs.calls[0]
    assert call["DryRun"] == "false"
    assert call["BatchOptimization"] == "SuccessFirst"
    assert call["ForceReboot"] == "false"
    assert h.ecs.ids(0) == [a, b, c, d]
    assert [(r.instance_id, r.ok, r.code) for r in results] == [
        (a, True, "200"),
        (b, True, "200"),
        (c, False, "IncorrectInstanceStatus"),
        (d, False, catalogue.CLIENT_NO_INSTANCE_RESULT),
    ]
    assert results[0].explanation == ""
    assert results[0].previous_status == "Running"
    assert results[0].current_status == "Stopping"
    assert results[0].request_id == "req-ok"
    assert results[2].explanation == catalogue.explain("IncorrectInstanceStatus")
    assert results[3].explanation == catalogue.explain(catalogue.CLIENT_NO_INSTANCE_RESULT)


def test_reboot_refuses_more_than_100_ids_before_sending(make: Callable[..., Harness]) -> None:
    h = make(reboot_answer())
    with pytest.raises(ValueError, match="at most 100"):
        h.client.reboot(REGION, ids(101), force=False)
    assert h.ecs.calls == []


def test_reboot_retries_throttling(make: Callable[..., Harness]) -> None:
    a = ids(1)[0]
    h = make(
        error(400, "Throttling.User"),
        error(400, "Throttling"),
        reboot_answer({"Code": "200", "Message": "success", "InstanceId": a}),
    )
    [result] = h.client.reboot(REGION, [a], force=True)
    assert result.ok
    assert len(h.ecs.calls) == 3
    assert h.ecs.calls[0]["ForceReboot"] == "true"
    assert h.sleeps == [0.5, 1.0]


def test_reboot_throttled_to_the_end_is_transient_not_unknown(
    make: Callable[..., Harness],
) -> None:
    h = make(error(400, "Throttling.User"))
    with pytest.raises(EcsTransientError) as info:
        h.client.reboot(REGION, ids(1), force=False)
    assert not isinstance(info.value, EcsOutcomeUnknown)
    assert len(h.ecs.calls) == 4


def test_reboot_connect_error_is_retried(make: Callable[..., Harness]) -> None:
    a = ids(1)[0]
    h = make(
        raises(httpx.ConnectError),
        reboot_answer({"Code": "200", "Message": "success", "InstanceId": a}),
    )
    [result] = h.client.reboot(REGION, [a], force=False)
    assert result.ok
    assert len(h.ecs.requests) == 2


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (raises(httpx.ReadTimeout), catalogue.CLIENT_TIMEOUT),
        (raises(httpx.WriteTimeout), catalogue.CLIENT_TIMEOUT),
        (raises(httpx.RemoteProtocolError), catalogue.CLIENT_CONNECTION_LOST),
        (raises(httpx.ReadError), catalogue.CLIENT_CONNECTION_LOST),
        (error(500, "InternalError"), "InternalError"),
        (error(503, "ServiceUnavailable"), "ServiceUnavailable"),
        (lambda _r, _p: httpx.Response(502, text="Bad Gateway"), "Client.UnexpectedResponse"),
    ],
    ids=["read-timeout", "write-timeout", "dropped", "read-error", "500", "503", "html-502"],
)
def test_reboot_is_never_resent_after_it_may_have_arrived(
    make: Callable[..., Harness], fault: Responder, code: str
) -> None:
    a = ids(1)[0]
    h = make(fault, reboot_answer({"Code": "200", "Message": "success", "InstanceId": a}))
    with pytest.raises(EcsOutcomeUnknown) as info:
        h.client.reboot(REGION, [a], force=False)
    assert len(h.ecs.requests) == 1
    assert h.sleeps == []
    assert info.value.code == code
    assert info.value.explanation == catalogue.OUTCOME_UNKNOWN


def test_reboot_call_level_refusal_raises_ecs_error(make: Callable[..., Harness]) -> None:
    h = make(error(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist."))
    with pytest.raises(EcsError) as info:
        h.client.reboot("xx-nowhere-1", ids(1), force=False)
    assert type(info.value) is EcsError
    assert info.value.explanation == catalogue.explain("InvalidRegionId.NotFound")
    assert len(h.ecs.calls) == 1


# --- hook and lifecycle ---------------------------------------------------------------------


def test_on_call_reports_every_attempt(make: Callable[..., Harness]) -> None:
    h = make(error(400, "Throttling.User"), raises(httpx.ConnectError), instances())
    h.client.describe_instances(REGION, ids(1))
    assert h.hook == [
        ("DescribeInstances", REGION, "Throttling.User"),
        ("DescribeInstances", REGION, catalogue.CLIENT_CONNECTION_FAILED),
        ("DescribeInstances", REGION, None),
    ]


def test_a_failing_hook_does_not_lose_a_reboot_answer(caplog: pytest.LogCaptureFixture) -> None:
    a = ids(1)[0]
    ecs = ScriptedEcs([reboot_answer({"Code": "200", "Message": "success", "InstanceId": a})])

    def broken(*_args: object) -> None:
        raise RuntimeError("metrics down")

    with EcsClient(
        credentials=StaticCredentialsProvider(AK, SECRET),
        transport=httpx.MockTransport(ecs),
        clock=lambda: NOW,
        on_call=broken,
    ) as client:
        [result] = client.reboot(REGION, [a], force=False)
    assert result.ok
    assert "on_call hook failed" in caplog.text


def test_context_manager_closes_the_client() -> None:
    ecs = ScriptedEcs([instances()])
    with EcsClient(
        credentials=StaticCredentialsProvider(AK, SECRET), transport=httpx.MockTransport(ecs)
    ) as client:
        client.describe_instances(REGION, ids(1))
    with pytest.raises(RuntimeError):
        client.describe_instances(REGION, ids(1))
    assert len(ecs.calls) == 1


def test_client_is_an_ecs_gateway() -> None:
    # The real check is mypy's: the assignment below type-checks only if EcsClient
    # matches the Protocol's signatures.
    client = EcsClient(credentials=StaticCredentialsProvider(AK, SECRET))
    gateway: EcsGateway = client
    assert {"describe_instances", "dry_run_reboot", "reboot"} <= set(dir(gateway))
    client.close()

"""EcsClient against the bundled ECS simulator over real HTTP on loopback.

The simulator checks signatures (V3 and V1), plays instance states and injects faults;
its call log says exactly what reached it, so a test can count the calls a reboot made.
Backoff sleeps are recorded, never slept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.domain.errors import EcsError, EcsOutcomeUnknown, EcsTransientError
from bot.domain.events import REBOOT_EVENT_TYPES, EventState
from bot.ecs import catalogue
from bot.ecs.client import EcsClient, SignatureVersion
from bot.ecs.credentials import StaticCredentialsProvider
from bot.ecs.wire import RetryPolicy
from bot.simulator import ManualClock, Simulator

HZ = "cn-hangzhou"
SH = "cn-shanghai"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[Simulator]:
    with Simulator(regions=(HZ, SH), instances_per_region=10, seed=0, clock=clock) as simulator:
        yield simulator


@dataclass
class Bot:
    client: EcsClient
    sleeps: list[float]


ClientFactory = Callable[..., Bot]


@pytest.fixture
def make_client(sim: Simulator, clock: ManualClock) -> Iterator[ClientFactory]:
    made: list[EcsClient] = []

    def build(
        version: SignatureVersion = "v3",
        *,
        secret: str | None = None,
        access_key_id: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        read_timeout: float = 5.0,
    ) -> Bot:
        sleeps: list[float] = []
        client = EcsClient(
            credentials=StaticCredentialsProvider(
                access_key_id or sim.access_key_id, secret or sim.access_key_secret, token
            ),
            endpoint=endpoint or sim.endpoint,
            signature_version=version,
            retry=RetryPolicy(max_attempts=4),
            sleep=sleeps.append,
            random=lambda: 1.0,
            clock=clock,  # the simulator checks timestamps against its own clock
            connect_timeout=2.0,
            read_timeout=read_timeout,
        )
        made.append(client)
        return Bot(client, sleeps)

    yield build
    for client in made:
        client.close()


def grow(sim: Simulator, region: str, total: int) -> list[str]:
    """Make the region hold ``total`` instances; return all their ids."""
    missing = total - len(sim.fleet.ids(region))
    for _ in range(missing):
        sim.fleet.add_instance(region)
    return sim.fleet.ids(region)


# --- both signature schemes ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_both_signature_versions_are_accepted(
    sim: Simulator, make_client: ClientFactory, version: SignatureVersion
) -> None:
    bot = make_client(version)
    wanted = sim.fleet.ids(HZ)[:3]
    found = bot.client.describe_instances(HZ, wanted)
    assert [info.instance_id for info in found] == wanted
    [call] = sim.calls.all()
    assert call.signature_version == version
    assert call.ok


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_sts_token_is_sent_and_accepted(clock: ManualClock, version: SignatureVersion) -> None:
    sts_sim = Simulator(regions=(HZ,), clock=clock, security_token="sts-token-1")
    credentials = StaticCredentialsProvider(
        sts_sim.access_key_id, sts_sim.access_key_secret, "sts-token-1"
    )
    with (
        sts_sim,
        EcsClient(
            credentials=credentials,
            endpoint=sts_sim.endpoint,
            signature_version=version,
            clock=clock,
        ) as client,
    ):
        found = client.describe_instances(HZ, sts_sim.fleet.ids(HZ))
    assert {info.instance_id for info in found} == set(sts_sim.fleet.ids(HZ))
    assert sts_sim.calls.all()[0].signature_version == version


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_wrong_secret_is_refused_once_with_an_actionable_error(
    sim: Simulator, make_client: ClientFactory, version: SignatureVersion
) -> None:
    bot = make_client(version, secret="not-the-secret")
    with pytest.raises(EcsError) as info:
        bot.client.describe_instances(HZ, sim.fleet.ids(HZ)[:1])
    assert info.value.code == "SignatureDoesNotMatch"
    assert info.value.explanation == catalogue.explain("SignatureDoesNotMatch")
    assert info.value.request_id
    assert "not-the-secret" not in str(info.value)
    assert "not-the-secret" not in info.value.describe()
    assert sim.calls.count() == 1  # not retried
    assert bot.sleeps == []


def test_a_proxy_named_in_the_environment_carries_the_calls(
    sim: Simulator, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint's name cannot resolve (.invalid), so an answer proves the call went
    # through HTTP_PROXY, here the simulator itself (it accepts an absolute-form target).
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", sim.endpoint)
    bot = make_client(endpoint="http://ecs.{region}.proxied.invalid")
    wanted = sim.fleet.ids(HZ)[:2]
    found = bot.client.describe_instances(HZ, wanted)
    assert [info.instance_id for info in found] == wanted
    [call] = sim.calls.all()
    assert call.ok


def test_unknown_access_key(sim: Simulator, make_client: ClientFactory) -> None:
    bot = make_client(access_key_id="LTAI5tNobodyKnowsMe00")
    with pytest.raises(EcsError) as info:
        bot.client.describe_instances(HZ, sim.fleet.ids(HZ)[:1])
    assert info.value.code == "InvalidAccessKeyId.NotFound"
    assert info.value.explanation == catalogue.explain("InvalidAccessKeyId.NotFound")


def test_unknown_region(sim: Simulator, make_client: ClientFactory) -> None:
    with pytest.raises(EcsError) as info:
        make_client().client.describe_instances("xx-nowhere-1", ["i-bp1abcdefgh"])
    assert info.value.code == "InvalidRegionId.NotFound"
    assert sim.calls.count() == 1


# --- DescribeInstances ----------------------------------------------------------------------


def test_describe_instances_batches_250_ids(sim: Simulator, make_client: ClientFactory) -> None:
    wanted = grow(sim, HZ, 250)
    tagged = sim.fleet.add_instance(HZ, tags={"env": "prod", "team": "search"}, name="db-77")
    wanted.append(tagged)

    found = make_client().client.describe_instances(HZ, wanted)

    assert [info.instance_id for info in found] == wanted
    calls = sim.calls.of("DescribeInstances")
    assert [len(call.ids) for call in calls] == [100, 100, 51]
    assert all(call.params["MaxResults"] == "100" for call in calls)
    info = found[-1]
    assert info.name == "db-77"
    assert dict(info.tags) == {"env": "prod", "team": "search"}
    assert info.status == "Running"
    assert info.zone is not None
    assert info.zone.startswith(f"{HZ}-")
    assert info.start_time is not None
    assert info.start_time.tzinfo is not None
    assert info.region == HZ


def test_describe_statuses_reads_the_same_calls_for_status_and_start_time(
    sim: Simulator, make_client: ClientFactory
) -> None:
    wanted = grow(sim, HZ, 150)
    sim.fleet.update(HZ, wanted[120], status="Stopping")
    client = make_client().client
    full = client.describe_instances(HZ, [*wanted, "i-bp1doesnotexist00"])
    sim.calls.clear()

    statuses = client.describe_statuses(HZ, [*wanted, "i-bp1doesnotexist00"])

    assert [(s.instance_id, s.status, s.start_time) for s in statuses] == [
        (i.instance_id, i.status, i.start_time) for i in full
    ]
    assert statuses[120].status == "Stopping"
    assert all(s.start_time is not None for s in statuses)
    assert [len(call.ids) for call in sim.calls.of("DescribeInstances")] == [100, 51]


def test_describe_instances_leaves_out_missing_and_reports_locks(
    sim: Simulator, make_client: ClientFactory
) -> None:
    locked = sim.fleet.add_instance(HZ, security_lock=True)
    found = make_client().client.describe_instances(HZ, [locked, "i-bp1doesnotexist00"])
    assert [(info.instance_id, info.operation_locks) for info in found] == [(locked, ("security",))]


def test_dry_run_passes_and_fails_per_batch(sim: Simulator, make_client: ClientFactory) -> None:
    wanted = grow(sim, HZ, 150)
    stopped = wanted[120]
    sim.fleet.update(HZ, stopped, status="Stopped")

    first, second = make_client().client.dry_run_reboot(HZ, wanted, force=True)

    assert first.passed
    assert first.instance_ids == tuple(wanted[:100])
    assert not second.passed
    assert second.error is not None
    assert second.error.code == "IncorrectInstanceStatus"
    assert second.error.explanation == catalogue.explain("IncorrectInstanceStatus")
    assert second.error.request_id
    assert stopped in second.error.message
    calls = sim.calls.of("RebootInstances")
    assert [c.dry_run for c in calls] == [True, True]
    assert {c.params["BatchOptimization"] for c in calls} == {"AllTogether"}
    assert {c.params["ForceReboot"] for c in calls} == {"true"}
    assert all(sim.fleet.reboot_count(HZ, i) == 0 for i in wanted)


def test_dry_run_names_a_missing_instance(sim: Simulator, make_client: ClientFactory) -> None:
    [batch] = make_client().client.dry_run_reboot(
        HZ, [sim.fleet.ids(HZ)[0], "i-bp1doesnotexist00"], force=False
    )
    assert batch.error is not None
    assert batch.error.code == "InvalidInstanceId.NotFound"
    assert batch.error.http_status == 404


def test_dry_run_retries_throttling_and_server_errors(
    sim: Simulator, make_client: ClientFactory
) -> None:
    sim.faults.throttle("RebootInstances", times=1)
    sim.faults.fail("RebootInstances", times=1, code="ServiceUnavailable")
    bot = make_client()
    [batch] = bot.client.dry_run_reboot(HZ, sim.fleet.ids(HZ)[:3], force=False)
    assert batch.passed
    assert [c.code for c in sim.calls.of("RebootInstances")] == [
        "Throttling.User",
        "ServiceUnavailable",
        "DRYRUN.SUCCESS",
    ]
    assert bot.sleeps == [0.5, 0.2]


# --- the real reboot -----------------------------------------------------------------------------


def test_reboot_success_first_with_mixed_results(
    sim: Simulator, make_client: ClientFactory, clock: ManualClock
) -> None:
    running = sim.fleet.ids(HZ)[0]
    stopped = sim.fleet.add_instance(HZ, status="Stopped")
    locked = sim.fleet.add_instance(HZ, security_lock=True)
    missing = "i-bp1doesnotexist00"

    results = make_client().client.reboot(HZ, [running, stopped, locked, missing], force=False)

    by_id = {r.instance_id: r for r in results}
    assert [r.instance_id for r in results] == [running, stopped, locked, missing]
    assert by_id[running].ok
    assert by_id[running].code == "200"
    assert by_id[running].previous_status == "Running"
    assert by_id[running].current_status == "Stopping"
    assert by_id[running].explanation == ""
    assert by_id[running].request_id
    assert (by_id[stopped].ok, by_id[stopped].code) == (False, "IncorrectInstanceStatus")
    assert by_id[stopped].explanation == catalogue.explain("IncorrectInstanceStatus")
    assert by_id[locked].code == "InstanceLockedForSecurity"
    assert by_id[missing].code == "InvalidInstanceId.NotFound"
    [call] = sim.calls.of("RebootInstances")
    assert not call.dry_run
    assert call.params["BatchOptimization"] == "SuccessFirst"
    assert call.params["DryRun"] == "false"
    assert sim.fleet.reboot_count(HZ, running) == 1
    assert sim.fleet.reboot_count(HZ, stopped) == 0

    # And the poller would see it come back.
    clock.advance(10)
    [info] = make_client().client.describe_instances(HZ, [running])
    assert info.status == "Running"


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_reboot_is_retried_after_throttling(
    sim: Simulator, make_client: ClientFactory, version: SignatureVersion
) -> None:
    target = sim.fleet.ids(HZ)[1]
    sim.faults.throttle("RebootInstances", times=2, code="Throttling.Api", retry_after_ms=1500)
    bot = make_client(version)

    [result] = bot.client.reboot(HZ, [target], force=True)

    assert result.ok
    assert [c.code for c in sim.calls.of("RebootInstances")] == [
        "Throttling.Api",
        "Throttling.Api",
        None,
    ]
    assert bot.sleeps == [1.5, 1.5]  # the server's x-acs-retry-after hint
    assert sim.fleet.reboot_count(HZ, target) == 1


def test_reboot_throttled_throughout_is_transient(
    sim: Simulator, make_client: ClientFactory
) -> None:
    sim.faults.throttle("RebootInstances", times=None)
    target = sim.fleet.ids(HZ)[1]
    with pytest.raises(EcsTransientError) as info:
        make_client().client.reboot(HZ, [target], force=False)
    assert not isinstance(info.value, EcsOutcomeUnknown)
    assert sim.calls.count("RebootInstances") == 4
    assert sim.fleet.reboot_count(HZ, target) == 0


@pytest.mark.parametrize(
    ("inject", "expected_code", "applied"),
    [
        (lambda s: s.faults.timeout_after_apply("RebootInstances"), "InternalError", 1),
        (
            lambda s: s.faults.timeout_after_apply("RebootInstances", mode="drop"),
            catalogue.CLIENT_CONNECTION_LOST,
            1,
        ),
        (
            lambda s: s.faults.fail("RebootInstances", code="ServiceUnavailable"),
            "ServiceUnavailable",
            0,
        ),
        (lambda s: s.faults.fail("RebootInstances", code="InternalError"), "InternalError", 0),
        (
            lambda s: s.faults.drop_connection("RebootInstances"),
            catalogue.CLIENT_CONNECTION_LOST,
            0,
        ),
    ],
    ids=["applied-then-500", "applied-then-drop", "503", "500", "drop"],
)
def test_reboot_is_not_resent_when_the_outcome_is_unknown(
    sim: Simulator,
    make_client: ClientFactory,
    inject: Callable[[Simulator], object],
    expected_code: str,
    applied: int,
) -> None:
    target = sim.fleet.ids(HZ)[2]
    inject(sim)
    bot = make_client()

    with pytest.raises(EcsOutcomeUnknown) as info:
        bot.client.reboot(HZ, [target], force=False)

    assert sim.calls.count("RebootInstances") == 1  # exactly one call, never re-sent
    assert info.value.code == expected_code
    assert info.value.explanation == catalogue.OUTCOME_UNKNOWN
    assert sim.fleet.reboot_count(HZ, target) == applied
    assert bot.sleeps == []


def test_reboot_read_timeout_is_outcome_unknown(sim: Simulator, make_client: ClientFactory) -> None:
    target = sim.fleet.ids(HZ)[3]
    # A slow answer against a short read timeout: the client gives up waiting.
    sim.faults.latency("RebootInstances", 0.5)
    bot = make_client(read_timeout=0.1)
    with pytest.raises(EcsOutcomeUnknown) as info:
        bot.client.reboot(HZ, [target], force=False)
    assert info.value.code == catalogue.CLIENT_TIMEOUT
    # Every re-send goes through a backoff sleep first; none means it was sent once.
    # (The simulator logs the call only when its delayed answer is written, after this.)
    assert bot.sleeps == []


def test_reboot_against_a_closed_port_is_retried_then_transient(
    make_client: ClientFactory, sim: Simulator
) -> None:
    endpoint = sim.endpoint
    sim.stop()  # nothing listens any more: connecting fails, nothing is sent
    bot = make_client(endpoint=endpoint)
    with pytest.raises(EcsTransientError) as info:
        bot.client.reboot(HZ, ["i-bp1abcdefgh"], force=False)
    assert not isinstance(info.value, EcsOutcomeUnknown)
    assert info.value.code == catalogue.CLIENT_CONNECTION_FAILED
    assert bot.sleeps == [0.1, 0.2, 0.4]


# --- retries of the read-only actions -------------------------------------------------------


@pytest.mark.parametrize(
    ("inject", "codes", "sleeps"),
    [
        (
            lambda s: s.faults.throttle("DescribeInstances", times=2),
            ["Throttling.User", "Throttling.User", None],
            [0.5, 1.0],
        ),
        (
            lambda s: s.faults.fail("DescribeInstances", times=2, code="ServiceUnavailable"),
            ["ServiceUnavailable", "ServiceUnavailable", None],
            [0.1, 0.2],
        ),
        (
            lambda s: s.faults.fail("DescribeInstances", times=1, code="InternalError"),
            ["InternalError", None],
            [0.1],
        ),
        (
            lambda s: s.faults.drop_connection("DescribeInstances", times=2),
            ["ConnectionDropped", "ConnectionDropped", None],
            [0.1, 0.2],
        ),
    ],
    ids=["throttling", "503", "500", "dropped"],
)
def test_describe_retries_each_fault(
    sim: Simulator,
    make_client: ClientFactory,
    inject: Callable[[Simulator], object],
    codes: list[str | None],
    sleeps: list[float],
) -> None:
    inject(sim)
    bot = make_client()
    wanted = sim.fleet.ids(HZ)[:2]
    found = bot.client.describe_instances(HZ, wanted)
    assert [info.instance_id for info in found] == wanted
    assert [c.code for c in sim.calls.of("DescribeInstances")] == codes
    assert bot.sleeps == sleeps


def test_describe_gives_up_after_four_attempts(sim: Simulator, make_client: ClientFactory) -> None:
    sim.faults.fail("DescribeInstances", times=None, code="InternalError")
    bot = make_client()
    with pytest.raises(EcsTransientError) as info:
        bot.client.describe_instances(HZ, sim.fleet.ids(HZ))
    assert info.value.code == "InternalError"
    assert info.value.explanation == catalogue.explain("InternalError")
    assert sim.calls.count("DescribeInstances") == 4
    assert bot.sleeps == [0.1, 0.2, 0.4]


# --- platform events: DescribeInstanceHistoryEvents -------------------------------------------

WATCHED = ("Scheduled", "Executing")


def schedule(sim: Simulator, clock: ManualClock, count: int) -> list[str]:
    """``count`` reboot events over the region's instances, deadlines a minute apart."""
    ids = sim.fleet.ids(HZ)
    made: list[str] = []
    for n in range(count):
        not_before = clock() + timedelta(hours=2, minutes=n)
        made += sim.events.create(HZ, [ids[n % len(ids)]], not_before=not_before)
    return made


def test_every_page_of_pending_events_as_domain_values(
    sim: Simulator, clock: ManualClock, make_client: ClientFactory
) -> None:
    made = schedule(sim, clock, 230)
    bot = make_client()
    events = bot.client.describe_events(HZ, states=WATCHED, types=REBOOT_EVENT_TYPES)
    assert sorted(e.event_id for e in events) == sorted(made)
    calls = sim.calls.of("DescribeInstanceHistoryEvents")
    assert [c.params["PageNumber"] for c in calls] == ["1", "2", "3"]
    assert {c.params["PageSize"] for c in calls} == {"100"}
    first = next(e for e in events if e.event_id == made[0])
    assert first.state is EventState.SCHEDULED
    assert first.account == "default"
    assert first.region == HZ
    assert first.not_before == (clock() + timedelta(hours=2)).replace(microsecond=0)
    assert first.event_type == "SystemMaintenance.Reboot"
    assert first.instance_id == sim.fleet.ids(HZ)[0]


def test_by_event_id_100_a_call_finished_ones_only(
    sim: Simulator, clock: ManualClock, make_client: ClientFactory
) -> None:
    made = schedule(sim, clock, 150)
    sim.events.cancel(HZ, made[:100])
    sim.events.cancel(HZ, made[100:120])
    bot = make_client()
    sim.calls.clear()
    events = bot.client.describe_events(HZ, event_ids=made)
    # Without a status the API answers finished events only: the 30 still Scheduled
    # are not there.
    assert sorted(e.event_id for e in events) == sorted(made[:120])
    assert {e.state for e in events} == {EventState.CANCELED}
    assert all(e.finished_at is not None for e in events)
    calls = sim.calls.of("DescribeInstanceHistoryEvents")
    assert [sum(k.startswith("EventId.") for k in c.params) for c in calls] == [100, 50]


def test_throttling_is_retried_and_then_raised(
    sim: Simulator, clock: ManualClock, make_client: ClientFactory
) -> None:
    schedule(sim, clock, 3)
    bot = make_client()
    sim.faults.throttle("DescribeInstanceHistoryEvents", times=2)
    assert len(bot.client.describe_events(HZ, states=WATCHED)) == 3
    assert len(bot.sleeps) == 2
    sim.faults.throttle("DescribeInstanceHistoryEvents", times=10)
    with pytest.raises(EcsTransientError):
        bot.client.describe_events(HZ, states=WATCHED)

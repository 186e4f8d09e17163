"""System events in the simulator over real HTTP, the official SDK as the oracle:
``CreateSimulatedSystemEvents``, ``DescribeInstanceHistoryEvents`` (status, type and id
filters, the finished-only default, paging) and ``CancelSimulatedSystemEvents``; the
state machine driven by a ManualClock (avoided by a reboot, executed by the platform at
``NotBefore``, canceled); the admin routes and the CLI's ``--events``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException

from bot.simulator import ManualClock, Simulator
from tests.integration.test_simulator import (
    assert_error,
    call,
    printed_sdk,
    sdk,
    simulator_command,
    status_of,
)

REGION = "cn-hangzhou"
REBOOT = "SystemMaintenance.Reboot"
PENDING = ["Scheduled", "Executing"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[Simulator]:
    with Simulator(regions=(REGION,), instances_per_region=30, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.endpoint, timeout=5) as client:
        yield client


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(
    client: EcsClient, ids: list[str], not_before: datetime, kind: str = REBOOT
) -> list[str]:
    body = client.create_simulated_system_events(
        ecs_models.CreateSimulatedSystemEventsRequest(
            region_id=REGION, instance_id=ids, event_type=kind, not_before=utc(not_before)
        )
    ).body
    assert body.request_id
    return list(body.event_id_set.event_id)


def describe(
    client: EcsClient, *, states: list[str] | None = None, **extra: object
) -> ecs_models.DescribeInstanceHistoryEventsResponseBody:
    request = ecs_models.DescribeInstanceHistoryEventsRequest(
        region_id=REGION, instance_event_cycle_status=states, **extra
    )
    return client.describe_instance_history_events(request).body


def states_of(client: EcsClient, event_ids: list[str]) -> dict[str, str]:
    body = describe(
        client,
        states=["Scheduled", "Executing", "Executed", "Avoided", "Canceled", "Failed"],
        event_id=event_ids,
        page_size=100,
    )
    return {
        event.event_id: event.event_cycle_status.name
        for event in body.instance_system_event_set.instance_system_event_type
    }


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_sdk_creates_and_describes_scheduled_events(
    sim: Simulator, clock: ManualClock, v1: bool
) -> None:
    client = sdk(sim, v1=v1)
    ids = sim.fleet.ids(REGION)[:2]
    not_before = clock() + timedelta(hours=27)
    event_ids = create(client, ids, not_before)
    assert len(event_ids) == 2
    assert all(e.startswith("e-") for e in event_ids)

    body = describe(client, states=PENDING, instance_event_type=[REBOOT])
    events = body.instance_system_event_set.instance_system_event_type
    assert body.total_count == 2
    assert body.page_number == 1
    assert body.page_size == 10
    assert [e.event_id for e in events] == event_ids
    first = events[0]
    assert first.instance_id == ids[0]
    assert (first.event_type.name, first.event_cycle_status.name) == (REBOOT, "Scheduled")
    assert isinstance(first.event_type.code, int)
    assert first.not_before == utc(not_before)
    assert first.event_publish_time == utc(clock())
    assert first.event_finish_time is None

    # Without a status filter only finished events come back: none yet.
    assert describe(client).total_count == 0
    # The other filters: a type that does not match, one instance, event ids.
    other = describe(client, states=PENDING, instance_event_type=["SystemMaintenance.Stop"])
    assert other.total_count == 0
    assert describe(client, states=PENDING, instance_id=ids[1]).total_count == 1
    assert describe(client, states=PENDING, event_id=[event_ids[0]]).total_count == 1


def test_a_reboot_through_the_api_avoids_the_event(sim: Simulator, clock: ManualClock) -> None:
    client = sdk(sim)
    target, bystander = sim.fleet.ids(REGION)[:2]
    event_ids = create(client, [target, bystander], clock() + timedelta(hours=2))

    # A DryRun is not a reboot; the real call is.
    dry = ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[target], dry_run=True)
    with pytest.raises((ClientException, ServerException)):
        client.reboot_instances(dry)
    assert states_of(client, event_ids) == dict.fromkeys(event_ids, "Scheduled")
    client.reboot_instances(
        ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[target])
    )

    assert states_of(client, event_ids) == {event_ids[0]: "Avoided", event_ids[1]: "Scheduled"}
    finished = describe(client).instance_system_event_set.instance_system_event_type
    assert [e.event_id for e in finished] == [event_ids[0]]
    assert finished[0].event_finish_time == utc(clock())


def test_at_not_before_the_platform_reboots_the_instance(
    sim: Simulator, clock: ManualClock
) -> None:
    client = sdk(sim)
    target = sim.fleet.ids(REGION)[0]
    started_before = sim.fleet.get(REGION, target).start_time  # type: ignore[union-attr]
    (event_id,) = create(client, [target], clock() + timedelta(seconds=60))

    clock.advance(61)
    assert states_of(client, [event_id]) == {event_id: "Executing"}
    assert status_of(sim, target) in ("Stopping", "Starting")
    clock.advance(10)
    assert states_of(client, [event_id]) == {event_id: "Executed"}
    view = sim.fleet.get(REGION, target)
    assert view is not None
    assert view.status == "Running"
    assert view.start_time > started_before
    # The platform's reboot is not one of the API's.
    assert sim.fleet.reboot_count(REGION, target) == 0
    assert sim.events.platform_reboots == {(REGION, target): 1}
    # A reboot after the event ended changes nothing about it.
    client.reboot_instances(
        ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[target])
    )
    assert states_of(client, [event_id]) == {event_id: "Executed"}


def test_a_late_look_sees_the_reboot_as_it_happened_at_not_before(
    sim: Simulator, clock: ManualClock
) -> None:
    client = sdk(sim)
    target = sim.fleet.ids(REGION)[0]
    not_before = clock() + timedelta(seconds=30)
    (event_id,) = create(client, [target], not_before)
    clock.advance(800)  # nobody asked in between (the SDK stamps real time: < 15 min)
    assert states_of(client, [event_id]) == {event_id: "Executed"}
    view = sim.fleet.get(REGION, target)
    assert view is not None
    assert view.status == "Running"
    assert view.start_time == not_before + timedelta(seconds=5)  # stop 2 s + start 3 s


def test_cancel_and_its_refusals(sim: Simulator, http: httpx.Client, clock: ManualClock) -> None:
    client = sdk(sim)
    ids = sim.fleet.ids(REGION)[:2]
    event_ids = create(client, ids, clock() + timedelta(hours=1))
    client.cancel_simulated_system_events(
        ecs_models.CancelSimulatedSystemEventsRequest(region_id=REGION, event_id=[event_ids[0]])
    )
    assert states_of(client, event_ids) == {event_ids[0]: "Canceled", event_ids[1]: "Scheduled"}
    status, body = call(
        http, sim, "CancelSimulatedSystemEvents", {"RegionId": REGION, "EventId.1": event_ids[0]}
    )
    assert_error(status, body, 403, "IncorrectEventStatus")
    status, body = call(
        http, sim, "CancelSimulatedSystemEvents", {"RegionId": REGION, "EventId.1": "e-nothing"}
    )
    assert_error(status, body, 404, "InvalidEventId.NotFound")


def test_create_refusals(sim: Simulator, http: httpx.Client) -> None:
    known = sim.fleet.ids(REGION)[0]
    base = {"RegionId": REGION, "EventType": REBOOT, "NotBefore": "2030-01-01T00:00:00Z"}
    status, body = call(
        http, sim, "CreateSimulatedSystemEvents", {**base, "InstanceId.1": "i-nothere0000"}
    )
    assert_error(status, body, 404, "InvalidInstanceId.NotFound")
    status, body = call(
        http,
        sim,
        "CreateSimulatedSystemEvents",
        {**base, "EventType": "Nope", "InstanceId.1": known},
    )
    assert_error(status, body, 400, "InvalidParameter")
    status, body = call(
        http,
        sim,
        "CreateSimulatedSystemEvents",
        {**base, "NotBefore": "tomorrow", "InstanceId.1": known},
    )
    assert_error(status, body, 400, "InvalidParameter")
    no_time = {k: v for k, v in base.items() if k != "NotBefore"}
    status, body = call(
        http, sim, "CreateSimulatedSystemEvents", {**no_time, "InstanceId.1": known}
    )
    assert_error(status, body, 400, "MissingParameter")
    status, body = call(
        http,
        sim,
        "DescribeInstanceHistoryEvents",
        {"RegionId": REGION, "InstanceEventCycleStatus.1": "Sleeping"},
    )
    assert_error(status, body, 400, "InvalidParameter")
    status, body = call(
        http, sim, "DescribeInstanceHistoryEvents", {"RegionId": REGION, "PageSize": "101"}
    )
    assert_error(status, body, 400, "InvalidParameter")


def test_25_events_come_in_pages_of_10_by_default_and_100_at_most(
    sim: Simulator, clock: ManualClock
) -> None:
    client = sdk(sim)
    ids = sim.fleet.ids(REGION)[:25]
    event_ids = create(client, ids, clock() + timedelta(days=2))
    seen: list[str] = []
    for page_number in (1, 2, 3):
        body = describe(client, states=["Scheduled"], page_number=page_number)
        assert body.total_count == 25
        assert body.page_size == 10
        seen += [e.event_id for e in body.instance_system_event_set.instance_system_event_type]
    assert seen == event_ids
    assert (
        len(
            describe(
                client, states=["Scheduled"], page_size=100
            ).instance_system_event_set.instance_system_event_type
        )
        == 25
    )


def test_admin_routes_create_list_and_make_an_event_stubborn(
    sim: Simulator, http: httpx.Client, clock: ManualClock
) -> None:
    target = sim.fleet.ids(REGION)[0]
    created = http.post(
        "/_sim/events",
        json={"region": REGION, "instance_ids": [target], "in_seconds": 600, "avoidable": False},
    )
    assert created.status_code == 201, created.text
    (event_id,) = created.json()["event_ids"]
    client = sdk(sim)
    client.reboot_instances(
        ecs_models.RebootInstancesRequest(region_id=REGION, instance_id=[target])
    )
    listed = http.get("/_sim/events").json()
    assert [(e["event_id"], e["state"]) for e in listed["events"]] == [(event_id, "Scheduled")]
    assert http.patch(f"/_sim/events/{event_id}", json={"avoidable": True}).status_code == 200
    clock.advance(600)
    listed = http.get("/_sim/events", params={"region": REGION}).json()
    assert listed["events"][0]["state"] == "Executing"
    assert listed["platform_reboots"] == {REGION: {target: 1}}
    assert http.post("/_sim/events", json={"region": REGION}).status_code == 400
    cancel = http.post("/_sim/events/cancel", json={"region": REGION, "event_ids": [event_id]})
    assert cancel.status_code == 403


def test_simulator_command_schedules_events() -> None:
    with simulator_command(
        "--json", "--instances", "3", "--events", "2", "--events-in", "3600"
    ) as sim:
        info = json.loads(sim.readline())
        assert [e["instance_id"] for e in info["events"]] == info["instances"][REGION][:2]
        client = printed_sdk(info, REGION)
        body = client.describe_instance_history_events(
            ecs_models.DescribeInstanceHistoryEventsRequest(
                region_id=REGION, instance_event_cycle_status=["Scheduled"]
            )
        ).body
        assert body.total_count == 2

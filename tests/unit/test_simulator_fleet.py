"""The simulator's fleet: generated instances and the reboot state machine, driven by a
ManualClock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.simulator import Fleet, ManualClock
from bot.simulator.fleet import INSTANCE_ID_PATTERN

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def fleet(clock: ManualClock) -> Fleet:
    fleet = Fleet(("cn-hangzhou", "cn-shanghai"), clock=clock, stop_seconds=2, start_seconds=3)
    fleet.populate("cn-hangzhou", 25)
    fleet.populate("cn-shanghai", 3)
    return fleet


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(T0)
    assert clock.now() == T0 == clock()
    assert clock.advance(1.5) == T0 + timedelta(seconds=1.5)
    clock.set(T0 + timedelta(days=1))
    assert clock.now() == T0 + timedelta(days=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2025, 1, 1))


def test_generated_ids_look_real_and_follow_the_region(fleet: Fleet) -> None:
    hangzhou = fleet.ids("cn-hangzhou")
    shanghai = fleet.ids("cn-shanghai")
    assert len(hangzhou) == 25
    assert len(set(hangzhou)) == 25
    assert all(INSTANCE_ID_PATTERN.fullmatch(i) and len(i) == 22 for i in hangzhou + shanghai)
    assert all(i.startswith("i-bp1") for i in hangzhou)
    assert all(i.startswith("i-uf6") for i in shanghai)
    assert fleet.ids("eu-west-9") == []


def test_generation_is_deterministic_per_seed_and_region(clock: ManualClock) -> None:
    def build(seed: int, regions: tuple[str, ...]) -> Fleet:
        fleet = Fleet(regions, clock=clock, seed=seed)
        for region in regions:
            fleet.populate(region, 5)
        return fleet

    first = build(0, ("cn-hangzhou",))
    again = build(0, ("cn-beijing", "cn-hangzhou"))
    other = build(1, ("cn-hangzhou",))
    assert first.ids("cn-hangzhou") == again.ids("cn-hangzhou")
    assert first.ids("cn-hangzhou") != other.ids("cn-hangzhou")
    view = first.get("cn-hangzhou", first.ids("cn-hangzhou")[0])
    twin = again.get("cn-hangzhou", again.ids("cn-hangzhou")[0])
    assert view is not None
    assert twin is not None
    assert (view.name, view.zone, dict(view.tags)) == (twin.name, twin.zone, dict(twin.tags))


def test_generated_instances_have_names_tags_and_zones(fleet: Fleet) -> None:
    views = fleet.page("cn-hangzhou", 0, 25)
    assert [v.name for v in views[:3]] == ["web-01", "web-02", "web-03"]
    assert views[20].name == "api-01"
    for view in views:
        assert view.status == "Running"
        assert view.tags["env"] in ("prod", "staging")
        assert view.tags["team"] in ("platform", "payments", "search")
        assert view.zone.startswith("cn-hangzhou-")
        assert len(view.zone) == len("cn-hangzhou-h")
        assert view.creation_time <= view.start_time < T0


def test_add_instance_with_explicit_values(fleet: Fleet) -> None:
    instance_id = fleet.add_instance(
        "cn-hangzhou",
        "i-bp1custom000000000001",
        name="db-primary",
        status="Stopped",
        tags={"env": "prod"},
        zone="cn-hangzhou-k",
        security_lock=True,
    )
    view = fleet.get("cn-hangzhou", instance_id)
    assert view is not None
    assert (view.name, view.status, dict(view.tags), view.zone) == (
        "db-primary",
        "Stopped",
        {"env": "prod"},
        "cn-hangzhou-k",
    )
    assert view.security_lock
    assert not view.expired
    assert fleet.get("cn-shanghai", instance_id) is None  # instances live in one region


@pytest.mark.parametrize(
    ("instance_id", "status", "reason"),
    [
        ("i-short", "Running", "malformed"),
        ("i-UPPERCASE0000", "Running", "malformed"),
        ("i-bp1custom000000000001", "Rebooting", "unknown status"),
    ],
)
def test_add_instance_refuses_bad_values(
    fleet: Fleet, instance_id: str, status: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        fleet.add_instance("cn-hangzhou", instance_id, status=status)


def test_add_instance_refuses_a_duplicate(fleet: Fleet) -> None:
    existing = fleet.ids("cn-hangzhou")[0]
    with pytest.raises(ValueError, match="already exists"):
        fleet.add_instance("cn-hangzhou", existing)


def test_reboot_walks_stopping_starting_running(fleet: Fleet, clock: ManualClock) -> None:
    instance_id = fleet.ids("cn-hangzhou")[0]
    before = fleet.get("cn-hangzhou", instance_id)
    assert before is not None

    assert fleet.reboot("cn-hangzhou", [instance_id]) == [(instance_id, "Running", "Stopping")]
    timeline = []
    for step in (0, 1.9, 0.1, 2.9, 0.1):
        clock.advance(step)
        view = fleet.get("cn-hangzhou", instance_id)
        assert view is not None
        timeline.append(view.status)
    assert timeline == ["Stopping", "Stopping", "Starting", "Starting", "Running"]

    after = fleet.get("cn-hangzhou", instance_id)
    assert after is not None
    assert after.start_time == T0 + timedelta(seconds=5)
    assert after.start_time > before.start_time
    assert fleet.reboot_count("cn-hangzhou", instance_id) == 1


def test_a_late_read_still_sees_the_reboot_done(fleet: Fleet, clock: ManualClock) -> None:
    instance_id = fleet.ids("cn-hangzhou")[1]
    fleet.reboot("cn-hangzhou", [instance_id])
    clock.advance(3600)  # nobody looked in between: the state is derived, not stepped
    view = fleet.get("cn-hangzhou", instance_id)
    assert view is not None
    assert view.status == "Running"
    assert view.start_time == T0 + timedelta(seconds=5)


def test_never_returns_stays_down(fleet: Fleet, clock: ManualClock) -> None:
    instance_id = fleet.add_instance("cn-hangzhou", never_returns=True)
    fleet.reboot("cn-hangzhou", [instance_id])
    statuses = []
    for step in (1, 2, 10, 86_400):
        clock.advance(step)
        view = fleet.get("cn-hangzhou", instance_id)
        assert view is not None
        statuses.append(view.status)
    assert statuses == ["Stopping", "Starting", "Starting", "Starting"]


def test_durations_are_configurable(clock: ManualClock) -> None:
    fleet = Fleet(("cn-hangzhou",), clock=clock, stop_seconds=0, start_seconds=10)
    instance_id = fleet.add_instance("cn-hangzhou")
    assert fleet.reboot("cn-hangzhou", [instance_id]) == [(instance_id, "Running", "Starting")]
    clock.advance(10)
    view = fleet.get("cn-hangzhou", instance_id)
    assert view is not None
    assert view.status == "Running"
    with pytest.raises(ValueError, match="negative"):
        Fleet(clock=clock, stop_seconds=-1)


def test_update_sets_status_and_flags(fleet: Fleet, clock: ManualClock) -> None:
    instance_id = fleet.ids("cn-hangzhou")[2]
    fleet.reboot("cn-hangzhou", [instance_id])
    view = fleet.update("cn-hangzhou", instance_id, status="Stopped", expired=True)
    assert view.status == "Stopped"
    assert view.expired
    clock.advance(60)  # the reboot in flight was cancelled by the hand-set status
    again = fleet.get("cn-hangzhou", instance_id)
    assert again is not None
    assert again.status == "Stopped"
    with pytest.raises(KeyError):
        fleet.update("cn-hangzhou", "i-bp1doesnotexist0000", status="Running")


def test_paging_and_batch_lookups(fleet: Fleet) -> None:
    ids = fleet.ids("cn-hangzhou")
    assert [v.instance_id for v in fleet.page("cn-hangzhou", 20, 10)] == ids[20:]
    assert fleet.page("nowhere", 0, 10) == []
    found = fleet.get_many("cn-hangzhou", [ids[3], "i-bp1unknown000000000", ids[0]])
    assert [v.instance_id if v else None for v in found] == [ids[3], None, ids[0]]
    assert fleet.count("cn-hangzhou") == 25

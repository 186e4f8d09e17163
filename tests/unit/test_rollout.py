"""The rollout plan (docs/PRODUCT.md §5.8): flags, sizes and waves, as pure values."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.ecs_values import batches, by_region
from bot.domain.model import InstanceOutcome, InstanceRef, Verdict
from bot.domain.parser import CommandError, RebootCommand, parse_command
from bot.domain.request import PlannedInstance
from bot.domain.rollout import (
    Rollout,
    RolloutDefaults,
    RolloutFlags,
    Size,
    next_wave,
    parse_size,
    plan_waves,
    resolve,
    sent_wave,
    throttled_unsent,
    wave_in_flight,
)

DEFAULTS = RolloutDefaults()


def _parse(text: str) -> RebootCommand | CommandError:
    parsed = parse_command(text, default_region="cn-hangzhou", max_instances=500)
    assert isinstance(parsed, RebootCommand | CommandError)
    return parsed


# --- flags --------------------------------------------------------------------------------


def test_the_five_flags_are_read() -> None:
    parsed = _parse("i-bp1aaaaaaaa1 --batch 25% --canary 2 --max-errors 3 --pause-after-canary")
    assert isinstance(parsed, RebootCommand)
    assert parsed.rollout == RolloutFlags(
        batch=Size(25, percent=True), canary=2, max_errors=Size(3), pause_after_canary=True
    )
    parsed = _parse("i-bp1aaaaaaaa1 --all-at-once --batch=10")
    assert isinstance(parsed, CommandError)
    assert any("--all-at-once" in problem for problem in parsed.problems)


@pytest.mark.parametrize(
    "flag", ["--batch 0", "--batch 120%", "--canary -1", "--max-errors lots", "--canary 5%"]
)
def test_a_malformed_value_is_an_error_listed_with_the_others(flag: str) -> None:
    parsed = _parse(f"i-bp1aaaaaaaa1 {flag} i-bad")
    assert isinstance(parsed, CommandError)
    value = flag.split()[1]
    assert any(f"`{value}`" in problem for problem in parsed.problems)
    assert any("`i-bad`" in problem for problem in parsed.problems)


def test_a_flag_without_its_value_says_what_it_needs() -> None:
    parsed = _parse("i-bp1aaaaaaaa1 --batch")
    assert isinstance(parsed, CommandError)
    assert "`--batch` needs a count" in parsed.problems[0]


@pytest.mark.parametrize(
    ("text", "least", "size"),
    [("25%", 1, Size(25, True)), ("0", 0, Size(0)), ("0", 1, None), ("101%", 0, None)],
)
def test_parse_size(text: str, least: int, size: Size | None) -> None:
    assert parse_size(text, least=least) == size


# --- which requests roll out -----------------------------------------------------------------


def test_a_small_request_is_one_wave_a_large_one_rolls_out() -> None:
    assert resolve(10, RolloutFlags(), DEFAULTS) == Rollout()
    assert resolve(11, RolloutFlags(), DEFAULTS) == Rollout(
        waves=5, canary=1, batch=3, max_errors=0
    )
    assert resolve(3, RolloutFlags(canary=1), DEFAULTS).waves == 3  # 25 % of 3: 1 a wave
    assert resolve(500, RolloutFlags(all_at_once=True), DEFAULTS).waves == 1
    # "canary 1, then 4 waves of ≤ 25": 100 instances at the defaults.
    assert resolve(100, RolloutFlags(), DEFAULTS) == Rollout(
        waves=5, canary=1, batch=25, max_errors=0
    )
    assert resolve(40, RolloutFlags(max_errors=Size(10, True)), DEFAULTS).max_errors == 4


# --- the plan, as properties ------------------------------------------------------------------

_zones = st.sampled_from(["a", "b", "c", None])
_regions = st.sampled_from(["cn-hangzhou", "cn-shanghai"])


@st.composite
def _fleets(draw: st.DrawFn) -> list[tuple[InstanceRef, str | None]]:
    count = draw(st.integers(min_value=1, max_value=350))
    fleet = []
    for number in range(count):
        region = draw(_regions)
        zone = draw(_zones)
        fleet.append((InstanceRef(region, f"i-test{number:08d}"), zone and f"{region}-{zone}"))
    return fleet


_sizes = st.one_of(
    st.builds(Size, st.integers(1, 400)),
    st.builds(Size, st.integers(1, 100), st.just(True)),
)


@settings(max_examples=150, deadline=None)
@given(fleet=_fleets(), batch=_sizes, canary=st.integers(0, 20))
def test_the_plan_puts_each_instance_in_one_wave_in_zone_turn(
    fleet: list[tuple[InstanceRef, str | None]], batch: Size, canary: int
) -> None:
    total = len(fleet)
    rollout = resolve(total, RolloutFlags(batch=batch, canary=canary), DEFAULTS)
    waves = plan_waves(fleet, rollout)

    # Every instance in exactly one wave, waves numbered 1…n without gaps.
    assert set(waves) == {ref for ref, _ in fleet}
    assert sorted(set(waves.values())) == list(range(1, rollout.waves + 1))
    members: dict[int, list[tuple[InstanceRef, str | None]]] = {}
    for ref, zone in fleet:
        members.setdefault(waves[ref], []).append((ref, zone))

    assert rollout.batch is not None
    assert rollout.canary is not None
    expected_batch = max(1, batch.of(total, round_up=True))
    assert rollout.batch == expected_batch
    first = min(canary, total) if canary else min(expected_batch, total)
    assert len(members[1]) == first
    later = members if not canary else {k: v for k, v in members.items() if k > 1}
    assert all(len(wave) <= expected_batch for wave in later.values())

    # A wave takes from a (region, zone) at most its share of what is left, rounded up.
    left: dict[tuple[str, str | None], int] = {}
    for ref, zone in fleet:
        left[(ref.region, zone)] = left.get((ref.region, zone), 0) + 1
    for number in range(1, rollout.waves + 1):
        wave = members[number]
        remaining = sum(left.values())
        taken: dict[tuple[str, str | None], int] = {}
        for ref, zone in wave:
            taken[(ref.region, zone)] = taken.get((ref.region, zone), 0) + 1
        for group, count in taken.items():
            assert count <= math.ceil(left[group] * len(wave) / remaining)
        for group, count in taken.items():
            left[group] -= count
        # Each wave's calls: ≤ 100 ids per call and region.
        for ids in by_region(ref for ref, _ in wave).values():
            assert all(len(call) <= 100 for call in batches(ids))


def test_waves_alternate_between_two_equal_zones() -> None:
    fleet = [
        (InstanceRef("cn-hangzhou", f"i-test{n:08d}"), "cn-hangzhou-" + "hi"[n % 2])
        for n in range(12)
    ]
    rollout = resolve(12, RolloutFlags(batch=Size(4)), DEFAULTS)
    waves = plan_waves(fleet, rollout)
    for number in (2, 3):
        zones = [zone for ref, zone in fleet if waves[ref] == number]
        assert zones.count("cn-hangzhou-h") == zones.count("cn-hangzhou-i") == 2


# --- a wave whose call ECS refused before it reached it --------------------------------

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _planned(number: int, wave: int, **changes: object) -> PlannedInstance:
    ref = InstanceRef("cn-hangzhou", f"i-bp1wave{number:012d}")
    return dataclasses.replace(
        PlannedInstance(ref=ref, position=number, verdict=Verdict.WILL_REBOOT, wave=wave),
        **changes,  # type: ignore[arg-type]
    )


def test_a_refused_call_keeps_its_wave_in_flight_and_the_next_wave_waiting() -> None:
    sent = _planned(0, 1, reboot_sent_at=T0, reboot_calls=1, outcome=InstanceOutcome.REBOOTING)
    throttled = _planned(1, 1, unsent_since=T0)
    later = _planned(2, 2)
    instances = [sent, throttled, later]
    assert throttled_unsent(instances) == [throttled]
    assert sent_wave(instances) == 1
    assert wave_in_flight(instances)
    assert next_wave(instances) == [later]  # sent only once wave 1 is over


def test_a_wave_refused_whole_is_still_the_wave_under_way() -> None:
    instances = [_planned(0, 1, unsent_since=T0), _planned(1, 2)]
    assert sent_wave(instances) == 1
    assert wave_in_flight(instances)
    # Sent once the refused one is through: it is then rebooting, then back.
    back = dataclasses.replace(
        instances[0], reboot_sent_at=T0, reboot_calls=1, outcome=InstanceOutcome.SUCCEEDED
    )
    through = [back, instances[1]]
    assert throttled_unsent(through) == []
    assert not wave_in_flight(through)
    assert next_wave(through) == [instances[1]]


def test_waves_share_out_each_accounts_zone_on_its_own() -> None:
    # Three of prod's instances and one of staging's in the same zone: as one group the
    # second wave would take prod's next two; as two groups it takes one of each.
    refs = [
        (InstanceRef("cn-hangzhou", f"i-bp1{a}{n:07d}0", account), "cn-hangzhou-h")
        for a, account, count in ((0, "prod", 3), (1, "staging", 1))
        for n in range(count)
    ]
    rollout = Rollout(waves=3, canary=1, batch=2, max_errors=0)
    waves = plan_waves(refs, rollout)
    second = [ref.account for ref, _ in refs if waves[ref] == 2]
    assert sorted(second) == ["prod", "staging"]

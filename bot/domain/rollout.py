"""Rolling reboots (docs/PRODUCT.md §5.8): the plan of waves, and where a rollout stands. Pure.

A request that reboots more than ``ECSBOT_ROLLING_ABOVE`` instances, or one given a
rollout flag, reboots in waves: a canary first, then waves of the batch size. Waves
draw from the instances' zones (and regions) in proportion to what each zone still has
to reboot, so no zone loses more than its share of capacity at once.

The words for all of this live in ``bot.slack.text``; here are only values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.model import InstanceOutcome, InstanceRef
from bot.domain.request import PlannedInstance


@dataclass(frozen=True)
class Size:
    """A count (``25``) or a percentage of the instances to reboot (``25%``)."""

    value: int
    percent: bool = False

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)

    def of(self, total: int, *, round_up: bool) -> int:
        if not self.percent:
            return self.value
        exact = total * self.value / 100
        return math.ceil(exact) if round_up else math.floor(exact)


def parse_size(text: str, *, least: int) -> Size | None:
    """``N`` or ``N%`` with N ≥ ``least`` (a percentage at most 100); None when malformed."""
    digits, percent = (text[:-1], True) if text.endswith("%") else (text, False)
    if not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    if value < least or (percent and value > 100):
        return None
    return Size(value, percent)


@dataclass(frozen=True)
class RolloutFlags:
    """The ROLLOUT flags as typed (None: not given, the setting applies)."""

    batch: Size | None = None
    canary: int | None = None
    max_errors: Size | None = None
    pause_after_canary: bool = False
    all_at_once: bool = False

    @property
    def asks_for_waves(self) -> bool:
        """Any flag that makes a small request roll out in waves too."""
        return (
            self.batch is not None
            or self.canary is not None
            or self.max_errors is not None
            or self.pause_after_canary
        )


@dataclass(frozen=True)
class RolloutDefaults:
    """``ECSBOT_ROLLING_ABOVE``, ``ECSBOT_BATCH``, ``ECSBOT_CANARY``, ``ECSBOT_MAX_ERRORS``."""

    rolling_above: int = 10
    batch: Size = Size(25, percent=True)
    canary: int = 1
    max_errors: Size = Size(0)


@dataclass(frozen=True)
class Rollout:
    """A resolved rollout: ``waves`` planned; ``canary`` the first wave's size, ``batch``
    every later wave's most, ``max_errors`` the failures tolerated (all three None when
    the request reboots all at once, as one wave)."""

    waves: int = 1
    canary: int | None = None
    batch: int | None = None
    max_errors: int | None = None
    pause_after_canary: bool = False

    @property
    def rolling(self) -> bool:
        return self.canary is not None


def resolve(total: int, flags: RolloutFlags, defaults: RolloutDefaults) -> Rollout:
    """The rollout for ``total`` instances to reboot, waves not yet counted."""
    rolling = not flags.all_at_once and (total > defaults.rolling_above or flags.asks_for_waves)
    if not rolling or total == 0:
        return Rollout()
    canary = min(total, defaults.canary if flags.canary is None else flags.canary)
    batch = max(1, (flags.batch or defaults.batch).of(total, round_up=True))
    max_errors = (flags.max_errors or defaults.max_errors).of(total, round_up=False)
    sizes = wave_sizes(total, canary, batch)
    return Rollout(len(sizes), canary, batch, max_errors, flags.pause_after_canary)


def wave_sizes(total: int, canary: int, batch: int) -> list[int]:
    """The size of each wave: the canary (when not 0), then batches, the last one
    what is left."""
    sizes = [canary] if canary > 0 else []
    left = total - sum(sizes)
    while left > 0:
        sizes.append(min(batch, left))
        left -= sizes[-1]
    return sizes or [0]


# (account, region, zone): an account's capacity in a zone is its own (§5.13), so two
# accounts' instances in one zone are shared out as two groups.
Group = tuple[str, str, str | None]


def plan_waves(
    instances: Sequence[tuple[InstanceRef, str | None]], rollout: Rollout
) -> dict[InstanceRef, int]:
    """Each instance's wave (1-based), from ``(ref, zone)`` in the order given.

    Each wave takes from every (account, region, zone) what its share of the wave is, counted on
    what each still has to reboot, rounded down, and the wave's remaining places go
    one each to the groups with the largest remainders: so a wave never takes more
    than a group's share rounded up, and the last wave takes all that is left.
    """
    if not rollout.rolling:
        return {ref: 1 for ref, _zone in instances}
    groups: dict[Group, list[InstanceRef]] = {}
    for ref, zone in instances:
        groups.setdefault((ref.account, ref.region, zone), []).append(ref)
    remaining = {group: list(refs) for group, refs in groups.items()}
    order = {group: index for index, group in enumerate(groups)}
    waves: dict[InstanceRef, int] = {}
    sizes = wave_sizes(len(instances), rollout.canary or 0, rollout.batch or len(instances))
    for number, size in enumerate(sizes, start=1):
        for group, count in share_out(size, {g: len(r) for g, r in remaining.items()}, order):
            taken, remaining[group] = remaining[group][:count], remaining[group][count:]
            for ref in taken:
                waves[ref] = number
    return waves


def share_out(
    size: int, remaining: Mapping[Group, int], order: Mapping[Group, int]
) -> list[tuple[Group, int]]:
    """How many of ``size`` places each group gets (largest remainder method)."""
    total = sum(remaining.values())
    if total == 0 or size == 0:
        return []
    exact = {group: count * size / total for group, count in remaining.items()}
    counts = {group: math.floor(share) for group, share in exact.items()}
    left = size - sum(counts.values())
    by_remainder = sorted(
        (group for group in remaining if exact[group] > counts[group]),
        key=lambda group: (counts[group] - exact[group], order[group]),
    )
    for group in by_remainder[:left]:
        counts[group] += 1
    return [(group, count) for group, count in counts.items() if count]


def plan_rollout(
    instances: tuple[PlannedInstance, ...], flags: RolloutFlags, defaults: RolloutDefaults
) -> tuple[tuple[PlannedInstance, ...], Rollout]:
    """The rollout for the instances that will reboot, and each instance with its wave
    (the others stay in wave 1: they end ``skipped`` when the first wave is sent)."""
    to_reboot = [i for i in instances if i.will_reboot]
    rollout = resolve(len(to_reboot), flags, defaults)
    waves = plan_waves([(i.ref, i.zone) for i in to_reboot], rollout)
    return (
        tuple(dataclasses.replace(i, wave=waves.get(i.ref, 1)) for i in instances),
        rollout,
    )


# --- where a rollout stands -----------------------------------------------------------

_IN_FLIGHT = (InstanceOutcome.PENDING, InstanceOutcome.REBOOTING)
_ERRORS = (InstanceOutcome.FAILED, InstanceOutcome.TIMED_OUT)


def sent_wave(instances: Iterable[PlannedInstance]) -> int:
    """The last wave a reboot was sent to, or tried (0 before the first)."""
    # A loop that looks at an instance only when its wave is later than the last found:
    # the poller asks this several times a step of every request in flight.
    last = 0
    for i in instances:
        if (
            i.wave > last
            and i.will_reboot
            and (i.reboot_sent_at is not None or i.unsent_since is not None)
        ):
            last = i.wave
    return last


def wave_in_flight(instances: Sequence[PlannedInstance]) -> bool:
    """True while an instance of a sent wave is not back, failed or timed out yet."""
    last = sent_wave(instances)
    return any(i.will_reboot and i.wave <= last and i.outcome in _IN_FLIGHT for i in instances)


def next_wave(instances: Sequence[PlannedInstance]) -> list[PlannedInstance]:
    """The instances of the first wave not sent yet (empty when every wave was sent). A
    call refused before it reached ECS is tried again on its own (``throttled_unsent``): its wave
    is under way."""
    unsent = [
        i
        for i in instances
        if i.will_reboot
        and i.outcome is InstanceOutcome.PENDING
        and i.reboot_sent_at is None
        and i.unsent_since is None
    ]
    if not unsent:
        return []
    first = min(i.wave for i in unsent)
    return [i for i in unsent if i.wave == first]


def throttled_unsent(instances: Iterable[PlannedInstance]) -> list[PlannedInstance]:
    """Instances whose first call ECS refused before it reached it (throttled, or the
    connection refused): never sent, waiting to be tried again."""
    return [
        i
        for i in instances
        if i.outcome is InstanceOutcome.PENDING
        and i.reboot_sent_at is None
        and i.unsent_since is not None
    ]


def errors(instances: Iterable[PlannedInstance]) -> int:
    """Instances that failed or timed out."""
    return sum(1 for i in instances if i.outcome in _ERRORS)


def too_many_errors(instances: Sequence[PlannedInstance], max_errors: int | None) -> bool:
    """More failures than ``--max-errors`` tolerates (never for an all-at-once request)."""
    return max_errors is not None and errors(instances) > max_errors

"""WHEN in the command (docs/PRODUCT.md §4, §5.10): `--at`, `--in` and `--window` read by the
option table into ``RebootCommand.when``; at most one; malformed values and a WHEN the
caller's clock refuses reported with every other problem; the `scheduled` keyword."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.commands import CommandError, RebootCommand, ScheduledCommand
from bot.domain.parser import parse_command
from bot.domain.schedule import (
    AtClock,
    AtMoment,
    InDelay,
    InWindow,
    ScheduleLimits,
    When,
    WhenProblem,
    resolve_when,
)

ID = "i-bp1abcd00000001"
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _parse(text: str, *, place: bool = False) -> object:
    def place_when(when: When) -> WhenProblem | None:
        placed = resolve_when(
            when, now=NOW, tz="UTC", windows={}, limits=ScheduleLimits(min_lead=60)
        )
        return placed if isinstance(placed, WhenProblem) else None

    return parse_command(
        text,
        default_region="cn-hangzhou",
        max_instances=10,
        place_when=place_when if place else None,
    )


@pytest.mark.parametrize(
    ("text", "when"),
    [
        (f"--at 02:00 {ID}", AtClock(2, 0)),
        (f"{ID} --at 2026-12-24T02:00", AtMoment(datetime(2026, 12, 24, 2))),
        (
            f"{ID} --at 2026-12-24T02:00+08:00",
            AtMoment(datetime(2026, 12, 24, 2), timedelta(hours=8)),
        ),
        (f"{ID} --at=2026-12-24T02:00Z", AtMoment(datetime(2026, 12, 24, 2), timedelta(0))),
        (f"--in 90m {ID}", InDelay(5400)),
        (f"--window Nightly {ID}", InWindow("nightly")),
        (ID, None),
    ],
)
def test_when_is_read_into_the_command(text: str, when: When | None) -> None:
    parsed = _parse(text)
    assert isinstance(parsed, RebootCommand), parsed
    assert parsed.when == when
    assert parsed.instances[0].instance_id == ID


def test_at_most_one_when() -> None:
    parsed = _parse(f"--at 02:00 --in 5m {ID}")
    assert isinstance(parsed, CommandError)
    assert any("cannot be combined" in p and "`--window`" in p for p in parsed.problems)


def test_malformed_when_is_reported_with_every_other_problem() -> None:
    parsed = _parse("--at 25:00 i-BAD")
    assert isinstance(parsed, CommandError)
    assert any("`--at 25:00`: 25:00 is not a time of day" in p for p in parsed.problems)
    assert any("i-BAD" in p for p in parsed.problems)


def test_a_when_the_clock_refuses_is_reported_with_every_other_problem() -> None:
    parsed = _parse("--in 30s i-BAD", place=True)
    assert isinstance(parsed, CommandError)
    assert any("`--in 30s` is only 30 s from now" in p for p in parsed.problems)
    assert any("i-BAD" in p for p in parsed.problems)
    ok = _parse(f"--in 5m {ID}", place=True)
    assert isinstance(ok, RebootCommand)
    unknown = _parse(f"--window nightly {ID}", place=True)
    assert isinstance(unknown, CommandError)
    assert any("no maintenance window is set up" in p for p in unknown.problems)


def test_a_when_needs_its_value() -> None:
    parsed = _parse(f"{ID} --in")
    assert isinstance(parsed, CommandError)
    assert any("`--in` needs" in p for p in parsed.problems)


def test_scheduled_keyword() -> None:
    assert _parse("scheduled") == ScheduledCommand()
    extra = _parse("scheduled now")
    assert isinstance(extra, CommandError)
    assert any("takes no arguments" in p for p in extra.problems)
    misplaced = _parse("roles --at 02:00")
    assert isinstance(misplaced, CommandError)
    assert any("`--at` does not apply to `roles`" in p for p in misplaced.problems)

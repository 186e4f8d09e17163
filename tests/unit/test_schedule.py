"""Scheduled reboots (docs/PRODUCT.md §5.10): WHEN read and placed on the clock, the lead
limits, and what a scheduled request needs at a given moment. Plain values only."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.schedule import (
    AtClock,
    AtMoment,
    HoldForWindow,
    InDelay,
    InWindow,
    Schedule,
    ScheduledStep,
    ScheduleLimits,
    ScheduleTimes,
    SendWave,
    WhenProblem,
    between_waves,
    duration_words,
    next_look,
    next_wall_clock,
    read_at,
    read_in,
    read_window,
    resolve_when,
    scheduled_step,
)
from bot.domain.windows import Window, WindowsProblem, is_open, parse_windows

NOW = datetime(2026, 12, 6, 11, 30, tzinfo=UTC)  # a Sunday
LIMITS = ScheduleLimits(min_lead=60, max_ahead=14 * 86400)


def _windows() -> dict[str, Window]:
    parsed = parse_windows(
        "nightly=Mon-Fri 02:00-04:00 Asia/Shanghai; weekend=Sat,Sun 00:00-06:00",
        default_tz="UTC",
    )
    assert not isinstance(parsed, WindowsProblem)
    return dict(parsed)


def _resolve(
    text_flag: str, value: str, *, now: datetime = NOW, tz: str = "UTC"
) -> Schedule | WhenProblem:
    reader = {"--at": read_at, "--in": read_in, "--window": read_window}[text_flag]
    when = reader(value)
    assert not isinstance(when, WhenProblem), when
    return resolve_when(when, now=now, tz=tz, windows=_windows(), limits=LIMITS)


# ── reading ───────────────────────────────────────────────────────────────────────


def test_read_at() -> None:
    assert read_at("02:00") == AtClock(2, 0)
    assert read_at("2:05") == AtClock(2, 5)
    assert read_at("2026-12-24T02:00") == AtMoment(datetime(2026, 12, 24, 2))
    assert read_at("2026-12-24T02:00Z") == AtMoment(datetime(2026, 12, 24, 2), timedelta(0))
    assert read_at("2026-12-24T02:00+08:00") == AtMoment(
        datetime(2026, 12, 24, 2),
        timedelta(hours=8),
    )
    assert read_at("2026-12-24T02:00:30-05:30") == AtMoment(
        datetime(2026, 12, 24, 2, 0, 30),
        -timedelta(hours=5, minutes=30),
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("25:00", "is not a time of day"),
        ("02:60", "is not a time of day"),
        ("tonight", "is not a time: use `--at HH:MM`"),
        ("2026-02-30T02:00", "no such date or time"),
        ("2026-12-24T02:00+15:00", "offset is not between"),
        ("2026-12-24", "is not a time"),
        ("", "is not a time"),
    ],
)
def test_read_at_problems_say_what_to_type(text: str, says: str) -> None:
    problem = read_at(text)
    assert isinstance(problem, WhenProblem)
    assert says in problem.message


def test_read_in() -> None:
    assert read_in("90m") == InDelay(5400)
    assert read_in("30s") == InDelay(30)
    assert read_in("3h") == InDelay(10800)
    assert read_in("2d") == InDelay(172800)
    assert read_in("1h30m") == InDelay(5400)
    assert read_in("90M") == InDelay(5400)


@pytest.mark.parametrize("text", ["90", "m", "1.5h", "-5m", "5 m", "1w", "soon", "99999d"])
def test_read_in_problems(text: str) -> None:
    problem = read_in(text)
    assert isinstance(problem, WhenProblem)
    assert "`--in" in problem.message


def test_read_window() -> None:
    assert read_window("Nightly") == InWindow("nightly")
    assert isinstance(read_window("no such!"), WhenProblem)


# ── on the clock ──────────────────────────────────────────────────────────────────


def test_at_clock_is_the_next_such_time_in_the_zone() -> None:
    # 11:30 UTC; 13:00 UTC is later today, 09:00 is tomorrow.
    assert _resolve("--at", "13:00") == Schedule(datetime(2026, 12, 6, 13, tzinfo=UTC))
    assert _resolve("--at", "09:00") == Schedule(datetime(2026, 12, 7, 9, tzinfo=UTC))
    # In Shanghai it is 19:30: 02:00 is tomorrow's 02:00 there, 18:00 UTC today.
    assert _resolve("--at", "02:00", tz="Asia/Shanghai") == Schedule(
        datetime(2026, 12, 6, 18, tzinfo=UTC)
    )


def test_at_moment_in_the_zone_or_with_its_own_offset() -> None:
    assert _resolve("--at", "2026-12-14T02:00", tz="Asia/Shanghai") == Schedule(
        datetime(2026, 12, 13, 18, tzinfo=UTC)
    )
    assert _resolve("--at", "2026-12-14T02:00Z", tz="Asia/Shanghai") == Schedule(
        datetime(2026, 12, 14, 2, tzinfo=UTC)
    )
    # Beyond the 14 days ahead.
    assert isinstance(_resolve("--at", "2026-12-24T02:00", tz="Asia/Shanghai"), WhenProblem)
    assert _resolve("--at", "2026-12-10T02:00-05:00", tz="Asia/Shanghai") == Schedule(
        datetime(2026, 12, 10, 7, tzinfo=UTC)
    )


def test_in_counts_from_now() -> None:
    assert _resolve("--in", "90m") == Schedule(NOW + timedelta(minutes=90))


def test_window_is_its_next_opening() -> None:
    # Sunday 11:30 UTC: Shanghai's Monday 02:00 is Sunday 18:00 UTC.
    assert _resolve("--window", "nightly") == Schedule(
        datetime(2026, 12, 6, 18, tzinfo=UTC), "nightly"
    )
    # Open now (weekend, 00:00-06:00 UTC, at 03:00 on Sunday): the next opening, Saturday.
    assert _resolve("--window", "weekend", now=datetime(2026, 12, 6, 3, tzinfo=UTC)) == Schedule(
        datetime(2026, 12, 12, 0, tzinfo=UTC), "weekend"
    )


def test_window_about_to_open_is_taken_at_its_following_opening() -> None:
    # 30 s before Saturday's opening, less than the minute of lead: Sunday's is taken.
    just_before = datetime(2026, 12, 11, 23, 59, 30, tzinfo=UTC)
    assert _resolve("--window", "weekend", now=just_before) == Schedule(
        datetime(2026, 12, 13, 0, tzinfo=UTC), "weekend"
    )


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        (
            "--in",
            "30s",
            "`--in 30s` is only 30 s from now; a scheduled reboot starts at least 1 min ahead",
        ),
        (
            "--in",
            "15d",
            "`--in 15d` is 15 d from now; a scheduled reboot starts at most 14 d ahead",
        ),
        ("--at", "2026-12-06T11:00Z", "is in the past"),
        ("--at", "11:30", None),  # tomorrow's 11:30: fine
        ("--at", "11:30:00", "is not a time"),
        (
            "--window",
            "monthly",
            "`--window monthly`: no such window; the windows are `nightly`, `weekend`",
        ),
    ],
)
def test_problems_on_the_clock(flag: str, value: str, says: str | None) -> None:
    if flag == "--at" and says == "is not a time":
        assert isinstance(read_at(value), WhenProblem)
        return
    resolved = _resolve(flag, value)
    if says is None:
        assert isinstance(resolved, Schedule)
    else:
        assert isinstance(resolved, WhenProblem)
        assert says in resolved.message


def test_no_windows_configured() -> None:
    resolved = resolve_when(InWindow("nightly"), now=NOW, tz="UTC", windows={}, limits=LIMITS)
    assert isinstance(resolved, WhenProblem)
    assert "no maintenance window is set up (ECSBOT_WINDOWS)" in resolved.message


def test_a_window_that_opens_too_far_ahead() -> None:
    resolved = resolve_when(
        InWindow("weekend"),
        now=NOW,
        tz="UTC",
        windows=_windows(),
        limits=ScheduleLimits(min_lead=60, max_ahead=3600),
    )
    assert isinstance(resolved, WhenProblem)
    assert "`--window weekend` opens next is 5 d 12 h from now" in resolved.message


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2027, 12, 31),
        timezones=st.just(UTC),
    ),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai"]),
)
def test_next_wall_clock_is_within_a_day_and_reads_the_time(
    now: datetime, hour: int, minute: int, tz: str
) -> None:
    zone = ZoneInfo(tz)
    start = next_wall_clock(time(hour, minute), now=now, zone=zone)
    assert now < start <= now + timedelta(hours=25)
    local = start.astimezone(zone)
    wanted = local.replace(hour=hour, minute=minute, second=0, microsecond=0, tzinfo=None)
    # The time itself, or in a gap the jump, at most an hour after what was asked.
    assert timedelta(0) <= local.replace(tzinfo=None) - wanted <= timedelta(hours=1)


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.integers(0, 30 * 86400),
    min_lead=st.integers(0, 3600),
    max_ahead=st.integers(3600, 20 * 86400),
)
def test_in_is_accepted_exactly_between_the_limits(
    seconds: int, min_lead: int, max_ahead: int
) -> None:
    limits = ScheduleLimits(min_lead=min_lead, max_ahead=max_ahead)
    resolved = resolve_when(InDelay(seconds), now=NOW, tz="UTC", windows={}, limits=limits)
    ok = seconds > 0 and min_lead <= seconds <= max_ahead
    assert isinstance(resolved, Schedule) == ok


def test_duration_words() -> None:
    assert duration_words(45) == "45 s"
    assert duration_words(60) == "1 min"
    assert duration_words(5400) == "1 h 30 min"
    assert duration_words(86400 * 3 + 3600 * 4 + 59) == "3 d 4 h"
    assert duration_words(0) == "0 s"


# ── a scheduled request's next step ───────────────────────────────────────────────

START = datetime(2026, 12, 7, 2, tzinfo=UTC)
TIMES = ScheduleTimes(remind=900, grace=900)
EARLY = START - timedelta(hours=10)


def _step(
    now: datetime, *, reminded: bool = False, scheduled_at: datetime = EARLY
) -> ScheduledStep:
    return scheduled_step(
        start=START, scheduled_at=scheduled_at, reminded=reminded, now=now, times=TIMES
    )


def test_steps_of_a_scheduled_request() -> None:
    assert _step(START - timedelta(minutes=16)) is ScheduledStep.WAIT
    assert _step(START - timedelta(minutes=15)) is ScheduledStep.REMIND
    assert _step(START - timedelta(minutes=1), reminded=True) is ScheduledStep.WAIT
    assert _step(START) is ScheduledStep.START
    assert _step(START + timedelta(minutes=15)) is ScheduledStep.START  # within the grace
    assert _step(START + timedelta(minutes=15, seconds=1)) is ScheduledStep.EXPIRE


def test_no_reminder_for_a_request_scheduled_inside_the_reminder_time() -> None:
    late = START - timedelta(minutes=5)
    assert _step(START - timedelta(minutes=4), scheduled_at=late) is ScheduledStep.WAIT
    assert next_look(start=START, scheduled_at=late, reminded=False, times=TIMES) == START


def test_next_look() -> None:
    assert next_look(
        start=START, scheduled_at=EARLY, reminded=False, times=TIMES
    ) == START - timedelta(minutes=15)
    assert next_look(start=START, scheduled_at=EARLY, reminded=True, times=TIMES) == START


@settings(max_examples=300, deadline=None)
@given(
    offset=st.integers(-86400, 86400),
    reminded=st.booleans(),
    remind=st.integers(0, 7200),
    grace=st.integers(0, 7200),
)
def test_never_starts_early_nor_beyond_the_grace(
    offset: int, reminded: bool, remind: int, grace: int
) -> None:
    now = START + timedelta(seconds=offset)
    step = scheduled_step(
        start=START,
        scheduled_at=EARLY,
        reminded=reminded,
        now=now,
        times=ScheduleTimes(remind, grace),
    )
    assert (step is ScheduledStep.START) == (0 <= offset <= grace)
    assert (step is ScheduledStep.EXPIRE) == (offset > grace)
    if step is ScheduledStep.REMIND:
        assert not reminded
        assert offset < 0
        assert -offset <= remind
    # Waiting until the next look never skips a step that was due.
    if step is ScheduledStep.WAIT:
        look = next_look(
            start=START, scheduled_at=EARLY, reminded=reminded, times=ScheduleTimes(remind, grace)
        )
        assert look > now


# ── waves in a window ─────────────────────────────────────────────────────────────


def test_between_waves_without_a_window_always_sends() -> None:
    assert between_waves(None, NOW) == SendWave()


def test_between_waves_in_a_window() -> None:
    nightly = _windows()["nightly"]
    monday_3am_shanghai = datetime(2026, 12, 6, 19, tzinfo=UTC)
    assert between_waves(nightly, monday_3am_shanghai) == SendWave(
        datetime(2026, 12, 6, 20, tzinfo=UTC)
    )
    after = datetime(2026, 12, 6, 20, tzinfo=UTC)
    gate = between_waves(nightly, after)
    assert gate == HoldForWindow(datetime(2026, 12, 7, 18, tzinfo=UTC))
    assert isinstance(gate, HoldForWindow)
    assert is_open(nightly, gate.reopens)

"""Maintenance windows (docs/PRODUCT.md §5.10): ECSBOT_WINDOWS read into values, and
when a window is open, as pure functions of a clock, across midnight and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.windows import (
    Window,
    WindowClosed,
    WindowOpen,
    WindowsProblem,
    describe_days,
    is_open,
    next_closing,
    next_opening,
    occurrences,
    parse_days,
    parse_windows,
    wave_gate,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _one(text: str, default_tz: str = "UTC") -> Window:
    parsed = parse_windows(text, default_tz=default_tz)
    assert not isinstance(parsed, WindowsProblem), parsed
    (window,) = parsed.values()
    return window


# ── reading ───────────────────────────────────────────────────────────────────────


def test_the_contract_example_reads_into_two_windows() -> None:
    parsed = parse_windows(
        "nightly=Mon-Fri 02:00-04:00 Asia/Shanghai; weekend=Sat,Sun 00:00-06:00",
        default_tz="Europe/Berlin",
    )
    assert not isinstance(parsed, WindowsProblem)
    assert parsed["nightly"] == Window(
        "nightly", frozenset({0, 1, 2, 3, 4}), time(2), time(4), "Asia/Shanghai"
    )
    # No zone given: ECSBOT_TIMEZONE's.
    assert parsed["weekend"] == Window(
        "weekend", frozenset({5, 6}), time(0), time(6), "Europe/Berlin"
    )


def test_empty_setting_is_no_window() -> None:
    assert parse_windows("", default_tz="UTC") == {}
    assert parse_windows(" ; ", default_tz="UTC") == {}


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("daily", {0, 1, 2, 3, 4, 5, 6}),
        ("DAILY", {0, 1, 2, 3, 4, 5, 6}),
        ("Mon-Fri", {0, 1, 2, 3, 4}),
        ("Sat,Sun", {5, 6}),
        ("mon-wed,fri", {0, 1, 2, 4}),
        ("Fri-Mon", {4, 5, 6, 0}),  # a range wraps over the week's end
        ("Tuesday", {1}),
        ("Wed", {2}),
    ],
)
def test_days(days: str, expected: set[int]) -> None:
    assert parse_days(days) == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("nightly", "entry 1: not NAME=DAYS"),
        ("nightly=Mon-Fri", "window nightly: not DAYS"),
        ("nightly=Mo-Fr 02:00-04:00", "'Mo-Fr' is not a day"),
        ("nightly=Mon-Fri 2-4", "'2-4' is not HH:MM-HH:MM"),
        ("nightly=Mon-Fri 25:00-04:00", "is not HH:MM-HH:MM"),
        ("nightly=Mon-Fri 24:00-04:00", "is not HH:MM-HH:MM"),
        ("nightly=Mon-Fri 02:00-04:60", "is not HH:MM-HH:MM"),
        ("nightly=Mon-Fri 02:00-04:00 Mars/Olympus", "'Mars/Olympus' is not an IANA time zone"),
        ("nightly=Mon-Fri 02:00-04:00 ../etc", "is not an IANA time zone"),
        ("a=daily 01:00-02:00; a=daily 03:00-04:00", "entry 2: the window a is named twice"),
        ("ok=daily 01:00-02:00; bad name=daily 01:00-02:00", "entry 2: a window name is"),
        ("=daily 01:00-02:00", "a window name is"),
        ("nightly=Mon-Fri 02:00-04:00 UTC extra", "not DAYS HH:MM-HH:MM [TZ]"),
    ],
)
def test_malformed_entries_name_the_entry_and_what_to_fix(text: str, names: str) -> None:
    parsed = parse_windows(text, default_tz="UTC")
    assert isinstance(parsed, WindowsProblem)
    assert names in parsed.message


def test_24_00_closes_at_the_midnight_ending_the_day() -> None:
    window = _one("late=daily 22:00-24:00")
    opening = datetime(2026, 12, 6, 22, tzinfo=UTC)
    assert next_opening(window, opening - timedelta(hours=1)) == opening
    assert next_closing(window, opening) == datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ({0, 1, 2, 3, 4}, "Mon-Fri"),
        ({5, 6}, "Sat,Sun"),
        (set(range(7)), "daily"),
        ({0, 2}, "Mon,Wed"),
    ],
)
def test_days_are_described_as_people_type_them(days: set[int], text: str) -> None:
    assert describe_days(frozenset(days)) == text


# ── open and closed, with plain examples ───────────────────────────────────────────


def test_a_weekday_window_in_shanghai() -> None:
    window = _one("nightly=Mon-Fri 02:00-04:00 Asia/Shanghai")
    # Friday 2026-12-04 01:00 Shanghai = Thursday 17:00 UTC.
    friday_1am = datetime(2026, 12, 3, 17, tzinfo=UTC)
    assert not is_open(window, friday_1am)
    assert next_opening(window, friday_1am) == datetime(2026, 12, 3, 18, tzinfo=UTC)
    assert is_open(window, datetime(2026, 12, 3, 18, tzinfo=UTC))  # opening: open
    assert is_open(window, datetime(2026, 12, 3, 19, 59, tzinfo=UTC))
    assert not is_open(window, datetime(2026, 12, 3, 20, tzinfo=UTC))  # closing: closed
    # After Friday's window, the next is Monday's: Sunday 18:00 UTC.
    assert next_opening(window, datetime(2026, 12, 3, 20, tzinfo=UTC)) == datetime(
        2026, 12, 6, 18, tzinfo=UTC
    )


def test_a_window_across_midnight_belongs_to_the_day_it_opens() -> None:
    window = _one("late=Fri 22:00-02:00")
    friday = datetime(2026, 12, 4, 22, tzinfo=UTC)
    assert is_open(window, friday)
    assert is_open(window, datetime(2026, 12, 5, 1, 59, tzinfo=UTC))  # Saturday, still Friday's
    assert not is_open(window, datetime(2026, 12, 5, 2, tzinfo=UTC))
    # Saturday 22:00 is not a Friday: closed, and the next opening is a week on.
    assert not is_open(window, datetime(2026, 12, 5, 23, tzinfo=UTC))
    assert next_opening(window, datetime(2026, 12, 5, 23, tzinfo=UTC)) == friday + timedelta(days=7)
    # Thursday night before midnight: nothing (Thursday is not a day of it).
    assert not is_open(window, datetime(2026, 12, 3, 23, tzinfo=UTC))


def test_wave_gate_says_until_when_or_from_when() -> None:
    window = _one("nightly=daily 02:00-04:00")
    assert wave_gate(window, datetime(2026, 12, 6, 3, tzinfo=UTC)) == WindowOpen(
        datetime(2026, 12, 6, 4, tzinfo=UTC)
    )
    assert wave_gate(window, datetime(2026, 12, 6, 4, tzinfo=UTC)) == WindowClosed(
        datetime(2026, 12, 7, 2, tzinfo=UTC)
    )


# ── daylight saving time ──────────────────────────────────────────────────────────


def test_berlin_spring_forward_opens_a_missing_opening_when_the_clocks_jump() -> None:
    # 2026-03-29: Berlin's clocks jump from 02:00 to 03:00.
    window = _one("nightly=daily 02:30-04:00 Europe/Berlin")
    opening = next_opening(window, datetime(2026, 3, 28, 23, tzinfo=UTC))
    assert opening == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 03:00 CEST, when the clocks jump
    assert next_closing(window, opening) == datetime(2026, 3, 29, 2, tzinfo=UTC)  # 04:00 CEST


def test_berlin_spring_forward_drops_an_occurrence_the_gap_swallows() -> None:
    window = _one("short=daily 02:15-02:45 Europe/Berlin")
    opening = next_opening(window, datetime(2026, 3, 28, 23, tzinfo=UTC))
    # No window on the night of the change: the next is the 30th, 02:15 CEST.
    assert opening == datetime(2026, 3, 30, 0, 15, tzinfo=UTC)


def test_berlin_fall_back_takes_the_first_of_a_repeated_time() -> None:
    # 2026-10-25: Berlin's clocks go back from 03:00 CEST to 02:00 CET.
    window = _one("nightly=daily 02:30-03:30 Europe/Berlin")
    opening = next_opening(window, datetime(2026, 10, 24, 22, tzinfo=UTC))
    assert opening == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first
    assert next_closing(window, opening) == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)  # 03:30 CET


def test_new_york_window_keeps_its_wall_clock_across_the_change() -> None:
    window = _one("nightly=daily 01:00-05:00 America/New_York")
    # 2026-03-08 is New York's spring forward: 02:00 EST → 03:00 EDT; the window is 3 h.
    opening = next_opening(window, datetime(2026, 3, 8, 0, tzinfo=UTC))
    assert opening == datetime(2026, 3, 8, 6, tzinfo=UTC)  # 01:00 EST
    assert next_closing(window, opening) - opening == timedelta(hours=3)
    # The next night it opens at 01:00 EDT, an hour earlier in UTC.
    assert next_opening(window, opening + timedelta(hours=4)) == datetime(2026, 3, 9, 5, tzinfo=UTC)


# ── properties ────────────────────────────────────────────────────────────────────

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe"]

windows = st.builds(
    Window,
    name=st.just("w"),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    opens=st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    closes=st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    tz=st.sampled_from(ZONES),
)
# 2026 and 2027 hold every DST change of these zones twice, and every midnight.
moments = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(UTC),
)
# Nights of DST changes, where the properties are most at risk.
CHANGES = [
    datetime(2026, 3, 29, tzinfo=UTC),  # Berlin spring
    datetime(2026, 10, 25, tzinfo=UTC),  # Berlin autumn
    datetime(2026, 3, 8, 5, tzinfo=UTC),  # New York spring
    datetime(2026, 11, 1, 5, tzinfo=UTC),  # New York autumn
    datetime(2026, 4, 5, tzinfo=UTC),  # Lord Howe (half an hour)
]
near_changes = st.builds(
    lambda change, minutes: change + timedelta(minutes=minutes),
    st.sampled_from(CHANGES),
    st.integers(-48 * 60, 48 * 60),
)
any_moment = st.one_of(moments, near_changes)


@settings(max_examples=300, deadline=None)
@given(window=windows, now=any_moment)
def test_next_opening_is_an_opening(window: Window, now: datetime) -> None:
    opening = next_opening(window, now)
    assert opening >= now
    assert is_open(window, opening)
    assert not is_open(window, opening - timedelta(microseconds=1)) or _adjacent(window, opening)
    # It opens on one of the window's days, at its time or, in a gap, the gap's length later.
    local = opening.astimezone(window.zone)
    declared = datetime.combine(local.date(), window.opens)
    assert local.weekday() in window.days
    assert timedelta(0) <= local.replace(tzinfo=None) - declared <= timedelta(hours=1)


def _adjacent(window: Window, opening: datetime) -> bool:
    """A 24-hour window: yesterday's occurrence closes as today's opens."""
    return window.crosses_midnight and window.opens == window.closes


@settings(max_examples=300, deadline=None)
@given(window=windows, now=any_moment)
def test_nothing_opens_before_the_next_opening(window: Window, now: datetime) -> None:
    opening = next_opening(window, now)
    if is_open(window, now):
        return
    # Closed from now until the opening: sample the way there.
    steps = 12
    for i in range(steps):
        moment = now + (opening - now) * i / steps
        assert not is_open(window, moment)
        assert next_opening(window, moment) == opening


@settings(max_examples=300, deadline=None)
@given(window=windows, now=any_moment)
def test_an_open_window_stays_open_until_its_closing(window: Window, now: datetime) -> None:
    closing = next_closing(window, now)
    assert closing > now
    if not is_open(window, now):
        assert now < next_opening(window, now) < closing
        return
    assert is_open(window, closing - timedelta(microseconds=1))
    assert is_open(window, now + (closing - now) / 2)
    gate = wave_gate(window, now)
    assert gate == WindowOpen(closing)


@settings(max_examples=300, deadline=None)
@given(window=windows, now=any_moment)
def test_an_occurrence_lasts_its_wall_clock_length_give_or_take_the_change(
    window: Window, now: datetime
) -> None:
    occurrence = next(occurrences(window, now))
    declared = datetime.combine(datetime(2026, 1, 1), window.closes) - datetime.combine(
        datetime(2026, 1, 1),
        window.opens,
    )
    if window.crosses_midnight:
        declared += timedelta(days=1)
    length = occurrence.closes - occurrence.opens
    assert timedelta(0) < length
    assert abs(length - declared) <= timedelta(hours=1)


@settings(max_examples=300, deadline=None)
@given(window=windows, now=moments)
def test_is_open_agrees_with_the_wall_clock_away_from_changes(
    window: Window, now: datetime
) -> None:
    zone = window.zone
    # Only where the offset is the same for two days around: wall clock = UTC + offset.
    offsets = {(now + timedelta(hours=h)).astimezone(zone).utcoffset() for h in range(-50, 51)}
    if len(offsets) > 1:
        return
    local = now.astimezone(zone)
    at = local.time().replace(tzinfo=None)
    today, yesterday = local.weekday(), (local.weekday() - 1) % 7
    if window.crosses_midnight:
        expected = (today in window.days and at >= window.opens) or (
            yesterday in window.days and at < window.closes
        )
    else:
        expected = today in window.days and window.opens <= at < window.closes
    assert is_open(window, now) == expected


@settings(max_examples=200, deadline=None)
@given(window=windows, now=any_moment, later=st.integers(0, 10 * 24 * 3600))
def test_next_opening_never_goes_back(window: Window, now: datetime, later: int) -> None:
    assert next_opening(window, now) <= next_opening(window, now + timedelta(seconds=later))

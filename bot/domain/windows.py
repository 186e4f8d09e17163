"""Maintenance windows (docs/PRODUCT.md §5.10): ``ECSBOT_WINDOWS`` read into values, and
when a window is open, as pure functions of a clock. No I/O: the time zone database is
the standard library's ``zoneinfo`` (with the ``tzdata`` package, so a slim container
has it too).

A window is a set of week days, an opening and a closing wall-clock time, and a time
zone. Each of its days it opens once; a window that closes at or before it opens
(``22:00-02:00``) crosses midnight, and its day is the day it opens. Every moment is
returned in UTC.

Daylight saving time, in words (docs/decisions/0013-windows-and-dst.md):

Every opening and closing is *the first moment the wall clock reads that time or
later* on its date, so:

* A time that does not exist that day (the clocks jump over it) is the moment of the
  jump: 02:30 on the spring-forward night in Berlin is 03:00 CEST.
* A time that happens twice (the clocks go back) is its first occurrence.
* An occurrence left with no length by a gap (``02:15-02:45`` the night Berlin skips
  02:00–03:00) does not happen that day, and occurrences never overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WINDOW_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")
_TIME = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")
WINDOWS_EXAMPLE = "nightly=Mon-Fri 02:00-04:00 Asia/Shanghai; weekend=Sat,Sun 00:00-06:00"
# A window has at least one day a week; a daylight saving gap can cancel one day's
# occurrence, so two weeks always hold an opening.
_LOOKAHEAD_DAYS = 16


@dataclass(frozen=True)
class Window:
    """One maintenance window. ``days`` are the days it opens (0 = Monday)."""

    name: str
    days: frozenset[int]
    opens: time
    closes: time
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def crosses_midnight(self) -> bool:
        # Equal times: a window 24 hours long (``00:00-24:00``).
        return self.closes <= self.opens

    def describe_days(self) -> str:
        """The days as typed back to people: ``daily``, ``Mon-Fri``, ``Sat,Sun``."""
        return describe_days(self.days)


@dataclass(frozen=True)
class Occurrence:
    """One time a window is open: ``[opens, closes)``, in UTC."""

    opens: datetime
    closes: datetime

    def holds(self, moment: datetime) -> bool:
        return self.opens <= moment < self.closes


@dataclass(frozen=True)
class WindowsProblem:
    """``ECSBOT_WINDOWS`` could not be read: one sentence naming the entry and what to fix."""

    message: str


# ── reading ECSBOT_WINDOWS ─────────────────────────────────────────────────────────


def parse_windows(text: str, *, default_tz: str) -> Mapping[str, Window] | WindowsProblem:
    """Read ``NAME=DAYS HH:MM-HH:MM [TZ]`` entries separated by ``;`` (names lower-cased).

    An empty text is no window. The first problem found is returned: start-up stops on
    it, and the operator fixes one entry at a time in a configuration file.
    """
    windows: dict[str, Window] = {}
    for position, entry in enumerate(text.split(";"), start=1):
        if not entry.strip():
            continue
        window = parse_window(entry, default_tz=default_tz)
        if isinstance(window, WindowsProblem):
            return WindowsProblem(f"entry {position}: {window.message}")
        if window.name in windows:
            return WindowsProblem(f"entry {position}: the window {window.name} is named twice")
        windows[window.name] = window
    return windows


def parse_window(entry: str, *, default_tz: str) -> Window | WindowsProblem:
    """One ``NAME=DAYS HH:MM-HH:MM [TZ]`` entry."""
    name, equals, rest = entry.partition("=")
    name = name.strip().lower()
    if not equals:
        return WindowsProblem(f"not NAME=DAYS HH:MM-HH:MM [TZ] (e.g. {WINDOWS_EXAMPLE})")
    if not WINDOW_NAME_PATTERN.fullmatch(name):
        return WindowsProblem(
            "a window name is 1 to 31 letters, digits, - or _, starting with a letter or digit"
        )
    parts = rest.split()
    if len(parts) not in (2, 3):
        return WindowsProblem(
            f"window {name}: not DAYS HH:MM-HH:MM [TZ] (e.g. nightly=Mon-Fri 02:00-04:00)"
        )
    days = parse_days(parts[0])
    if isinstance(days, WindowsProblem):
        return WindowsProblem(f"window {name}: {days.message}")
    hours = _parse_hours(parts[1])
    if isinstance(hours, WindowsProblem):
        return WindowsProblem(f"window {name}: {hours.message}")
    tz = parts[2] if len(parts) == 3 else default_tz
    problem = zone_problem(tz)
    if problem is not None:
        return WindowsProblem(f"window {name}: {problem}")
    return Window(name=name, days=days, opens=hours[0], closes=hours[1], tz=tz)


def zone_problem(tz: str) -> str | None:
    """None when ``tz`` is an IANA time zone this machine knows, else why not."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{tz!r} is not an IANA time zone such as Asia/Shanghai or UTC"
    return None


def parse_days(text: str) -> frozenset[int] | WindowsProblem:
    """``daily``, a range (``Mon-Fri``, ``Fri-Mon`` wraps over the week end) or a list
    (``Sat,Sun``), or lists of ranges (``Mon-Wed,Fri``)."""
    if text.lower() == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for item in text.split(","):
        first, dash, last = item.partition("-")
        start = _day(first)
        end = _day(last) if dash else start
        if start is None or end is None:
            return WindowsProblem(
                f"{item!r} is not a day or a range of days: use daily, Mon-Fri or Sat,Sun"
            )
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def _day(text: str) -> int | None:
    word = text.strip().lower()
    if len(word) < 3:
        return None
    for number, full in enumerate(_FULL_DAY_NAMES):
        if full.startswith(word):
            return number
    return None


def _parse_hours(text: str) -> tuple[time, time] | WindowsProblem:
    opens_text, dash, closes_text = text.partition("-")
    opens = _clock(opens_text)
    closes = _clock(closes_text) if dash else None
    if opens is None or closes is None or opens_text.startswith("24"):
        return WindowsProblem(f"{text!r} is not HH:MM-HH:MM (e.g. 02:00-04:00, 22:00-02:00)")
    return opens, closes


def _clock(text: str) -> time | None:
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour == 24:
        # 24:00 closes at the midnight ending the day (22:00-24:00).
        return time(0, 0) if minute == 0 else None
    return time(hour, minute)


def describe_days(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "daily"
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    words: list[str] = []
    for run in runs:
        if len(run) >= 3:
            words.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            words.extend(DAY_NAMES[day] for day in run)
    return ",".join(words)


# ── when a window is open ─────────────────────────────────────────────────────────


def occurrence_on(window: Window, day: date) -> Occurrence | None:
    """The occurrence that opens on ``day`` (a date in the window's time zone), if any."""
    if day.weekday() not in window.days:
        return None
    zone = window.zone
    opens = first_reading(day, window.opens, zone)
    close_day = day + timedelta(days=1) if window.crosses_midnight else day
    closes = first_reading(close_day, window.closes, zone)
    if closes <= opens:
        return None
    return Occurrence(opens, closes)


def first_reading(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first moment (UTC) at which the wall clock in ``zone`` reads ``at`` or later on
    ``day``: the moment itself, its first occurrence when the clocks go back, or the
    moment the clocks jump when they jump over it."""
    wall = datetime.combine(day, at)
    moment = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the earlier offset
    if moment.astimezone(zone).replace(tzinfo=None) == wall:
        return moment
    # In a gap. fold=1 reads it with the later offset, landing before the jump; fold=0
    # after it. Find the jump between them, to the second (tzdata's precision).
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(moment.timestamp())
    offset_before = datetime.fromtimestamp(low, UTC).astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def occurrences(window: Window, now: datetime) -> Iterator[Occurrence]:
    """The occurrences that close after ``now``, in order: the one open now first.

    Two weeks of them at most, which always holds the next opening; callers take the
    first one or two.
    """
    start = now.astimezone(window.zone).date() - timedelta(days=1)
    for offset in range(_LOOKAHEAD_DAYS):
        occurrence = occurrence_on(window, start + timedelta(days=offset))
        if occurrence is not None and occurrence.closes > now:
            yield occurrence
    # Only a window built by hand with no day gets here (parse_days never gives one).
    raise ValueError(f"window {window.name} never opens")


def current(window: Window, now: datetime) -> Occurrence | None:
    """The occurrence open at ``now``, or None when the window is closed."""
    first = next(occurrences(window, now))
    return first if first.holds(now) else None


def is_open(window: Window, now: datetime) -> bool:
    return current(window, now) is not None


def next_opening(window: Window, now: datetime) -> datetime:
    """The first opening at or after ``now`` (an occurrence open at ``now`` that opened
    earlier does not count)."""
    return next(o.opens for o in occurrences(window, now) if o.opens >= now)


def next_closing(window: Window, now: datetime) -> datetime:
    """When the occurrence open at ``now`` closes; when closed, when the next one does."""
    return next(occurrences(window, now)).closes


# ── a rollout's waves in a window ─────────────────────────────────────────────────


@dataclass(frozen=True)
class WindowOpen:
    """A wave may go now; the window closes at ``closes``."""

    closes: datetime


@dataclass(frozen=True)
class WindowClosed:
    """No wave now; the window next opens at ``reopens``."""

    reopens: datetime


def wave_gate(window: Window, now: datetime) -> WindowOpen | WindowClosed:
    """May a rollout in ``window`` send a wave at ``now``? (docs/PRODUCT.md §5.10)

    A wave in flight when the window closes is watched to its end: this decides only
    whether a *new* wave may start.
    """
    first = next(occurrences(window, now))
    if first.holds(now):
        return WindowOpen(first.closes)
    return WindowClosed(first.opens)


__all__ = [
    "DAY_NAMES",
    "WINDOWS_EXAMPLE",
    "Occurrence",
    "Window",
    "WindowClosed",
    "WindowOpen",
    "WindowsProblem",
    "current",
    "describe_days",
    "is_open",
    "next_closing",
    "next_opening",
    "occurrence_on",
    "occurrences",
    "parse_days",
    "parse_window",
    "parse_windows",
    "wave_gate",
    "zone_problem",
]

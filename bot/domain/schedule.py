"""Scheduled reboots (docs/PRODUCT.md §5.10): reading a WHEN, placing it on the clock,
and deciding what a scheduled request needs at a given ``now``. Pure.

Reading is in two steps, so that the command parser needs no clock:

1. ``read_at``, ``read_in`` and ``read_window`` read the text of ``--at``, ``--in`` and
   ``--window`` into a ``When`` (or a ``WhenProblem``, a sentence for the person who
   typed it). The option table's value readers call them.
2. ``resolve_when`` places a ``When`` on the clock (``now``, ``ECSBOT_TIMEZONE``, the
   windows) and checks it against ``ECSBOT_SCHEDULE_MIN_LEAD`` and
   ``ECSBOT_SCHEDULE_MAX_AHEAD``, giving a ``Schedule``: the start, in UTC, and the
   window's name when there is one.

Every moment here is an aware ``datetime``; results are in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import TypeAlias
from zoneinfo import ZoneInfo

from bot.domain.policy import Denial
from bot.domain.windows import (
    WINDOW_NAME_PATTERN,
    Window,
    WindowOpen,
    first_reading,
    next_opening,
    wave_gate,
)

AT_USAGE = "`--at HH:MM` or `--at YYYY-MM-DDTHH:MM` (optionally ending in `Z` or `+08:00`)"
IN_USAGE = "`--in` a number and a unit: `s`, `m`, `h` or `d` (e.g. `--in 90m`, `--in 1h30m`)"

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2}))?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})?)?"
)
_DELAY = re.compile(r"(?:\d+[smhd])+")
_DELAY_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Longer than any ECSBOT_SCHEDULE_MAX_AHEAD anyone sets; keeps the arithmetic in range.
_MOST_SECONDS = 366 * 86400


# ── what was typed ────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class AtClock:
    """``--at HH:MM``: the next such wall-clock time in ``ECSBOT_TIMEZONE``."""

    hour: int
    minute: int
    typed: str = field(default="", compare=False)


@dataclass(frozen=True)
class AtMoment:
    """``--at YYYY-MM-DDTHH:MM``: ``local`` is naive; ``offset`` None means
    ``ECSBOT_TIMEZONE``, else the offset typed (``Z`` is zero)."""

    local: datetime
    offset: timedelta | None = None
    typed: str = field(default="", compare=False)


@dataclass(frozen=True)
class InDelay:
    """``--in 90m``: counted from the command."""

    seconds: int
    typed: str = field(default="", compare=False)


@dataclass(frozen=True)
class InWindow:
    """``--window NAME``: the window's next opening (lower-cased, as windows are)."""

    name: str


When: TypeAlias = AtClock | AtMoment | InDelay | InWindow


@dataclass(frozen=True)
class WhenProblem:
    """A WHEN that cannot be used: a sentence (with its full stop) quoting what was typed
    and saying what to type instead."""

    message: str


@dataclass(frozen=True)
class Schedule:
    """When a request starts (UTC), and the window it runs in (None: no window)."""

    start: datetime
    window: str | None = None


def when_flag(when: When) -> str:
    """The flag a WHEN came from, for messages (``--at``, ``--in``, ``--window``)."""
    if isinstance(when, AtClock | AtMoment):
        return "--at"
    if isinstance(when, InDelay):
        return "--in"
    return "--window"


# ── step 1: reading the text ──────────────────────────────────────────────────────


def read_at(text: str) -> AtClock | AtMoment | WhenProblem:
    """``HH:MM`` or ``YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]``."""
    value = text.strip()
    clock = _CLOCK.fullmatch(value)
    if clock is not None:
        hour, minute = int(clock[1]), int(clock[2])
        if hour > 23 or minute > 59:
            return WhenProblem(f"`--at {value}`: {value} is not a time of day (00:00 to 23:59).")
        return AtClock(hour, minute, typed=f"--at {value}")
    moment = _MOMENT.fullmatch(value)
    if moment is None:
        return WhenProblem(f"`--at {value}` is not a time: use {AT_USAGE}.")
    year, month, day, hour, minute = (int(moment[i]) for i in range(1, 6))
    second = int(moment[6] or 0)
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return WhenProblem(f"`--at {value}`: no such date or time.")
    offset = _offset(moment)
    if isinstance(offset, WhenProblem):
        return WhenProblem(f"`--at {value}`: {offset.message}")
    return AtMoment(local, offset, typed=f"--at {value}")


def _offset(moment: re.Match[str]) -> timedelta | WhenProblem | None:
    if moment["utc"]:
        return timedelta(0)
    if not moment["sign"]:
        return None
    hours, minutes = int(moment["oh"]), int(moment["om"] or 0)
    if hours > 14 or minutes > 59:
        return WhenProblem("the offset is not between -14:00 and +14:00.")
    size = timedelta(hours=hours, minutes=minutes)
    return -size if moment["sign"] == "-" else size


def read_in(text: str) -> InDelay | WhenProblem:
    """``N`` and a unit (``s``, ``m``, ``h``, ``d``), or several (``1h30m``)."""
    value = text.strip().lower()
    if not _DELAY.fullmatch(value):
        return WhenProblem(f"`--in {text.strip()}` is not a delay: use {IN_USAGE}.")
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DELAY_PART.findall(value))
    if seconds > _MOST_SECONDS:
        return WhenProblem(f"`--in {text.strip()}` is more than a year away.")
    return InDelay(seconds, typed=f"--in {text.strip()}")


def read_window(text: str) -> InWindow | WhenProblem:
    """A window's name; whether it exists is known only with the windows (step 2)."""
    name = text.strip().lower()
    if not WINDOW_NAME_PATTERN.fullmatch(name):
        return WhenProblem(
            f"`--window {text.strip()}` is not a window name (letters, digits, - and _)."
        )
    return InWindow(name)


# ── step 2: on the clock ──────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ScheduleLimits:
    """``ECSBOT_SCHEDULE_MIN_LEAD`` and ``ECSBOT_SCHEDULE_MAX_AHEAD``, in seconds."""

    min_lead: int = 60
    max_ahead: int = 14 * 86400


def resolve_when(
    when: When,
    *,
    now: datetime,
    tz: str,
    windows: Mapping[str, Window],
    limits: ScheduleLimits,
) -> Schedule | WhenProblem:
    """Place ``when`` on the clock and check it is neither too soon nor too far."""
    if isinstance(when, InWindow):
        return _in_window(when, now=now, windows=windows, limits=limits)
    if isinstance(when, AtClock):
        start = next_wall_clock(time(when.hour, when.minute), now=now, zone=ZoneInfo(tz))
        typed = when.typed or f"--at {when.hour:02d}:{when.minute:02d}"
    elif isinstance(when, AtMoment):
        start = _moment(when, ZoneInfo(tz))
        typed = when.typed or f"--at {when.local.isoformat(timespec='minutes')}"
    else:
        start = now + timedelta(seconds=when.seconds)
        typed = when.typed or f"--in {when.seconds}s"
    problem = lead_problem(start, now=now, limits=limits)
    if problem is not None:
        return WhenProblem(f"`{typed}` {problem}.")
    return Schedule(start.astimezone(UTC))


def _moment(when: AtMoment, zone: ZoneInfo) -> datetime:
    if when.offset is None:
        return first_reading(when.local.date(), when.local.time(), zone)
    return (when.local - when.offset).replace(tzinfo=UTC)


def next_wall_clock(at: time, *, now: datetime, zone: ZoneInfo) -> datetime:
    """The first moment after ``now`` whose wall clock in ``zone`` reads ``at`` (a time
    the clocks jump over that day falls the gap's length later, as windows do)."""
    today = now.astimezone(zone).date()
    for day in (today, today + timedelta(days=1), today + timedelta(days=2)):
        candidate = first_reading(day, at, zone)
        if candidate > now:
            return candidate
    raise AssertionError("a wall-clock time recurs within two days")  # pragma: no cover


def _in_window(
    when: InWindow, *, now: datetime, windows: Mapping[str, Window], limits: ScheduleLimits
) -> Schedule | WhenProblem:
    window = windows.get(when.name)
    if window is None:
        if not windows:
            return WhenProblem(
                f"`--window {when.name}`: no maintenance window is set up (ECSBOT_WINDOWS)."
            )
        known = ", ".join(f"`{name}`" for name in sorted(windows))
        return WhenProblem(f"`--window {when.name}`: no such window; the windows are {known}.")
    # The first opening far enough ahead: a window about to open (or open now) is taken
    # at its next opening rather than refused as too soon.
    start = next_opening(window, now + timedelta(seconds=limits.min_lead))
    problem = lead_problem(start, now=now, limits=limits)
    if problem is not None:
        return WhenProblem(f"`--window {when.name}` opens next {problem}.")
    return Schedule(start, window.name)


def lead_problem(start: datetime, *, now: datetime, limits: ScheduleLimits) -> str | None:
    """None when ``start`` is within [now + min lead, now + max ahead], else the end of a
    sentence saying what is wrong ("is in the past", "is only 30 s from now; …"), without
    its full stop."""
    ahead = (start - now).total_seconds()
    if ahead <= 0:
        return "is in the past"
    if ahead < limits.min_lead:
        return (
            f"is only {duration_words(ahead)} from now; a scheduled reboot starts at least "
            f"{duration_words(limits.min_lead)} ahead"
        )
    if ahead > limits.max_ahead:
        return (
            f"is {duration_words(ahead)} from now; a scheduled reboot starts at most "
            f"{duration_words(limits.max_ahead)} ahead"
        )
    return None


def duration_words(seconds: float) -> str:
    """``45 s``, ``5 min``, ``2 h 30 min``, ``3 d 4 h``: the two largest units."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next((i for i, (value, _) in enumerate(parts) if value), len(parts) - 1)
    shown = [f"{value} {unit}" for value, unit in parts[first : first + 2] if value]
    return " ".join(shown) or "0 s"


# ── what a scheduled request needs now ────────────────────────────────────────────


class ScheduledStep(StrEnum):
    """What the poller does with a ``scheduled`` request at ``now``."""

    WAIT = "wait"
    REMIND = "remind"
    START = "start"
    # Later than the grace: never a reboot at a time nobody expects.
    EXPIRE = "expire"


@dataclass(frozen=True)
class ScheduleTimes:
    """``ECSBOT_SCHEDULE_REMIND`` and ``ECSBOT_SCHEDULE_GRACE``, in seconds."""

    remind: int = 900
    grace: int = 900


def scheduled_step(
    *,
    start: datetime,
    scheduled_at: datetime,
    reminded: bool,
    now: datetime,
    times: ScheduleTimes,
) -> ScheduledStep:
    """The decision for a ``scheduled`` request.

    A reminder is due ``remind`` before the start, once, and only when the request was
    scheduled before that moment: one scheduled 5 minutes ahead needs no reminder
    15 minutes before. Past ``start + grace`` the request expires, whatever else.
    """
    if now > start + timedelta(seconds=times.grace):
        return ScheduledStep.EXPIRE
    if now >= start:
        return ScheduledStep.START
    if not reminded and now >= remind_at(start=start, scheduled_at=scheduled_at, times=times):
        return ScheduledStep.REMIND
    return ScheduledStep.WAIT


def remind_at(*, start: datetime, scheduled_at: datetime, times: ScheduleTimes) -> datetime:
    """When the reminder is due; ``start`` itself when none is (scheduled too late)."""
    moment = start - timedelta(seconds=times.remind)
    return moment if scheduled_at < moment else start


def next_look(
    *, start: datetime, scheduled_at: datetime, reminded: bool, times: ScheduleTimes
) -> datetime:
    """When the poller next needs to look at a waiting ``scheduled`` request."""
    if reminded:
        return start
    return remind_at(start=start, scheduled_at=scheduled_at, times=times)


# ── what people are told about a schedule ─────────────────────────────────────────


class ScheduleEventKind(StrEnum):
    """Moments of a scheduled request that the thread (and the notify channel) hear of."""

    SCHEDULED = "scheduled"
    REMINDER = "reminder"
    # Started late but within the grace (no poller ran at the time).
    STARTED_LATE = "started_late"
    EXPIRED = "expired"
    # At the start: the confirmer may no longer reboot these instances.
    PERMISSION_LOST = "permission_lost"
    # At the start: the fresh DryRun left nothing to reboot.
    NOTHING_LEFT = "nothing_left"
    # At the start: some instances are no longer rebootable and are skipped.
    SOME_SKIPPED = "some_skipped"
    WINDOW_CLOSED = "window_closed"
    WINDOW_REOPENED = "window_reopened"


@dataclass(frozen=True)
class ScheduleEvent:
    """One such moment; ``at`` is the time it speaks of (the start, the reopening),
    ``count`` how many instances it concerns, ``user`` whom it is about, ``denial`` why
    a permission was lost."""

    kind: ScheduleEventKind
    at: datetime | None = None
    count: int = 0
    user: str | None = None
    denial: Denial | None = None


# ── a rollout between waves, in its window ────────────────────────────────────────


@dataclass(frozen=True)
class SendWave:
    """The window is open (or there is none): the next wave may go."""

    window_closes: datetime | None = None


@dataclass(frozen=True)
class HoldForWindow:
    """The window is closed: pause ("window closed") until ``reopens``."""

    reopens: datetime


def between_waves(window: Window | None, now: datetime) -> SendWave | HoldForWindow:
    """May a rollout send its next wave now? A wave in flight is never stopped: this is
    asked only between waves, so a window that closes mid-wave lets that wave finish."""
    if window is None:
        return SendWave()
    gate = wave_gate(window, now)
    if isinstance(gate, WindowOpen):
        return SendWave(gate.closes)
    return HoldForWindow(gate.reopens)


__all__ = [
    "AT_USAGE",
    "IN_USAGE",
    "AtClock",
    "AtMoment",
    "HoldForWindow",
    "InDelay",
    "InWindow",
    "Schedule",
    "ScheduleEvent",
    "ScheduleEventKind",
    "ScheduleLimits",
    "ScheduleTimes",
    "ScheduledStep",
    "SendWave",
    "When",
    "WhenProblem",
    "between_waves",
    "duration_words",
    "lead_problem",
    "next_look",
    "next_wall_clock",
    "read_at",
    "read_in",
    "read_window",
    "remind_at",
    "resolve_when",
    "scheduled_step",
    "when_flag",
]

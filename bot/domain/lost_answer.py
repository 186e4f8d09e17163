"""What to do with an instance whose real reboot call's answer was lost (docs/PRODUCT.md §5.4,
docs/decisions/0003): pure, on plain values.

A lost answer (timeout, dropped connection, 5xx) leaves the call's effect unknown, and
``RebootInstances`` has no ClientToken. One look at the instance, at once, decides: one
that left ``Running``, or started after the call, was rebooted by it; one still
``Running`` that has not restarted since before the call was not, and gets the call once
more (:func:`resolve_lost`). When that second answer is lost too, a further call waits
until no earlier call can still act (:func:`call_again`). The count of calls is recorded
before each call, so these rules hold across crashes, lost leases and replicas.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

RUNNING = "Running"
# Per instance and request: the first call and one more at once after a lost answer;
# any further call waits for ECSBOT_INFLIGHT_BOUND (call_again).
MAX_REBOOT_CALLS = 2
# StartTime is documented with minute precision (10:01Z): a value is the start's minute.
START_TIME_PRECISION = timedelta(minutes=1)
# No instance goes Running → Stopping → Running faster than this, so one seen Running
# this soon after the call was not rebooted by it, whatever its StartTime says. ECS moves
# an instance it acts on to ``Stopping`` before it answers, so the look that follows a
# quick error answer at once falls well inside it.
QUICKEST_REBOOT = timedelta(seconds=2)


class Resolution(StrEnum):
    REBOOTED = "rebooted"  # the lost call acted: watch the instance, never send again
    RESEND = "resend"  # still Running since before the call: send the call once more
    WATCH = "watch"  # no proof at once, or the second call made: watch (call_again may follow)


def resolve_lost(
    *,
    calls: int,
    sent_at: datetime,
    now: datetime,
    listed: bool,
    status: str | None,
    start_time: datetime | None,
    start_time_before: datetime | None,
) -> Resolution:
    """The next step for one instance whose call (``calls`` recorded so far, the first at
    ``sent_at``) got no answer, given how ``DescribeInstances`` shows it now and the
    ``StartTime`` the preview saw (``start_time_before``).

    A second call is sent only on proof that the instance did not restart since the
    call: it started in a minute wholly before the call, or it is seen Running sooner
    after the call than any reboot takes (the look made at once after a quick error
    answer). Without either proof (a StartTime in the call's own minute, or none, seen
    long after the call) it is watched, and the timeout ends it: an unneeded wait is the
    price, never a second reboot.
    """
    if calls >= MAX_REBOOT_CALLS:
        # The call made at once is spent; what follows waits for the bound (call_again).
        return Resolution.WATCH
    if not listed:
        # Gone from the listing (released, or hidden from us): nothing to send a call
        # to; the timeout ends it.
        return Resolution.WATCH
    if status != RUNNING or restarted(start_time, sent_at, start_time_before):
        return Resolution.REBOOTED
    if start_time is not None and start_time + START_TIME_PRECISION <= sent_at:
        return Resolution.RESEND
    if now - sent_at < QUICKEST_REBOOT:
        return Resolution.RESEND
    return Resolution.WATCH


def restarted(
    start_time: datetime | None, sent_at: datetime, start_time_before: datetime | None
) -> bool:
    """Positive evidence of a restart since the call: a StartTime after it, or a StartTime
    other than the one the preview saw (the preview came just before the call)."""
    if start_time is None:
        return False
    if start_time > sent_at:
        return True
    return start_time_before is not None and start_time > start_time_before


class Again(StrEnum):
    SEND = "send"  # seen Running, never restarted, no earlier call can still act: call
    WAIT = "wait"  # not yet (the bound or the gap not over, or not listed): look later
    NEVER = "never"  # it left Running, restarted, cannot be proved not to, or time is up


def next_call_at(
    *,
    calls: int,
    first_sent_at: datetime,
    last_sent_at: datetime,
    bound: timedelta,
    timeout: timedelta,
    seen_leaving_running: bool,
    start_time_before: datetime | None,
) -> datetime | None:
    """The earliest moment a further call may go out to an instance every call of which
    (``calls`` so far, the first at ``first_sent_at``, the latest at ``last_sent_at``)
    lost its answer; None when none ever may.

    The gaps double: the third call comes ``bound`` after the second, the fourth
    ``2 * bound`` after the third, and so on, and none comes ``timeout`` or more after
    the first call. None for an instance seen leaving ``Running`` (one of the calls
    acted), and for one whose StartTime before the first call is unknown or in the
    first call's own minute: then a restart by one of our calls could hide behind
    minute precision, and the look could never prove that it did not restart.
    """
    if seen_leaving_running or start_time_before is None:
        return None
    if start_time_before + START_TIME_PRECISION > first_sent_at:
        return None
    gap: timedelta = bound * (2 ** max(0, calls - MAX_REBOOT_CALLS))
    at = last_sent_at + gap
    if at >= first_sent_at + timeout:
        return None
    return at


def call_again(
    *,
    due_at: datetime | None,
    looked_at: datetime,
    first_sent_at: datetime,
    timeout: timedelta,
    listed: bool,
    status: str | None,
    start_time: datetime | None,
    start_time_before: datetime | None,
) -> Again:
    """Whether an instance whose every call lost its answer gets a further call now,
    given one look at it made at ``looked_at`` and ``due_at`` from :func:`next_call_at`
    (docs/decisions/0003).

    Only on proof that none of our calls rebooted it and none can any more: the look
    came at least the bound after the latest call (``due_at``; an earlier call still
    held inside ECS cannot act after the bound), and it shows the instance ``Running``
    with the very StartTime it had before the first call, whose minute ended before that
    call (so any restart since would show a later one).
    """
    if due_at is None or looked_at >= first_sent_at + timeout:
        return Again.NEVER
    if listed and status != RUNNING:
        return Again.NEVER
    if start_time is not None and start_time_before is not None and start_time != start_time_before:
        return Again.NEVER
    if looked_at < due_at or not listed or start_time is None:
        return Again.WAIT
    return Again.SEND

"""What to do with an instance whose real reboot call's answer was lost (docs/PRODUCT.md §5.4,
docs/decisions/0003): pure, on plain values.

A lost answer (timeout, dropped connection, 5xx) leaves the call's effect unknown, and
``RebootInstances`` has no ClientToken. One look at the instance, at once, decides: one
that left ``Running``, or started after the call, was rebooted by it; one still
``Running`` that has not restarted since before the call was not, and gets the call once
more. The count of calls is recorded before each call, so the bound below holds across
crashes, lost leases and replicas.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

RUNNING = "Running"
# Per instance and request: the first call and at most one more after a lost answer.
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
    WATCH = "watch"  # no proof either way, or no call left: watch until back or timed out


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

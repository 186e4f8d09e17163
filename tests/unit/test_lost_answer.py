"""Which instance of a lost reboot answer gets the call once more (bot.domain.lost_answer),
on plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.lost_answer import QUICKEST_REBOOT, Resolution, resolve_lost

SENT = datetime(2026, 12, 8, 10, 0, 30, tzinfo=UTC)
LONG_AGO = datetime(2026, 12, 1, 8, 15, tzinfo=UTC)  # the preview's StartTime
LOOK = SENT + timedelta(milliseconds=300)  # at once, after a quick error answer
LATE = SENT + timedelta(seconds=40)  # after a long timeout, or a crash and a restart


def decide(**overrides: object) -> Resolution:
    values: dict[str, object] = {
        "calls": 1,
        "sent_at": SENT,
        "now": LOOK,
        "listed": True,
        "status": "Running",
        "start_time": LONG_AGO,
        "start_time_before": LONG_AGO,
    }
    values.update(overrides)
    return resolve_lost(**values)  # type: ignore[arg-type]


def test_running_since_before_the_call_is_sent_once_more() -> None:
    assert decide() is Resolution.RESEND


@pytest.mark.parametrize("status", ["Stopping", "Starting", "Stopped"])
def test_an_instance_out_of_running_was_rebooted_by_the_call(status: str) -> None:
    assert decide(status=status) is Resolution.REBOOTED


def test_a_start_time_after_the_call_means_rebooted() -> None:
    assert decide(start_time=datetime(2026, 12, 8, 10, 1, tzinfo=UTC)) is Resolution.REBOOTED


def test_a_start_time_in_the_calls_minute_but_new_since_the_preview_means_rebooted() -> None:
    # Back already; minute precision truncates 10:00:35 to 10:00, before the call.
    assert decide(start_time=datetime(2026, 12, 8, 10, 0, tzinfo=UTC)) is Resolution.REBOOTED


def test_a_start_time_in_the_calls_minute_seen_at_once_is_sent_once_more() -> None:
    # Booted moments before the call (the preview saw the same minute), or no StartTime:
    # minute precision cannot tell, but no reboot is over this soon after the call.
    same = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    assert decide(start_time=same, start_time_before=same) is Resolution.RESEND
    assert decide(start_time=None, start_time_before=None) is Resolution.RESEND
    quickest = SENT + QUICKEST_REBOOT - timedelta(milliseconds=1)
    assert decide(now=quickest, start_time=same, start_time_before=same) is Resolution.RESEND


def test_an_ambiguous_start_time_seen_late_is_watched_never_sent_again() -> None:
    # Long enough after the call for a whole reboot to hide behind minute precision.
    same = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    assert decide(now=LATE, start_time=same, start_time_before=same) is Resolution.WATCH
    assert decide(now=LATE, start_time=None, start_time_before=None) is Resolution.WATCH
    at_the_bound = SENT + QUICKEST_REBOOT
    assert decide(now=at_the_bound, start_time=None, start_time_before=None) is Resolution.WATCH


def test_never_a_third_call() -> None:
    assert decide(calls=2) is Resolution.WATCH
    assert decide(calls=3) is Resolution.WATCH


def test_an_instance_no_longer_listed_is_watched() -> None:
    assert decide(listed=False, status=None, start_time=None) is Resolution.WATCH


def test_a_crash_long_ago_still_resends_on_proof_and_only_then() -> None:
    later = SENT + timedelta(minutes=7)
    assert decide(now=later) is Resolution.RESEND
    assert decide(now=later, start_time=datetime(2026, 12, 8, 10, 3, tzinfo=UTC)) is (
        Resolution.REBOOTED
    )

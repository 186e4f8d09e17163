"""Which instance of a lost reboot answer gets the call once more, and when one whose every
answer was lost gets a further call (bot.domain.lost_answer), on plain values and a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.lost_answer import (
    QUICKEST_REBOOT,
    Again,
    Resolution,
    call_again,
    next_call_at,
    resolve_lost,
)

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


# --- further calls, once no earlier call can still act ------------------------------------

BOUND = timedelta(seconds=60)
TIMEOUT = timedelta(seconds=600)
SECOND = SENT + timedelta(seconds=1)  # the second call, made at once


def due(**overrides: object) -> datetime | None:
    values: dict[str, object] = {
        "calls": 2,
        "first_sent_at": SENT,
        "last_sent_at": SECOND,
        "bound": BOUND,
        "timeout": TIMEOUT,
        "seen_leaving_running": False,
        "start_time_before": LONG_AGO,
    }
    values.update(overrides)
    return next_call_at(**values)  # type: ignore[arg-type]


def again(**overrides: object) -> Again:
    values: dict[str, object] = {
        "due_at": SECOND + BOUND,
        "looked_at": SECOND + BOUND,
        "first_sent_at": SENT,
        "timeout": TIMEOUT,
        "listed": True,
        "status": "Running",
        "start_time": LONG_AGO,
        "start_time_before": LONG_AGO,
    }
    values.update(overrides)
    return call_again(**values)  # type: ignore[arg-type]


def test_the_third_call_is_due_the_bound_after_the_second_and_the_gaps_double() -> None:
    assert due() == SECOND + BOUND
    assert due(calls=3, last_sent_at=SENT + timedelta(seconds=61)) == SENT + timedelta(
        seconds=61 + 120
    )
    assert due(calls=4, last_sent_at=SENT + timedelta(seconds=181)) == SENT + timedelta(
        seconds=181 + 240
    )


def test_no_further_call_once_seen_leaving_running() -> None:
    assert due(seen_leaving_running=True) is None


def test_no_further_call_without_a_start_time_that_proves_it_did_not_restart() -> None:
    # Unknown, or in the first call's own minute: a restart could hide behind it.
    assert due(start_time_before=None) is None
    assert due(start_time_before=datetime(2026, 12, 8, 10, 0, tzinfo=UTC)) is None
    assert due(start_time_before=datetime(2026, 12, 8, 9, 59, tzinfo=UTC)) == SECOND + BOUND


def test_no_further_call_due_at_or_after_the_timeout() -> None:
    assert due(calls=5, last_sent_at=SENT + timedelta(seconds=421)) is None  # 421 + 480 > 600
    assert due(timeout=BOUND + timedelta(seconds=1)) is None


def test_seen_running_with_its_old_start_time_past_the_bound_is_called_again() -> None:
    assert again() is Again.SEND
    assert again(looked_at=SECOND + BOUND + timedelta(seconds=30)) is Again.SEND


def test_a_look_before_the_bound_waits() -> None:
    assert again(looked_at=SECOND + BOUND - timedelta(milliseconds=1)) is Again.WAIT


@pytest.mark.parametrize("status", ["Stopping", "Starting", "Stopped"])
def test_an_instance_out_of_running_is_never_called_again(status: str) -> None:
    assert again(status=status) is Again.NEVER
    assert again(status=status, looked_at=SECOND) is Again.NEVER


def test_a_new_start_time_means_a_call_acted_never_called_again() -> None:
    assert again(start_time=datetime(2026, 12, 8, 10, 1, tzinfo=UTC)) is Again.NEVER


def test_not_listed_or_no_start_time_waits() -> None:
    assert again(listed=False, status=None, start_time=None) is Again.WAIT
    assert again(start_time=None) is Again.WAIT


def test_nothing_after_the_timeout_or_when_never_due() -> None:
    assert again(looked_at=SENT + TIMEOUT) is Again.NEVER
    assert again(due_at=None) is Again.NEVER


def _calls_while_every_answer_is_lost(
    step: timedelta, bound: timedelta, timeout: timedelta
) -> list[datetime]:
    """The moments of the calls made to an instance that never restarts, looked at every
    ``step`` on a clock, every answer lost at once: the first, the second at once, then
    whatever the rules allow."""
    calls = [SENT, SENT]
    now = SENT
    while now < SENT + 2 * timeout:
        now += step
        at = next_call_at(
            calls=len(calls),
            first_sent_at=SENT,
            last_sent_at=calls[-1],
            bound=bound,
            timeout=timeout,
            seen_leaving_running=False,
            start_time_before=LONG_AGO,
        )
        verdict = call_again(
            due_at=at,
            looked_at=now,
            first_sent_at=SENT,
            timeout=timeout,
            listed=True,
            status="Running",
            start_time=LONG_AGO,
            start_time_before=LONG_AGO,
        )
        if verdict is Again.SEND:
            calls.append(now)
    return calls


def test_on_a_clock_the_calls_come_at_the_bound_then_doubling_gaps_until_the_timeout() -> None:
    calls = _calls_while_every_answer_is_lost(timedelta(seconds=1), BOUND, TIMEOUT)
    offsets = [int((c - SENT).total_seconds()) for c in calls]
    assert offsets == [0, 0, 60, 180, 420]


@given(
    step=st.integers(min_value=1, max_value=90),
    bound=st.integers(min_value=1, max_value=120),
    timeout=st.integers(min_value=1, max_value=900),
)
def test_no_call_within_the_bound_of_another_nor_after_the_timeout(
    step: int, bound: int, timeout: int
) -> None:
    calls = _calls_while_every_answer_is_lost(
        timedelta(seconds=step), timedelta(seconds=bound), timedelta(seconds=timeout)
    )
    further = calls[2:]
    # The k-th gap after the second call is at least bound * 2**k (the looks may be late).
    for k, (before, after) in enumerate(zip(calls[1:], further, strict=False)):
        assert after - before >= timedelta(seconds=bound) * 2**k
    assert all(c < SENT + timedelta(seconds=timeout) for c in further)

"""When an instance is back (docs/PRODUCT.md §5.5), how fast to poll, how often to report, and
what the ``SuccessFirst`` answer does to each instance (§5.4)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.completion import next_delay, observe
from bot.domain.ecs_values import InstanceStatus, RebootResult
from bot.domain.lost_answer import restarted
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Verdict
from bot.domain.reboot_answers import apply_results
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.reporting import report_gap
from bot.slack.outcomes import outcome_sentence

HZ = "cn-hangzhou"
ID = "i-bp1abcd00001"
SENT = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
BOOTED_LONG_AGO = datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
TIMEOUT = 600


def rebooting(**fields: Any) -> PlannedInstance:
    instance = PlannedInstance(
        ref=InstanceRef(HZ, ID),
        position=0,
        verdict=Verdict.WILL_REBOOT,
        name="web-1",
        status="Running",
        outcome=InstanceOutcome.REBOOTING,
        start_time_before=BOOTED_LONG_AGO,
        reboot_sent_at=SENT,
        reboot_acked_at=SENT,
    )
    return dataclasses.replace(instance, **fields)


def seen(status: str, start_time: datetime | None = BOOTED_LONG_AGO) -> InstanceStatus:
    return InstanceStatus(instance_id=ID, status=status, start_time=start_time)


def at(seconds: float) -> datetime:
    return SENT + timedelta(seconds=seconds)


def look(instance: PlannedInstance, info: InstanceStatus | None, seconds: float) -> PlannedInstance:
    return observe(instance, info, now=at(seconds), timeout_seconds=TIMEOUT)


# --- restarted, without the preview's StartTime ----------------------------------------------


def test_restarted_needs_a_start_time_after_the_call() -> None:
    assert restarted(SENT + timedelta(minutes=1), SENT, None)
    assert not restarted(SENT, SENT, None)
    assert not restarted(SENT - timedelta(seconds=1), SENT, None)
    assert not restarted(None, SENT, None)


# --- observe: the completion rule -----------------------------------------------------------


def test_seen_leaving_running_then_running_again_is_back() -> None:
    instance = look(rebooting(), seen("Stopping"), 5)
    assert instance.outcome is InstanceOutcome.REBOOTING
    assert instance.seen_leaving_running
    assert instance.status == "Stopping"

    instance = look(instance, seen("Starting"), 10)
    assert instance.outcome is InstanceOutcome.REBOOTING

    # StartTime is not relied on here: the instance was seen leaving Running.
    instance = look(instance, seen("Running"), 20)
    assert instance.outcome is InstanceOutcome.SUCCEEDED
    assert instance.status == "Running"
    assert instance.finished_at == at(20)
    assert outcome_sentence(instance)


def test_running_with_a_start_time_after_the_call_is_back() -> None:
    instance = look(rebooting(), seen("Running", SENT + timedelta(seconds=30)), 40)
    assert instance.outcome is InstanceOutcome.SUCCEEDED
    assert instance.finished_at == at(40)


def test_running_with_an_older_start_time_never_seen_leaving_is_still_rebooting() -> None:
    instance = rebooting()
    for seconds in (2, 4, 30, 300, TIMEOUT - 1):
        instance = look(instance, seen("Running"), seconds)
        assert instance.outcome is InstanceOutcome.REBOOTING
        assert not instance.seen_leaving_running
        assert instance.finished_at is None


def test_start_time_in_the_calls_own_minute_proves_nothing() -> None:
    # StartTime has minute precision: 10:00Z for a restart at 10:00:50 reads as before
    # a call sent at 10:00:30, which is the safe side.
    truncated = SENT.replace(second=0)
    assert look(rebooting(), seen("Running", truncated), 30).outcome is InstanceOutcome.REBOOTING


def test_running_with_no_start_time_is_not_proof() -> None:
    assert look(rebooting(), seen("Running", None), 30).outcome is InstanceOutcome.REBOOTING


def test_not_back_after_the_timeout_is_timed_out_with_a_message() -> None:
    instance = look(rebooting(), seen("Running"), TIMEOUT)
    assert instance.outcome is InstanceOutcome.TIMED_OUT
    assert instance.finished_at == at(TIMEOUT)
    assert outcome_sentence(instance) is not None
    assert str(TIMEOUT) in str(outcome_sentence(instance))
    assert "Running" in str(outcome_sentence(instance))


def test_a_second_call_restarts_the_timeout_not_the_completion_rule() -> None:
    """Sent a second call late (590 s after the first): the timeout counts from it, and
    a restart after the first call still proves the reboot, even in the second call's
    own minute."""
    resent = rebooting(reboot_calls=2, reboot_resent_at=at(590))
    still_stopping = look(resent, seen("Stopping"), TIMEOUT + 5)
    assert still_stopping.outcome is InstanceOutcome.REBOOTING
    timed_out = look(resent, seen("Stopping"), 590 + TIMEOUT)
    assert timed_out.outcome is InstanceOutcome.TIMED_OUT
    # Started at 10:10:00 (minute precision), after the first call (10:00:30), before
    # the second (10:10:20): back.
    restarted = look(resent, seen("Running", datetime(2024, 5, 1, 10, 10, tzinfo=UTC)), 600)
    assert restarted.outcome is InstanceOutcome.SUCCEEDED


def test_answer_lost_a_start_time_later_than_the_previews_is_back() -> None:
    """Both answers lost and a quick reboot between two polls: its new StartTime, in the
    call's own minute, proves nothing against the call, but is later than the one the
    preview saw (§5.4). With an answer recorded, the call's own rule stands."""
    in_the_calls_minute = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    lost = rebooting(reboot_acked_at=None, reboot_calls=2)
    assert look(lost, seen("Running", in_the_calls_minute), 30).outcome is (
        InstanceOutcome.SUCCEEDED
    )
    answered = rebooting()
    assert look(answered, seen("Running", in_the_calls_minute), 30).outcome is (
        InstanceOutcome.REBOOTING
    )
    unchanged = look(lost, seen("Running", BOOTED_LONG_AGO), 30)
    assert unchanged.outcome is InstanceOutcome.REBOOTING


def test_stuck_while_stopped_times_out_naming_the_last_status() -> None:
    instance = look(rebooting(), seen("Stopped"), TIMEOUT + 5)
    assert instance.outcome is InstanceOutcome.TIMED_OUT
    assert instance.seen_leaving_running
    assert outcome_sentence(instance) is not None
    assert "Stopped" in str(outcome_sentence(instance))


def test_instance_no_longer_listed_waits_then_times_out() -> None:
    instance = look(rebooting(), None, 30)
    assert instance.outcome is InstanceOutcome.REBOOTING
    instance = look(instance, None, TIMEOUT)
    assert instance.outcome is InstanceOutcome.TIMED_OUT
    assert outcome_sentence(instance) is not None
    assert "no longer listed" in str(outcome_sentence(instance))


def test_back_at_the_deadline_counts_as_back() -> None:
    instance = look(rebooting(seen_leaving_running=True), seen("Running"), TIMEOUT + 30)
    assert instance.outcome is InstanceOutcome.SUCCEEDED


def test_seen_leaving_is_remembered_across_looks() -> None:
    instance = look(rebooting(), seen("Stopping"), 3)
    instance = look(instance, None, 6)  # a poll that did not list it
    assert instance.seen_leaving_running
    assert look(instance, seen("Running"), 9).outcome is InstanceOutcome.SUCCEEDED


@pytest.mark.parametrize(
    "outcome", [o for o in InstanceOutcome if o is not InstanceOutcome.REBOOTING]
)
def test_instances_not_rebooting_are_unchanged(outcome: InstanceOutcome) -> None:
    instance = rebooting(outcome=outcome)
    assert look(instance, seen("Stopped"), TIMEOUT * 10) is instance
    assert look(instance, seen("Running", at(60)), 61) is instance


def test_a_look_that_changes_nothing_returns_the_same_instance() -> None:
    # The poller tells what changed by identity; an equal copy would be saved again.
    stopping = rebooting(status="Stopping", seen_leaving_running=True)
    assert look(stopping, seen("Stopping"), 5) is stopping
    moved = look(stopping, seen("Stopped"), 6)
    assert moved is not stopping
    assert (moved.status, moved.outcome) == ("Stopped", InstanceOutcome.REBOOTING)


def test_rebooting_without_a_recorded_call_is_unchanged() -> None:
    instance = rebooting(reboot_sent_at=None)
    assert look(instance, seen("Stopped"), TIMEOUT * 10) is instance


@given(
    statuses=st.lists(
        st.sampled_from(["Running", "Stopping", "Stopped", "Starting"]), min_size=1, max_size=20
    )
)
def test_back_exactly_when_seen_leaving_then_running(statuses: list[str]) -> None:
    instance = rebooting()
    left = False
    for step, status in enumerate(statuses, start=1):
        instance = look(instance, seen(status), step)
        if status != "Running":
            left = True
        expected = left and status == "Running"
        assert (instance.outcome is InstanceOutcome.SUCCEEDED) is expected
        if expected:
            break


# --- next_delay -----------------------------------------------------------------------------


def test_poll_at_the_interval_after_a_change() -> None:
    assert next_delay(interval=2, since_sent=timedelta(minutes=30), changed=True) == 2


def test_poll_slows_down_while_nothing_changes_up_to_eight_times() -> None:
    delays = [
        next_delay(interval=2, since_sent=timedelta(seconds=s), changed=False)
        for s in (0, 30, 60, 120, 600, 6000)
    ]
    assert delays[0] == 2
    assert delays == sorted(delays)
    assert delays[-1] == 16


@given(
    interval=st.floats(min_value=0.1, max_value=60),
    seconds=st.floats(min_value=0, max_value=10_000),
    changed=st.booleans(),
)
def test_delay_stays_between_one_and_eight_intervals(
    interval: float, seconds: float, changed: bool
) -> None:
    delay = next_delay(interval=interval, since_sent=timedelta(seconds=seconds), changed=changed)
    assert interval <= delay <= interval * 8


# --- apply_results --------------------------------------------------------------------------


def pending(n: int) -> PlannedInstance:
    return PlannedInstance(
        ref=InstanceRef(HZ, f"i-bp1abcd{n:05d}"),
        position=n,
        verdict=Verdict.WILL_REBOOT,
        status="Running",
        reboot_sent_at=SENT,
    )


def result(n: int, *, ok: bool = True, **fields: Any) -> RebootResult:
    base = RebootResult(
        instance_id=f"i-bp1abcd{n:05d}",
        region=HZ,
        ok=ok,
        code="200" if ok else "IncorrectInstanceStatus",
        message="" if ok else "The current status of the resource does not support this operation.",
        explanation="" if ok else "The instance is not Running any more.",
        request_id="REQ-1",
        current_status="Stopping" if ok else None,
    )
    return dataclasses.replace(base, **fields)


def test_accepted_instances_are_rebooting() -> None:
    [instance] = apply_results([pending(1)], [result(1)], at(1))
    assert instance.outcome is InstanceOutcome.REBOOTING
    assert instance.reboot_acked_at == at(1)
    assert instance.api_request_id == "REQ-1"
    assert instance.status == "Stopping"
    assert instance.finished_at is None


def test_refused_instances_fail_with_explanation_code_and_request_id() -> None:
    [instance] = apply_results([pending(1)], [result(1, ok=False)], at(1))
    assert instance.outcome is InstanceOutcome.FAILED
    assert instance.code == "IncorrectInstanceStatus"
    assert instance.message is not None
    assert "not Running any more" in instance.message
    assert "IncorrectInstanceStatus" in instance.message
    assert "REQ-1" in instance.message
    assert instance.finished_at == at(1)


def test_refusal_without_explanation_falls_back_to_the_api_message() -> None:
    [instance] = apply_results(
        [pending(1)], [result(1, ok=False, explanation="", request_id=None)], at(1)
    )
    assert instance.message is not None
    assert instance.message.startswith("The current status")
    assert "RequestId" not in instance.message


def test_instance_missing_from_the_answer_fails() -> None:
    updated = apply_results([pending(1), pending(2)], [result(2)], at(1))
    assert [i.outcome for i in updated] == [InstanceOutcome.FAILED, InstanceOutcome.REBOOTING]
    assert outcome_sentence(updated[0])


def test_results_are_matched_by_id_and_keep_the_instances_order() -> None:
    instances = [pending(n) for n in range(5)]
    results = [result(n, ok=n % 2 == 0) for n in reversed(range(5))]
    updated = apply_results(instances, results, at(1))
    assert [i.ref for i in updated] == [i.ref for i in instances]
    assert [i.outcome for i in updated] == [
        InstanceOutcome.REBOOTING if n % 2 == 0 else InstanceOutcome.FAILED for n in range(5)
    ]


# --- report_gap -----------------------------------------------------------------------------


def confirmed(at_: datetime | None) -> RebootRequest:
    return RebootRequest(
        id="req-1",
        state=RequestState.EXECUTING,
        force=False,
        requester="U0ALICE",
        channel="C0OPS",
        created_at=SENT - timedelta(minutes=1),
        expires_at=SENT + timedelta(minutes=4),
        instances=(),
        confirmed_by="U0ALICE",
        confirmed_at=at_,
    )


def test_report_gap_is_at_least_five_seconds() -> None:
    assert report_gap(confirmed(SENT), at(0)) == timedelta(seconds=5)
    assert report_gap(confirmed(SENT), at(8)) == timedelta(seconds=5)


def test_report_gap_grows_with_half_the_time_since_confirm() -> None:
    assert report_gap(confirmed(SENT), at(60)) == timedelta(seconds=30)
    assert report_gap(confirmed(SENT), at(600)) == timedelta(seconds=300)


def test_report_gap_falls_back_to_creation_time() -> None:
    assert report_gap(confirmed(None), at(60)) == timedelta(seconds=60)

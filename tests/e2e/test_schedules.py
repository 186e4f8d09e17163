"""Scheduled reboots and maintenance windows end to end (docs/PRODUCT.md §5.10): clicks signed
as Slack signs them over HTTP, the ECS simulator and the poller on one manual clock that
the tests move (never a sleep).

Most tests hand the WHEN (and a rollout plan) to the preview use case as the parsed
command (``PreviewAsked.command``), the way the slash command does, to set up many cases
briefly; the last ones type the slash command itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import main as cli_main
from bot.db.stats import state_and_outcome_counts
from bot.domain.commands import RebootCommand
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Role
from bot.domain.policy import Binding
from bot.domain.rollout import RolloutFlags, Size
from bot.domain.schedule import InDelay, InWindow, When
from bot.services import roles as roles_service
from bot.services.preview import PreviewAsked, preview
from bot.services.scheduled import scheduled_view
from bot.slack.blocks import (
    ACTION_ABORT,
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_PAUSE,
    ACTION_RESUME,
)
from bot.slack.text import scheduled_text
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    NOTIFY,
    OPERATOR,
    REGION,
    STRANGER,
    Harness,
    buttons,
    running_bot,
    text_of,
)
from tests.e2e.rolling import sent_waves

SHORT = {
    "ECSBOT_SCHEDULE_MIN_LEAD": "10",
    "ECSBOT_SCHEDULE_REMIND": "20",
    "ECSBOT_SCHEDULE_GRACE": "60",
}
# A Monday, 01:58 UTC: the "night" window below opens two minutes later.
MONDAY = datetime(2026, 12, 7, 1, 58, tzinfo=UTC)
# A window one minute long, and its first opening after MONDAY.
NIGHT = {"ECSBOT_WINDOWS": "night=daily 02:00-02:01"}
OPENING = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@contextmanager
def scheduling_bot(
    url: str,
    *,
    env: dict[str, str] | None = None,
    start: datetime | None = None,
    instances: int = 4,
) -> Iterator[Harness]:
    with running_bot(url, env={**SHORT, **(env or {})}, start=start, instances=instances) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.grant(STRANGER, Role.OPERATOR)
        yield h


def _previewed(
    h: Harness,
    when: When,
    *,
    ids: Sequence[str] | None = None,
    user: str = OPERATOR,
    rollout: RolloutFlags | None = None,
) -> str:
    """A preview with a WHEN, asked as the slash command asks it (the use case's input)."""
    chosen = list(ids if ids is not None else h.sim.fleet.ids(REGION)[:2])
    asked = PreviewAsked(
        user=user,
        channel=CHANNEL,
        command=RebootCommand(
            instances=tuple(InstanceRef(REGION, i) for i in chosen),
            rollout=rollout or RolloutFlags(),
            when=when,
        ),
        command_text=" ".join(chosen),
    )
    request = preview(h.bot.ctx, asked)
    assert request is not None, h.ephemerals()
    return request.id


def _scheduled(h: Harness, when: When, **kwargs: object) -> str:
    request_id = _previewed(h, when, **kwargs)  # type: ignore[arg-type]
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    assert h.request(request_id).state is RequestState.SCHEDULED
    return request_id


def _real_calls(h: Harness) -> int:
    return len(sent_waves(h))


def _notified(h: Harness) -> list[str]:
    return [m.text for m in h.slack.messages() if m.channel == NOTIFY]


def _ticks(h: Harness, seconds: float, *, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        h.clock.advance(step)
        h.tick()


@contextmanager
def _night_rollout(url: str) -> Iterator[tuple[Harness, str]]:
    """The bot with the "night" window, and its six instances in a rollout (a canary,
    then waves of 2) scheduled into it: the harness and the request's id."""
    with scheduling_bot(url, env=NIGHT, start=MONDAY, instances=6) as h:
        ids = h.sim.fleet.ids(REGION)
        rollout = RolloutFlags(batch=Size(2), canary=1)
        yield h, _scheduled(h, InWindow("night"), ids=ids, rollout=rollout)


def _canary_back_after_the_closing(h: Harness) -> None:
    """The canary sent at the opening, back only after the window closed: the rollout
    now waits for the next opening."""
    h.clock.set(OPENING)
    h.tick()
    h.clock.set(OPENING + timedelta(seconds=61))
    h.tick()
    h.tick()


# ── the happy path ────────────────────────────────────────────────────────────────


def test_in_a_few_seconds_waits_then_runs_exactly_one_wave_at_its_time(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        request_id = _previewed(h, InDelay(30))
        _, shown = h.last_preview()
        assert "Runs" in text_of(shown)
        assert "(in 30 s)" in text_of(shown)
        h.click(ACTION_CONFIRM, request_id)
        h.settle()

        request = h.request(request_id)
        assert request.state is RequestState.SCHEDULED
        assert request.scheduled_for == request.created_at + timedelta(seconds=30)
        message = h.slack.find(CHANNEL, str(request.message_ts))
        assert message is not None
        assert [b["action_id"] for b in buttons(message.blocks)] == [ACTION_CANCEL]
        assert "Scheduled for" in text_of(message)
        assert any("Scheduled: reboot" in text for text in _notified(h))

        # Nothing goes out before its time, whatever the poller does meanwhile.
        _ticks(h, 29)
        assert _real_calls(h) == 0
        assert h.request(request_id).state is RequestState.SCHEDULED
        # Reminded once, 20 s before, in the thread and the notify channel.
        reminders = [m for m in h.thread(request_id) if "Reminder" in m.text]
        assert len(reminders) == 1
        assert sum("Reminder" in text for text in _notified(h)) == 1

        h.clock.advance(1)
        h.tick()
        assert _real_calls(h) == 1
        assert h.request(request_id).state is RequestState.EXECUTING
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED
        assert _real_calls(h) == 1
        assert "start" in h.audit_actions(request_id)


def test_cancel_while_scheduled_reboots_nothing(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        request_id = _scheduled(h, InDelay(30))
        # Someone else (an operator, not the requester nor an admin) may not cancel it.
        h.click(ACTION_CANCEL, request_id, user=STRANGER)
        h.settle()
        assert h.request(request_id).state is RequestState.SCHEDULED
        assert any("Only <@" in text for text in h.ephemerals(STRANGER))

        h.click(ACTION_CANCEL, request_id)
        h.settle()
        assert h.request(request_id).state is RequestState.CANCELLED
        _ticks(h, 120, step=5)
        assert _real_calls(h) == 0
        assert {i.outcome for i in h.request(request_id).instances} == {InstanceOutcome.SKIPPED}


def test_an_admin_may_cancel_anyones_scheduled_reboot(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        request_id = _scheduled(h, InDelay(30))
        h.click(ACTION_CANCEL, request_id, user=ADMIN)
        h.settle()
        assert h.request(request_id).state is RequestState.CANCELLED


# ── what can go wrong before the start ───────────────────────────────────────────


def test_a_revoked_confirmer_cancels_it_and_the_thread_says_whose_permission(
    migrated_url: str,
) -> None:
    with scheduling_bot(migrated_url) as h:
        request_id = _scheduled(h, InDelay(30))
        roles_service.revoke(
            h.bot.ctx.uow, Binding(OPERATOR, Role.OPERATOR), actor="test", now=h.clock.now()
        )
        _ticks(h, 31)
        assert h.request(request_id).state is RequestState.CANCELLED
        assert _real_calls(h) == 0
        said = " ".join(m.text for m in h.thread(request_id))
        assert f"<@{OPERATOR}>, who confirmed it, no longer holds any /ecs-reboot role" in said
        assert "Nothing was rebooted" in said


def test_an_instance_stopped_meanwhile_is_skipped_and_the_others_reboot(
    migrated_url: str,
) -> None:
    with scheduling_bot(migrated_url) as h:
        first, second = h.sim.fleet.ids(REGION)[:2]
        request_id = _scheduled(h, InDelay(30), ids=[first, second])
        h.sim.fleet.update(REGION, second, status="Stopped")
        _ticks(h, 30)
        assert [call for call in sent_waves(h)] == [(first,)]
        h.run_until_final(request_id)
        outcomes = {i.ref.instance_id: i.outcome for i in h.request(request_id).instances}
        assert outcomes == {first: InstanceOutcome.SUCCEEDED, second: InstanceOutcome.SKIPPED}
        assert any("can no longer be rebooted" in m.text for m in h.thread(request_id))


def test_nothing_left_to_reboot_at_the_start_cancels_it(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)[:2]
        request_id = _scheduled(h, InDelay(30), ids=ids)
        for instance_id in ids:
            h.sim.fleet.update(REGION, instance_id, status="Stopped")
        _ticks(h, 30)
        assert h.request(request_id).state is RequestState.CANCELLED
        assert _real_calls(h) == 0
        assert any(
            "none of its instances can be rebooted now" in m.text for m in h.thread(request_id)
        )


def test_a_start_missed_beyond_the_grace_expires_and_never_reboots(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        request_id = _scheduled(h, InDelay(30))
        # No poller ran: the next tick is 61 s after the start (the grace is 60 s).
        h.clock.advance(30 + 61)
        h.tick()
        request = h.request(request_id)
        assert request.state is RequestState.EXPIRED
        assert _real_calls(h) == 0
        assert any("Expired" in m.text for m in h.thread(request_id))
        assert any("Expired" in text for text in _notified(h))
        message = h.slack.find(CHANNEL, str(request.message_ts))
        assert message is not None
        assert "its start was missed" in text_of(message)
        assert buttons(message.blocks) == []


def test_a_start_within_the_grace_runs_late_and_says_so(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        request_id = _scheduled(h, InDelay(30))
        h.clock.advance(30 + 59)
        h.tick()
        assert h.request(request_id).state is RequestState.EXECUTING
        assert _real_calls(h) == 1
        assert any("starts late" in m.text for m in h.thread(request_id))


def test_too_soon_too_far_and_an_unknown_window_record_nothing(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        for when in (InDelay(5), InDelay(15 * 86400), InWindow("nightly")):
            asked = PreviewAsked(
                user=OPERATOR,
                channel=CHANNEL,
                command=RebootCommand(
                    instances=(InstanceRef(REGION, h.sim.fleet.ids(REGION)[0]),), when=when
                ),
            )
            assert preview(h.bot.ctx, asked) is None
        said = h.ephemerals(OPERATOR)
        assert any("starts at least 10 s ahead" in text for text in said)
        assert any("starts at most 14 d ahead" in text for text in said)
        assert any("no maintenance window is set up" in text for text in said)
        assert h.preview_ids() == []
        assert h.sim.calls.of("DescribeInstances") == []


# ── replicas and restarts ─────────────────────────────────────────────────────────


def test_two_replicas_at_the_start_run_it_once(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        request_id = _scheduled(h, InDelay(30))
        replica = dataclasses.replace(h.bot.ctx, owner="replica-2")
        h.clock.advance(30)
        h.tick()
        h.tick(replica)
        h.tick(replica)
        h.run_until_final(request_id, ctx=replica)
        assert _real_calls(h) == 1
        assert h.audit_actions(request_id).count("start") == 1


def test_a_restart_while_scheduled_still_runs_once(migrated_url: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    with scheduling_bot(migrated_url, start=start) as h:
        request_id = _scheduled(h, InDelay(30))
        ids = [i.ref.instance_id for i in h.request(request_id).instances]
    # The process is gone; another starts on the same database 30 s later.
    with scheduling_bot(migrated_url, start=start + timedelta(seconds=30)) as h:
        assert h.request(request_id).state is RequestState.SCHEDULED
        h.tick()
        h.tick()
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED
        assert [set(call) for call in sent_waves(h)] == [set(ids)]


# ── a rollout in a window ─────────────────────────────────────────────────────────


def test_a_rollout_in_a_window_pauses_at_closing_and_goes_on_at_the_next_opening(
    migrated_url: str,
) -> None:
    with _night_rollout(migrated_url) as (h, request_id):
        ids = h.sim.fleet.ids(REGION)
        request = h.request(request_id)
        assert (request.scheduled_for, request.window) == (OPENING, "night")
        assert request.rollout_waves > 2

        # Nothing before the opening; the canary at it.
        h.clock.set(OPENING - timedelta(seconds=1))
        h.tick()
        assert _real_calls(h) == 0
        h.clock.set(OPENING)
        h.tick()
        assert len(sent_waves(h)) == 1

        # The canary comes back after the window closed: no new wave; paused until
        # the next opening, and the message says when it goes on.
        h.clock.set(OPENING + timedelta(seconds=61))
        h.tick()
        h.tick()
        request = h.request(request_id)
        assert request.state is RequestState.PAUSED
        assert request.window_reopens_at == OPENING + timedelta(days=1)
        assert len(sent_waves(h)) == 1
        message = h.slack.find(CHANNEL, str(request.message_ts))
        assert message is not None
        assert "closed; continues by itself" in text_of(message)
        assert any("window `night` closed" in m.text for m in h.thread(request_id))

        # A Resume outside the window waits for it.
        h.click(ACTION_RESUME, request_id)
        h.settle()
        h.clock.advance(5)
        h.tick()
        assert h.request(request_id).state is RequestState.PAUSED
        assert len(sent_waves(h)) == 1

        # Hours pass with the poller running: still nothing.
        h.clock.set(OPENING + timedelta(hours=12))
        h.tick()
        assert len(sent_waves(h)) == 1

        # The next night it goes on by itself, one wave at a time within the minute.
        h.clock.set(OPENING + timedelta(days=1))
        h.tick()
        assert h.request(request_id).state is RequestState.EXECUTING
        assert len(sent_waves(h)) == 2
        for _ in range(40):
            h.clock.advance(1)
            h.tick()
        # Every wave that fits in the minute went; the rest wait for the next night.
        sent_tonight = len(sent_waves(h))
        assert sent_tonight >= 3
        h.clock.set(OPENING + timedelta(days=1, seconds=61))
        h.tick()
        h.tick()
        assert h.request(request_id).state in (RequestState.PAUSED, RequestState.SUCCEEDED)
        for night in range(2, 6):
            if h.request(request_id).state.is_final:
                break
            h.clock.set(OPENING + timedelta(days=night))
            for _ in range(60):
                h.clock.advance(1)
                h.tick()
        assert h.request(request_id).state is RequestState.SUCCEEDED
        assert sorted(i for call in sent_waves(h) for i in call) == sorted(ids)
        # Every real call went out while the window was open.
        for call in h.sim.calls.of("RebootInstances", dry_run=False):
            at = call.at
            assert at.time() < datetime(2026, 1, 1, 2, 1).time(), at


def test_a_person_paused_rollout_stays_paused_through_the_opening(migrated_url: str) -> None:
    with _night_rollout(migrated_url) as (h, request_id):
        h.clock.set(OPENING)
        h.tick()
        h.click(ACTION_PAUSE, request_id)
        h.settle()
        h.clock.set(OPENING + timedelta(days=1))
        for _ in range(30):
            h.clock.advance(1)
            h.tick()
        assert h.request(request_id).state is RequestState.PAUSED
        assert len(sent_waves(h)) == 1


def test_pause_while_waiting_for_the_window_holds_it_until_a_resume(migrated_url: str) -> None:
    with _night_rollout(migrated_url) as (h, request_id):
        _canary_back_after_the_closing(h)
        request = h.request(request_id)
        assert request.window_reopens_at is not None
        message = h.slack.find(CHANNEL, str(request.message_ts))
        assert message is not None
        # Waiting for the window: Pause (hold it) and Abort, no Resume.
        assert [b["action_id"] for b in buttons(message.blocks)] == [ACTION_PAUSE, ACTION_ABORT]
        h.click(ACTION_PAUSE, request_id)
        h.settle()
        request = h.request(request_id)
        assert (request.state, request.paused_by, request.window_reopens_at) == (
            RequestState.PAUSED,
            OPERATOR,
            None,
        )
        h.clock.set(OPENING + timedelta(days=1))
        for _ in range(20):
            h.clock.advance(1)
            h.tick()
        assert len(sent_waves(h)) == 1
        # A Resume inside the window goes on at once.
        h.click(ACTION_RESUME, request_id)
        h.settle()
        h.tick()
        assert len(sent_waves(h)) == 2


# ── what people can look at ──────────────────────────────────────────────────────


def test_scheduled_lists_requests_and_windows_and_history_names_them(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"ECSBOT_WINDOWS": "night=Mon-Fri 02:00-04:00 Asia/Shanghai; weekend=Sat,Sun 00:00-06:00"}
    with scheduling_bot(migrated_url, env=env, start=MONDAY) as h:
        soon = _scheduled(h, InDelay(3600))
        nightly = _scheduled(h, InWindow("night"), ids=h.sim.fleet.ids(REGION)[2:4])
        unscheduled = h.confirmed(1, skip=3)
        said = scheduled_text(scheduled_view(h.bot.ctx))
        assert said.index(f"`{soon}`") < said.index(f"`{nightly}`")  # soonest first
        assert f"requested by <@{OPERATOR}>" in said
        assert "in window `night`" in said
        # Monday 01:58 UTC is 09:58 in Shanghai: the night window next opens Tuesday
        # 02:00 there, Monday 18:00 UTC.
        opens = int(datetime(2026, 12, 7, 18, tzinfo=UTC).timestamp())
        assert f"`night`: Mon-Fri 02:00-04:00 Asia/Shanghai: next opens <!date^{opens}^" in said
        assert "`weekend`: Sat,Sun 00:00-06:00 UTC" in said
        assert unscheduled not in said
        # /metrics counts them by state (ecsbot_requests{state="scheduled"}).
        assert state_and_outcome_counts(h.bot.engine)[0]["scheduled"] == 2

        monkeypatch.setenv("ECSBOT_DATABASE_URL", h.bot.settings.database_url)
        capsys.readouterr()
        assert cli_main(["history", "--json", "--state", "scheduled"]) == 0
        rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
        assert set(rows) == {soon, nightly}
        assert rows[nightly]["window"] == "night"
        assert rows[nightly]["scheduled_for"] == "2026-12-07T18:00:00+00:00"
        assert rows[soon]["window"] is None
        assert rows[soon]["scheduled_for"] == (MONDAY + timedelta(hours=1)).isoformat()


def test_the_last_approval_schedules_it_and_a_replayed_confirm_changes_nothing(
    migrated_url: str,
) -> None:
    with scheduling_bot(migrated_url, env={"ECSBOT_APPROVALS_ABOVE": "1"}) as h:
        request_id = _previewed(h, InDelay(120))
        h.click(ACTION_CONFIRM, request_id)
        h.settle()
        assert h.request(request_id).state is RequestState.AWAITING_APPROVAL
        h.click(ACTION_APPROVE, request_id, user=STRANGER)
        h.settle()
        request = h.request(request_id)
        assert request.state is RequestState.SCHEDULED
        assert request.confirmed_by == OPERATOR
        assert any("is scheduled for" in text for text in h.ephemerals(STRANGER))
        assert any("Scheduled: reboot" in text for text in _notified(h))

        # A replayed Reboot click (Slack retries, a double click) starts nothing.
        h.click(ACTION_CONFIRM, request_id, message_ts=str(request.message_ts))
        h.settle()
        assert h.request(request_id).state is RequestState.SCHEDULED
        assert _real_calls(h) == 0

        _ticks(h, 120, step=5)
        assert _real_calls(h) == 1
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED


def test_abort_while_waiting_for_the_window_ends_it_with_the_rest_never_sent(
    migrated_url: str,
) -> None:
    with _night_rollout(migrated_url) as (h, request_id):
        _canary_back_after_the_closing(h)
        assert h.request(request_id).window_reopens_at is not None
        h.click(ACTION_ABORT, request_id)
        h.settle()
        h.tick()
        request = h.request(request_id)
        assert request.state is RequestState.ABORTED
        assert len(sent_waves(h)) == 1
        outcomes = [i.outcome for i in request.instances]
        assert outcomes.count(InstanceOutcome.SUCCEEDED) == 1
        assert outcomes.count(InstanceOutcome.ABORTED) == len(request.instances) - 1


# ── the slash command itself ────────────────────────────────────────────────────


def test_the_slash_command_in_a_few_seconds_runs_once_at_its_time(migrated_url: str) -> None:
    with scheduling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)[:2]
        response = h.command(f"--in 30s {' '.join(ids)}")
        assert "Checking 2 instances" in response.json()["text"]
        h.settle()
        request_id, shown = h.last_preview()
        assert "(in 30 s)" in text_of(shown)
        h.click(ACTION_CONFIRM, request_id)
        h.settle()
        assert h.request(request_id).state is RequestState.SCHEDULED
        _ticks(h, 29)
        assert _real_calls(h) == 0
        _ticks(h, 1)
        assert [set(call) for call in sent_waves(h)] == [set(ids)]
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED
        assert _real_calls(h) == 1

        listed = h.command("scheduled").json()["text"]
        assert "Nothing is scheduled." in listed


def test_a_slash_command_too_soon_is_an_input_error_with_the_others(migrated_url: str) -> None:
    with scheduling_bot(migrated_url, env={"ECSBOT_WINDOWS": "night=daily 02:00-04:00"}) as h:
        reply = h.command("--in 5s i-BAD").json()["text"]
        assert "`--in 5s` is only 5 s from now" in reply
        assert "i-BAD" in reply
        reply = h.command(f"--window weekly {h.sim.fleet.ids(REGION)[0]}").json()["text"]
        assert "no such window; the windows are `night`" in reply
        reply = h.command(f"--at 02:00 --in 1h {h.sim.fleet.ids(REGION)[0]}").json()["text"]
        assert "cannot be combined" in reply
        h.settle()
        assert h.preview_ids() == []
        assert h.sim.calls.of("DescribeInstances") == []
        listed = h.command("scheduled").json()["text"]
        assert "`night`: daily 02:00-04:00 UTC" in listed

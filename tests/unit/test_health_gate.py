"""The health gate of docs/PRODUCT.md §5.9, pure: back only once the agent reported after the
reboot call; without an agent, back on Running alone; the timeout still bounds it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.domain.completion import gate_on_agent
from bot.domain.ecs_values import AgentStatus
from bot.domain.model import (
    InstanceOutcome,
    InstanceRef,
    RequestState,
    Verdict,
    final_request_state,
)
from bot.domain.request import PlannedInstance
from bot.slack.outcomes import outcome_sentence

SENT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BACK = dataclasses.replace(
    PlannedInstance(InstanceRef("cn-hangzhou", "i-bp1gate00001"), 0, Verdict.WILL_REBOOT),
    outcome=InstanceOutcome.SUCCEEDED,
    reboot_sent_at=SENT,
    finished_at=SENT + timedelta(seconds=40),
)
NOW = SENT + timedelta(seconds=40)


def _agent(online: bool, heartbeat: datetime | None, installed: bool = True) -> AgentStatus:
    return AgentStatus(
        "i-bp1gate00001", online=online, installed=installed, last_heartbeat=heartbeat
    )


def test_an_agent_online_since_the_call_makes_it_back() -> None:
    after = gate_on_agent(
        BACK, _agent(True, SENT + timedelta(seconds=35)), now=NOW, timeout_seconds=600
    )
    assert (after.outcome, after.agent) == (InstanceOutcome.SUCCEEDED, "online")


def test_a_heartbeat_from_before_the_call_is_not_enough() -> None:
    after = gate_on_agent(
        BACK, _agent(True, SENT - timedelta(seconds=5)), now=NOW, timeout_seconds=600
    )
    assert after.outcome is InstanceOutcome.REBOOTING
    assert after.finished_at is None


def test_an_agent_offline_waits_until_the_timeout() -> None:
    later = SENT + timedelta(seconds=600)
    after = gate_on_agent(BACK, _agent(False, None), now=later, timeout_seconds=600)
    assert after.outcome is InstanceOutcome.TIMED_OUT
    assert "Cloud Assistant agent did not report online" in (outcome_sentence(after) or "")


def test_no_agent_counts_as_back_on_running_alone() -> None:
    for agent in (None, _agent(False, None, installed=False)):
        after = gate_on_agent(BACK, agent, now=NOW, timeout_seconds=600)
        assert (after.outcome, after.agent) == (InstanceOutcome.SUCCEEDED, "absent")


def test_a_stopped_rollout_ends_aborted() -> None:
    back, never_sent = InstanceOutcome.SUCCEEDED, InstanceOutcome.ABORTED
    assert final_request_state([back, never_sent]) is RequestState.ABORTED
    assert final_request_state([back, back], stopped=True) is RequestState.ABORTED
    assert final_request_state([back, back]) is RequestState.SUCCEEDED

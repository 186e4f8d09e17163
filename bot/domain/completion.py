"""When is an instance back? The completion rule of docs/PRODUCT.md §5.5, pure.

An instance has rebooted when, after the reboot call was sent, it was seen leaving
``Running`` and is ``Running`` again, or it is ``Running`` with a ``StartTime`` later than
the call; one whose call's answer was lost also when its ``StartTime`` is later than the
preview's (§5.4). ``StartTime`` is documented with minute precision (``10:01Z``): a StartTime
in the call's own minute is truncated to before the call and so proves nothing, which is
the safe side.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, timedelta

from bot.domain.ecs_values import RUNNING, AgentStatus, InstanceStatus
from bot.domain.lost_answer import restarted
from bot.domain.model import AgentFinding, Happened, InstanceOutcome
from bot.domain.request import PlannedInstance


def _latest_call(instance: PlannedInstance) -> datetime:
    """The moment ECSBOT_REBOOT_TIMEOUT counts from: the second call's, if one was made
    (it may have gone out late), else the first's."""
    assert instance.reboot_sent_at is not None
    return instance.reboot_resent_at or instance.reboot_sent_at


@functools.cache
def _seconds(seconds: int) -> timedelta:
    # Made once per value: building a timedelta cost more than the rest of an unchanged look.
    return timedelta(seconds=seconds)


def observe(
    instance: PlannedInstance,
    seen: InstanceStatus | None,
    *,
    now: datetime,
    timeout_seconds: int,
) -> PlannedInstance:
    """The instance after one look at it. Only ``rebooting`` instances change."""
    if instance.outcome is not InstanceOutcome.REBOOTING or instance.reboot_sent_at is None:
        return instance
    sent_at = instance.reboot_sent_at
    left = instance.seen_leaving_running
    status = instance.status
    if seen is not None:
        status = seen.status
        if status != RUNNING:
            if (
                left
                and status == instance.status
                # _latest_call, inline: this is the check made 10,000 times a tick.
                and now - (instance.reboot_resent_at or sent_at) < _seconds(timeout_seconds)
            ):
                # The common case of a poll, first: still away from Running as last
                # seen, within the timeout. The same object back, nothing changed.
                return instance
            left = True
        # With the call's answer lost (none recorded), §5.4's other proof too: a
        # StartTime later than the preview's, which catches a reboot quick enough to
        # fall between two polls whose new StartTime minute precision truncates to
        # before the call.
        elif left or restarted(
            seen.start_time,
            sent_at,
            instance.start_time_before if instance.reboot_acked_at is None else None,
        ):
            return dataclasses.replace(
                instance,
                status=seen.status,
                seen_leaving_running=left,
                outcome=InstanceOutcome.SUCCEEDED,
                happened=Happened.BACK,
                finished_at=now,
            )
    if now - _latest_call(instance) >= _seconds(timeout_seconds):
        return dataclasses.replace(
            instance,
            status=status,
            seen_leaving_running=left,
            outcome=InstanceOutcome.TIMED_OUT,
            happened=Happened.NOT_BACK if seen is not None else Happened.NOT_BACK_UNLISTED,
            finished_at=now,
        )
    if status == instance.status and left == instance.seen_leaving_running:
        # Unchanged, the common case of a poll: the same object, so the caller's "what
        # changed" is an identity check (10,000 instances in flight make that matter).
        return instance
    return dataclasses.replace(instance, status=status, seen_leaving_running=left)


def gate_on_agent(
    instance: PlannedInstance,
    agent: AgentStatus | None,
    *,
    now: datetime,
    timeout_seconds: int,
) -> PlannedInstance:
    """The health gate of docs/PRODUCT.md §5.9 on an instance :func:`observe` just found back:
    back only once its Cloud Assistant agent is online with a heartbeat after the reboot
    call; without an agent, back on ``Running`` alone (``AgentFinding.ABSENT``). Until then
    it stays ``rebooting`` (seen leaving, so the next look at it asks again), and
    ``timeout_seconds`` still bounds the wait."""
    if instance.outcome is not InstanceOutcome.SUCCEEDED or instance.reboot_sent_at is None:
        return instance
    if agent is None or not agent.installed:
        return dataclasses.replace(
            instance,
            agent=AgentFinding.ABSENT,
            happened=Happened.BACK_NO_AGENT,
        )
    if (
        agent.online
        and agent.last_heartbeat is not None
        and agent.last_heartbeat > instance.reboot_sent_at
    ):
        return dataclasses.replace(
            instance, agent=AgentFinding.ONLINE, happened=Happened.BACK_AGENT_ONLINE
        )
    if now - _latest_call(instance) >= timedelta(seconds=timeout_seconds):
        return dataclasses.replace(
            instance,
            outcome=InstanceOutcome.TIMED_OUT,
            happened=Happened.AGENT_SILENT,
        )
    return dataclasses.replace(
        instance,
        outcome=InstanceOutcome.REBOOTING,
        finished_at=None,
        happened=Happened.WAITING_FOR_AGENT,
    )


def next_delay(*, interval: float, since_sent: timedelta, changed: bool) -> float:
    """Poll fast right after the reboot call, slower while nothing changes: the interval
    grows with the time since the call, up to eight times the interval."""
    if changed:
        return interval
    factor = 1.0 + since_sent.total_seconds() / 60.0
    return interval * min(8.0, factor)

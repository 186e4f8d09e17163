"""The scheduled flow through the in-memory fakes (docs/PRODUCT.md §5.10): the decisions of
``bot.services.scheduled`` in milliseconds, on what the stores hold and what ECS and Slack
were asked. The same flow end to end is tests/e2e/test_schedules.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.commands import RebootCommand
from bot.domain.model import InstanceRef, RequestState, Role
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.domain.schedule import InDelay, ScheduleEvent, ScheduleEventKind, ScheduleTimes
from bot.services.clicks import Click
from bot.services.confirm import confirm
from bot.services.context import FlowConfig
from bot.services.poller import poll_once
from bot.services.preview import PreviewAsked, preview
from bot.testing.memory import MemoryBot, memory_bot

REGION = "cn-hangzhou"
REQUESTER = "U1"
CHANNEL = "C1"
CONFIG = FlowConfig(poll_interval=2.0, schedule_times=ScheduleTimes(remind=60, grace=120))


@pytest.fixture
def bot() -> MemoryBot:
    bot = memory_bot(CONFIG)
    bot.db.grant(Binding(REQUESTER, Role.OPERATOR))
    for instance_id in ("i-1", "i-2"):
        bot.ecs.add_instance(REGION, instance_id, start_time=bot.clock() - timedelta(days=1))
    return bot


def scheduled(bot: MemoryBot, seconds: int = 600) -> RebootRequest:
    asked = PreviewAsked(
        user=REQUESTER,
        channel=CHANNEL,
        command=RebootCommand(
            instances=(InstanceRef(REGION, "i-1"), InstanceRef(REGION, "i-2")),
            when=InDelay(seconds),
        ),
    )
    request = preview(bot.ctx, asked)
    assert request is not None
    later = confirm(bot.ctx, Click(user=REQUESTER, channel=CHANNEL, request_id=request.id))
    assert later() is True
    return bot.db.request(request.id)


def _events(bot: MemoryBot) -> list[ScheduleEventKind]:
    return [
        call.said.kind
        for call in bot.presenter.of("announce_schedule")
        if isinstance(call.said, ScheduleEvent)
    ]


def test_confirm_schedules_and_sends_nothing(bot: MemoryBot) -> None:
    request = scheduled(bot)
    assert request.state is RequestState.SCHEDULED
    assert request.scheduled_for == request.created_at + timedelta(seconds=600)
    assert bot.ecs.calls_of("reboot") == []
    assert _events(bot) == [ScheduleEventKind.SCHEDULED]
    assert bot.db.actions(request.id) == ["preview", "confirm"]


def test_reminder_once_then_the_start_with_a_fresh_dry_run(bot: MemoryBot) -> None:
    request = scheduled(bot)
    dry_runs = len(bot.ecs.calls_of("dry_run_reboot"))
    for _ in range(4):
        bot.clock.advance(135)  # 540 s: within a minute of the start
        poll_once(bot.ctx, bot.clock())
    assert _events(bot) == [ScheduleEventKind.SCHEDULED, ScheduleEventKind.REMINDER]
    assert bot.ecs.calls_of("reboot") == []
    bot.clock.advance(60)
    poll_once(bot.ctx, bot.clock())
    assert bot.db.request(request.id).state is RequestState.EXECUTING
    assert len(bot.ecs.calls_of("dry_run_reboot")) == dry_runs + 1
    assert len(bot.ecs.calls_of("reboot")) == 1
    assert bot.db.actions(request.id) == ["preview", "confirm", "remind", "start", "execute"]


def test_expired_beyond_the_grace(bot: MemoryBot) -> None:
    request = scheduled(bot)
    bot.clock.advance(600 + 121)
    poll_once(bot.ctx, bot.clock())
    stored = bot.db.request(request.id)
    assert stored.state is RequestState.EXPIRED
    assert stored.finished_at == bot.clock()
    assert bot.ecs.calls_of("reboot") == []
    assert _events(bot)[-1] is ScheduleEventKind.EXPIRED

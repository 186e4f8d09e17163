"""The steps a use-case test takes on the in-memory fakes (``bot.testing.memory``): a
bot with operators and instances, a preview, a click, a confirm, a poll after time
passed. One place to adapt when a use case's input changes."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.commands import RebootCommand
from bot.domain.ecs_values import RUNNING
from bot.domain.model import InstanceRef, Role
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.services.clicks import Click
from bot.services.confirm import confirm
from bot.services.context import FlowConfig
from bot.services.poller import PollReport, poll_once
from bot.services.preview import PreviewAsked, preview
from bot.testing.memory import MemoryBot, memory_bot

REGION = "cn-hangzhou"
REQUESTER = "U1"
STRANGER = "U2"
ADMIN = "U9"
CHANNEL = "C1"
CONFIG = FlowConfig(confirm_ttl=300, reboot_timeout=600, poll_interval=2.0, admins=(ADMIN,))


def make_bot(config: FlowConfig = CONFIG, instances: tuple[str, ...] = ("i-1", "i-2")) -> MemoryBot:
    """Fakes behind a ``Context``: two operators (the requester and a stranger) and
    ``instances`` Running in one region, started a day ago."""
    bot = memory_bot(config)
    bot.db.grant(Binding(REQUESTER, Role.OPERATOR))
    bot.db.grant(Binding(STRANGER, Role.OPERATOR))
    for instance_id in instances:
        bot.ecs.add_instance(REGION, instance_id, start_time=bot.clock() - timedelta(days=1))
    return bot


def previewed(bot: MemoryBot, *ids: str) -> RebootRequest:
    asked = PreviewAsked(
        REQUESTER,
        CHANNEL,
        RebootCommand(tuple(InstanceRef(REGION, i) for i in ids or ("i-1", "i-2"))),
    )
    request = preview(bot.ctx, asked)
    assert request is not None
    return request


def confirmed(bot: MemoryBot, *ids: str) -> RebootRequest:
    request = previewed(bot, *ids)
    later = confirm(bot.ctx, click(request, REQUESTER))
    assert later() is True
    return bot.db.request(request.id)


def click(request: RebootRequest, user: str) -> Click:
    return Click(user=user, channel=request.channel, request_id=request.id)


def back(bot: MemoryBot, *ids: str) -> None:
    """These instances are Running again, started just now."""
    for instance_id in ids:
        bot.ecs.set_status(REGION, instance_id, RUNNING, start_time=bot.clock())


def poll_after(bot: MemoryBot, seconds: float) -> PollReport:
    return poll_once(bot.ctx, bot.clock.advance(seconds))


def rebooted(bot: MemoryBot) -> list[tuple[str, ...]]:
    """The ids of every real reboot call, in the order sent."""
    return [call.instance_ids for call in bot.ecs.calls_of("reboot")]

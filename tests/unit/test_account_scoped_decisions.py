"""A role scoped to an account (DESIGN §5.13, §6) is checked in that account wherever a
decision is made again later, not only at the command and the click: a scheduled
request's start and the approvals App Home offers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bot.domain.approval import ApprovalRules
from bot.domain.commands import RebootCommand
from bot.domain.model import InstanceRef, RequestState, Role
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.domain.schedule import InDelay, ScheduleTimes
from bot.services.confirm import confirm
from bot.services.context import FlowConfig
from bot.services.home import home_of
from bot.services.poller import poll_once
from bot.services.preview import PreviewAsked, preview
from bot.testing.memory import MemoryBot, memory_bot
from tests.unit.flows import CHANNEL, CONFIG, REGION, REQUESTER, STRANGER, click

PROD = "prod"
SCHEDULES = dataclasses.replace(
    CONFIG, accounts=(PROD, "staging"), schedule_times=ScheduleTimes(remind=60, grace=120)
)
# Two instances need one approval.
APPROVALS = dataclasses.replace(
    CONFIG, accounts=(PROD, "staging"), approval_rules=ApprovalRules(quorum=1, above=1)
)


def bot_in_prod(*bindings: Binding, config: FlowConfig = SCHEDULES) -> MemoryBot:
    bot = memory_bot(config)
    for binding in bindings:
        bot.db.grant(binding)
    for instance_id in ("i-1", "i-2"):
        bot.ecs.add_instance(REGION, instance_id, start_time=bot.clock() - timedelta(days=1))
    return bot


def previewed_in_prod(bot: MemoryBot, **fields: object) -> RebootRequest:
    command = RebootCommand(
        instances=(InstanceRef(REGION, "i-1", PROD), InstanceRef(REGION, "i-2", PROD)),
        accounts=(PROD,),
    )
    asked = PreviewAsked(REQUESTER, CHANNEL, dataclasses.replace(command, **fields))  # type: ignore[arg-type]
    request = preview(bot.ctx, asked)
    assert request is not None
    assert {i.ref.account for i in request.instances} == {PROD}
    return request


def test_a_scheduled_start_checks_the_confirmer_in_the_requests_account() -> None:
    bot = bot_in_prod(Binding(REQUESTER, Role.OPERATOR, account=PROD))
    request = previewed_in_prod(bot, when=InDelay(600))
    assert confirm(bot.ctx, click(request, REQUESTER))() is True
    assert bot.db.request(request.id).state is RequestState.SCHEDULED

    for _ in range(5):
        poll_once(bot.ctx, bot.clock.advance(125))

    assert bot.db.request(request.id).state is RequestState.EXECUTING
    assert [call.instance_ids for call in bot.ecs.calls_of("reboot")] == [("i-1", "i-2")]


def test_a_role_in_another_account_does_not_start_a_scheduled_request() -> None:
    bot = bot_in_prod(Binding(REQUESTER, Role.OPERATOR, account=PROD))
    request = previewed_in_prod(bot, when=InDelay(600))
    assert confirm(bot.ctx, click(request, REQUESTER))() is True
    # The requester's prod role is taken away; a role in the default account is left.
    with bot.ctx.uow() as uow:
        assert uow.roles.revoke(Binding(REQUESTER, Role.OPERATOR, account=PROD))
        uow.commit()
    bot.db.grant(Binding(REQUESTER, Role.OPERATOR, account="default"))

    for _ in range(5):
        poll_once(bot.ctx, bot.clock.advance(125))

    assert bot.db.request(request.id).state is RequestState.CANCELLED
    assert bot.ecs.calls_of("reboot") == []


def test_app_home_offers_an_approval_to_an_approver_of_the_requests_account() -> None:
    bot = bot_in_prod(
        Binding(REQUESTER, Role.OPERATOR),
        Binding(STRANGER, Role.OPERATOR, account=PROD),
        Binding("U3", Role.OPERATOR, account="default"),
        config=APPROVALS,
    )
    request = previewed_in_prod(bot)
    assert confirm(bot.ctx, click(request, REQUESTER))() is True
    assert bot.db.request(request.id).state is RequestState.AWAITING_APPROVAL

    assert [r.id for r in home_of(bot.ctx, STRANGER).awaiting_me] == [request.id]
    assert home_of(bot.ctx, "U3").awaiting_me == []

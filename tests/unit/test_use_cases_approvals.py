"""Approvals and Retry through the use cases on the in-memory fakes: a request held until
someone other than the requester approves, a rejection that reboots nothing, a retry of
exactly the failed instances, once (tests/e2e/test_approvals.py drives the same through
Slack and the simulator)."""

from __future__ import annotations

import dataclasses

from bot.domain.approval import ApprovalRules
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState
from bot.services.answers import AlreadyRetried, ApprovalRecorded, Denied, NotAwaitingApproval
from bot.services.approval import approve, reject
from bot.services.confirm import confirm
from bot.services.retry import retry
from bot.testing.memory import MemoryBot
from tests.unit.flows import (
    CONFIG,
    REGION,
    REQUESTER,
    STRANGER,
    back,
    click,
    confirmed,
    make_bot,
    poll_after,
    previewed,
    rebooted,
)

# More than one instance needs one approval.
APPROVALS = dataclasses.replace(
    CONFIG, approval_rules=ApprovalRules(quorum=1, above=1), notify_channel="C-NOTIFY"
)


def awaiting(bot: MemoryBot) -> str:
    request = previewed(bot)
    assert confirm(bot.ctx, click(request, REQUESTER))() is True
    return request.id


def told(bot: MemoryBot, user: str) -> list[object]:
    return [call.said for call in bot.presenter.of("tell") if call.user == user]


def test_a_request_waits_for_someone_else_to_approve_it() -> None:
    bot = make_bot(APPROVALS)
    request_id = awaiting(bot)

    waiting = bot.db.request(request_id)
    assert waiting.state is RequestState.AWAITING_APPROVAL
    assert waiting.approvals_needed == 1
    assert rebooted(bot) == []
    assert len(bot.presenter.of("notify_awaiting_approval")) == 1

    # The requester may not approve their own request.
    approve(bot.ctx, click(waiting, REQUESTER))()
    assert bot.db.request(request_id).state is RequestState.AWAITING_APPROVAL
    assert [type(said) for said in told(bot, REQUESTER)] == [Denied]

    assert approve(bot.ctx, click(waiting, STRANGER))() is True
    started = bot.db.request(request_id)
    assert started.state is RequestState.EXECUTING
    assert [a.user for a in started.approvals] == [STRANGER]
    assert rebooted(bot) == [("i-1", "i-2")]
    [recorded] = told(bot, STRANGER)
    assert isinstance(recorded, ApprovalRecorded)
    assert recorded.started
    assert bot.db.actions(request_id) == ["preview", "confirm", "approve", "execute"]


def test_a_rejected_request_reboots_nothing_and_later_approvals_are_refused() -> None:
    bot = make_bot(APPROVALS)
    request_id = awaiting(bot)
    waiting = bot.db.request(request_id)

    reject(bot.ctx, click(waiting, STRANGER))()
    approve(bot.ctx, click(waiting, STRANGER))()

    rejected = bot.db.request(request_id)
    assert (rejected.state, rejected.rejected_by) == (RequestState.REJECTED, STRANGER)
    assert {i.outcome for i in rejected.instances} == {InstanceOutcome.SKIPPED}
    assert rebooted(bot) == []
    assert [type(said) for said in told(bot, STRANGER)] == [NotAwaitingApproval]
    assert bot.db.actions(request_id) == ["preview", "confirm", "reject"]


def test_retry_previews_only_the_failed_instances_and_only_once() -> None:
    bot = make_bot()
    bot.ecs.refused["i-2"] = ("IncorrectInstanceStatus", "The instance is locked.")
    request = confirmed(bot)
    back(bot, "i-1")
    poll_after(bot, 5)
    finished = bot.db.request(request.id)
    assert finished.state is RequestState.PARTIALLY_FAILED

    assert retry(bot.ctx, click(finished, REQUESTER))() is True
    retry(bot.ctx, click(finished, REQUESTER))()

    retry_id = bot.db.request(request.id).retried_by_request
    assert retry_id is not None
    again = bot.db.request(retry_id)
    assert again.state is RequestState.PREVIEWED
    assert again.retry_of == request.id
    assert [i.ref for i in again.instances] == [InstanceRef(REGION, "i-2")]
    assert [type(said) for said in told(bot, REQUESTER)] == [AlreadyRetried]
    assert bot.db.actions(request.id).count("retry") == 1

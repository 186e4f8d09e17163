"""The use cases through the in-memory fakes of their ports (bot/testing/memory.py):
milliseconds each, asserting on what the stores hold and what ECS and Slack were asked."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain.ecs_values import RUNNING
from bot.domain.model import InstanceOutcome, RequestState, Role, Verdict
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.services.answers import AlreadyDecided, Denied
from bot.services.confirm import cancel, confirm
from bot.services.context import Context, PreviewedRequests
from bot.services.poller import poll_once
from bot.services.ports import RequestUpdate
from bot.services.rollout import abort
from bot.testing.memory import MemoryBot
from tests.unit.flows import (
    ADMIN,
    CONFIG,
    REGION,
    REQUESTER,
    STRANGER,
    click,
    confirmed,
    make_bot,
    previewed,
    rebooted,
)


@pytest.fixture
def bot() -> MemoryBot:
    return make_bot()


def test_preview_stores_a_request_and_publishes_it(bot: MemoryBot) -> None:
    request = previewed(bot)

    stored = bot.db.request(request.id)
    assert stored.state is RequestState.PREVIEWED
    assert [i.verdict for i in stored.instances] == [Verdict.WILL_REBOOT] * 2
    assert stored.message_ts is not None
    assert [c.request.id for c in bot.presenter.of("publish_request") if c.request] == [request.id]
    assert [c.method for c in bot.ecs.calls] == ["describe_instances", "dry_run_reboot"]
    assert bot.db.actions(request.id) == ["preview"]


def test_confirm_sends_one_reboot_call_and_leaves_the_request_executing(bot: MemoryBot) -> None:
    request = confirmed(bot)

    assert request.state is RequestState.EXECUTING
    assert request.confirmed_by == REQUESTER
    [call] = bot.ecs.calls_of("reboot")
    assert call.instance_ids == ("i-1", "i-2")
    assert {i.outcome for i in request.instances} == {InstanceOutcome.REBOOTING}
    # The confirm worker gave its lease back, with the next poll due.
    stored = bot.db.stored(request.id)
    assert stored.lease_owner is None
    assert stored.next_poll_at is not None
    assert bot.db.actions(request.id) == ["preview", "confirm", "execute"]


def test_the_dry_run_acts_for_the_requester_and_the_reboot_for_the_confirmer(
    bot: MemoryBot,
) -> None:
    # §5.13: the role session of each call is named for the person it acts for; an
    # admin may confirm someone else's request.
    request = previewed(bot)
    assert confirm(bot.ctx, click(request, ADMIN))() is True
    assert bot.db.request(request.id).confirmed_by == ADMIN
    assert bot.ecs.acting == [
        ("dry_run_reboot", "default", REQUESTER),
        ("reboot", "default", ADMIN),
    ]


def test_a_double_click_confirms_exactly_once(bot: MemoryBot) -> None:
    request = previewed(bot)

    first = confirm(bot.ctx, click(request, REQUESTER))
    second = confirm(bot.ctx, click(request, REQUESTER))

    assert (first(), second()) == (True, False)
    assert len(bot.ecs.calls_of("reboot")) == 1
    assert bot.db.actions(request.id).count("confirm") == 1
    assert bot.db.request(request.id).state is RequestState.EXECUTING
    [told] = bot.presenter.of("tell")
    assert told.user == REQUESTER
    assert isinstance(told.said, AlreadyDecided)


def test_poll_once_finishes_a_request_whose_instances_came_back(bot: MemoryBot) -> None:
    request = confirmed(bot)
    bot.clock.advance(5)
    poll_once(bot.ctx, bot.clock())  # seen Stopping: left Running
    assert bot.db.request(request.id).state is RequestState.EXECUTING

    for instance_id in ("i-1", "i-2"):
        bot.ecs.set_status(REGION, instance_id, RUNNING)
    bot.clock.advance(30)
    report = poll_once(bot.ctx, bot.clock())

    final = bot.db.request(request.id)
    assert report.advanced == [request.id]
    assert final.state is RequestState.SUCCEEDED
    assert {i.outcome for i in final.instances} == {InstanceOutcome.SUCCEEDED}
    assert [c.request.id for c in bot.presenter.of("reply_summary") if c.request] == [request.id]
    assert bot.db.actions(request.id)[-1] == "outcome"
    assert len(bot.ecs.calls_of("reboot")) == 1
    # Finished: never polled again.
    bot.clock.advance(60)
    assert poll_once(bot.ctx, bot.clock()).advanced == []


def test_an_instance_not_back_after_the_timeout_times_out(bot: MemoryBot) -> None:
    request = confirmed(bot, "i-1")

    bot.clock.advance(CONFIG.reboot_timeout + 1)
    poll_once(bot.ctx, bot.clock())

    final = bot.db.request(request.id)
    assert final.instances[0].outcome is InstanceOutcome.TIMED_OUT
    assert final.state is RequestState.FAILED


def test_a_preview_past_its_ttl_expires_on_the_next_tick(bot: MemoryBot) -> None:
    request = previewed(bot)

    bot.clock.advance(CONFIG.confirm_ttl - 1)
    assert poll_once(bot.ctx, bot.clock()).expired == []
    bot.clock.advance(1)
    report = poll_once(bot.ctx, bot.clock())

    assert report.expired == [request.id]
    assert bot.db.request(request.id).state is RequestState.EXPIRED
    assert bot.ecs.calls_of("reboot") == []
    # The message was redrawn for its final state, so nothing is owed any more.
    assert bot.db.request(request.id).message_redraw_due is False
    assert poll_once(bot.ctx, bot.clock()).expired == []


def test_a_click_on_an_expired_preview_reboots_nothing(bot: MemoryBot) -> None:
    request = previewed(bot)
    bot.clock.advance(CONFIG.confirm_ttl)

    assert confirm(bot.ctx, click(request, REQUESTER))() is False

    assert bot.db.request(request.id).state is RequestState.EXPIRED
    assert bot.ecs.calls_of("reboot") == []


def test_the_requester_may_cancel(bot: MemoryBot) -> None:
    request = previewed(bot)

    assert cancel(bot.ctx, click(request, REQUESTER))() is True

    cancelled = bot.db.request(request.id)
    assert (cancelled.state, cancelled.cancelled_by) == (RequestState.CANCELLED, REQUESTER)
    assert {i.outcome for i in cancelled.instances} == {InstanceOutcome.SKIPPED}
    assert bot.db.actions(request.id) == ["preview", "cancel"]


def test_a_stranger_may_not_cancel(bot: MemoryBot) -> None:
    request = previewed(bot)

    assert cancel(bot.ctx, click(request, STRANGER))() is False

    assert bot.db.request(request.id).state is RequestState.PREVIEWED
    assert bot.db.actions(request.id) == ["preview"]
    [told] = bot.presenter.of("tell")
    assert told.user == STRANGER
    assert isinstance(told.said, Denied)


def test_an_admin_may_cancel_someone_elses_request(bot: MemoryBot) -> None:
    request = previewed(bot)

    assert cancel(bot.ctx, click(request, ADMIN))() is True

    assert bot.db.request(request.id).cancelled_by == ADMIN


def test_a_lease_held_by_one_owner_is_not_claimed_by_another(bot: MemoryBot) -> None:
    request = confirmed(bot)
    now = bot.clock.advance(5)

    with bot.db.uow() as uow:
        assert uow.leases.peek_due("one", now, 10) == [request.id]
        assert uow.leases.claim(request.id, "one", now, 30)
        uow.commit()
    with bot.db.uow() as uow:
        assert uow.leases.peek_due("two", now, 10) == []
        assert not uow.leases.claim(request.id, "two", now, 30)
        assert not uow.requests.set_fields(
            request.id, RequestUpdate(progress_text="x"), owner="two"
        )
        uow.commit()
    # Nor by the poller: the live lease keeps it off until the lease runs out.
    assert poll_once(bot.ctx, now).advanced == []
    later = bot.clock.advance(30)
    assert poll_once(bot.ctx, later).advanced == [request.id]


def test_an_abort_racing_the_finish_never_leaves_a_stop_on_a_succeeded_request(
    bot: MemoryBot,
) -> None:
    """The Abort lands between the poller's read (no stop) and its final move: the move
    must not win over it, or the request would end ``succeeded`` with a stop recorded."""
    request = confirmed(bot)
    bot.clock.advance(5)
    poll_once(bot.ctx, bot.clock())  # seen Stopping: left Running
    for instance_id in ("i-1", "i-2"):
        bot.ecs.set_status(REGION, instance_id, RUNNING)
    presenter = bot.presenter
    summary = type(presenter).reply_summary
    aborted: list[bool] = []

    def abort_first(request_now: RebootRequest) -> bool:
        # The summary is posted just before the final move: the Abort click comes in now.
        if not aborted:
            aborted.append(True)
            abort(bot.ctx, click(request, REQUESTER))()
        return summary(presenter, request_now)

    presenter.reply_summary = abort_first  # type: ignore[method-assign,assignment]
    bot.clock.advance(30)
    poll_once(bot.ctx, bot.clock())
    bot.clock.advance(30)
    poll_once(bot.ctx, bot.clock())

    final = bot.db.request(request.id)
    assert aborted == [True]
    assert final.state.is_final
    assert not (final.state is RequestState.SUCCEEDED and final.stop_reason is not None)
    assert final.state is RequestState.ABORTED
    assert bot.db.actions(request.id).count("outcome") == 1


# A confirm of a request this process previewed is checked against the request as
# previewed (ctx.previewed, docs/decisions/0010); what happened to it since, here or
# in another process, is still what decides.


def _replica(bot: MemoryBot) -> Context:
    """The same bot as another process: its own lease owner, no previews of its own."""
    return dataclasses.replace(bot.ctx, owner="replica", previewed=PreviewedRequests())


def test_a_confirm_after_another_process_cancelled_is_told_it_was_decided(
    bot: MemoryBot,
) -> None:
    request = previewed(bot)
    assert cancel(_replica(bot), click(request, REQUESTER))() is True

    assert confirm(bot.ctx, click(request, REQUESTER))() is False

    assert bot.db.request(request.id).state is RequestState.CANCELLED
    assert bot.ecs.calls_of("reboot") == []
    [told] = bot.presenter.of("tell")
    assert isinstance(told.said, AlreadyDecided)


def test_a_confirm_after_the_role_was_revoked_is_denied(bot: MemoryBot) -> None:
    request = previewed(bot)
    with bot.ctx.uow() as uow:
        assert uow.roles.revoke(Binding(REQUESTER, Role.OPERATOR))
        uow.commit()

    assert confirm(bot.ctx, click(request, REQUESTER))() is False

    assert bot.db.request(request.id).state is RequestState.PREVIEWED
    assert bot.ecs.calls_of("reboot") == []
    [told] = bot.presenter.of("tell")
    assert isinstance(told.said, Denied)


def test_a_request_previewed_by_another_process_is_confirmed_the_same(bot: MemoryBot) -> None:
    request = previewed(bot)

    assert confirm(_replica(bot), click(request, REQUESTER))() is True

    stored = bot.db.request(request.id)
    assert stored.state is RequestState.EXECUTING
    assert stored.confirmed_by == REQUESTER
    assert rebooted(bot) == [("i-1", "i-2")]

"""Faults through the use cases on the in-memory fakes: a reboot answer lost (the call
sent once more only when the instance did not restart; both lost: a third call past the
in-flight bound), a first call throttled (tried again at the next poll), a summary Slack
did not take (posted by a later tick). The e2e
tests (tests/e2e/test_lost_answers.py, test_poller.py) drive the same through HTTP."""

from __future__ import annotations

import pytest

from bot.domain.errors import EcsOutcomeUnknown, EcsTransientError
from bot.domain.model import InstanceOutcome, RequestState
from bot.testing.memory import MemoryBot
from tests.unit.flows import REGION, back, confirmed, make_bot, poll_after, rebooted


@pytest.fixture
def bot() -> MemoryBot:
    return make_bot()


def lost_answer() -> EcsOutcomeUnknown:
    return EcsOutcomeUnknown("ServiceUnavailable", "503", explanation="The answer was lost.")


def test_a_lost_answer_of_a_call_that_rebooted_nothing_is_sent_once_more(bot: MemoryBot) -> None:
    bot.ecs.fail_next_reboot(REGION, lost_answer(), rebooted=False)

    request = confirmed(bot)

    # Looked at in the same step: still Running since before the call, so sent again.
    assert rebooted(bot) == [("i-1", "i-2"), ("i-1", "i-2")]
    sent = bot.db.request(request.id)
    assert {i.reboot_calls for i in sent.instances} == {2}
    assert {i.outcome for i in sent.instances} == {InstanceOutcome.REBOOTING}

    back(bot, "i-1", "i-2")
    poll_after(bot, 5)
    assert bot.db.request(request.id).state is RequestState.SUCCEEDED
    assert len(rebooted(bot)) == 2


def test_a_lost_answer_of_a_call_that_rebooted_is_never_sent_again(bot: MemoryBot) -> None:
    bot.ecs.fail_next_reboot(REGION, lost_answer(), rebooted=True)

    request = confirmed(bot)
    back(bot, "i-1", "i-2")
    poll_after(bot, 5)

    final = bot.db.request(request.id)
    assert rebooted(bot) == [("i-1", "i-2")]
    assert {i.reboot_calls for i in final.instances} == {1}
    assert final.state is RequestState.SUCCEEDED


def test_both_answers_lost_get_a_third_call_only_past_the_in_flight_bound(bot: MemoryBot) -> None:
    """§5.4: a lost answer never fails a reboot by itself. The default bound is 60 s."""
    bot.ecs.fail_next_reboot(REGION, lost_answer(), rebooted=False)
    bot.ecs.fail_next_reboot(REGION, lost_answer(), rebooted=False)
    request = confirmed(bot)
    assert len(rebooted(bot)) == 2

    poll_after(bot, 30)
    poll_after(bot, 29)
    assert len(rebooted(bot)) == 2  # within the bound: nothing
    poll_after(bot, 2)

    assert len(rebooted(bot)) == 3
    sent = bot.db.request(request.id)
    assert {i.reboot_calls for i in sent.instances} == {3}
    assert {i.outcome for i in sent.instances} == {InstanceOutcome.REBOOTING}
    back(bot, "i-1", "i-2")
    poll_after(bot, 5)
    assert bot.db.request(request.id).state is RequestState.SUCCEEDED
    assert len(rebooted(bot)) == 3


def test_a_throttled_first_call_waits_for_the_next_poll_then_is_sent(bot: MemoryBot) -> None:
    throttled = EcsTransientError("Throttling", "Request was denied", explanation="Throttled.")
    bot.ecs.fail_next_reboot(REGION, throttled)

    request = confirmed(bot)

    waiting = bot.db.request(request.id)
    assert len(rebooted(bot)) == 1
    assert {i.outcome for i in waiting.instances} == {InstanceOutcome.PENDING}
    assert {i.reboot_sent_at for i in waiting.instances} == {None}
    assert {i.unsent_since for i in waiting.instances} != {None}

    poll_after(bot, 5)

    assert len(rebooted(bot)) == 2
    sent = bot.db.request(request.id)
    assert {i.outcome for i in sent.instances} == {InstanceOutcome.REBOOTING}
    assert {i.reboot_calls for i in sent.instances} == {1}


def test_a_summary_slack_did_not_take_is_posted_by_a_later_tick(bot: MemoryBot) -> None:
    request = confirmed(bot)
    back(bot, "i-1", "i-2")
    bot.presenter.slack_down = True

    poll_after(bot, 5)
    # Not posted: still executing, so the summary is neither lost nor claimed as posted.
    assert bot.db.request(request.id).state is RequestState.EXECUTING

    bot.presenter.slack_down = False
    poll_after(bot, 5)
    poll_after(bot, 5)

    assert bot.db.request(request.id).state is RequestState.SUCCEEDED
    assert len(bot.presenter.of("reply_summary")) == 2
    assert bot.db.actions(request.id).count("outcome") == 1
    assert len(rebooted(bot)) == 1

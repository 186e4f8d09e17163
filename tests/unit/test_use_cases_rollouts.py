"""Rolling reboots through the use cases on the in-memory fakes: the canary first, the
next wave only once it is back, ``--max-errors`` and an Abort stopping the waves not
yet sent (tests/e2e/test_rolling.py drives the same through Slack and the simulator)."""

from __future__ import annotations

import dataclasses

from bot.domain.model import InstanceOutcome, RequestState
from bot.domain.rollout import RolloutDefaults, Size
from bot.services.rollout import abort
from bot.testing.memory import MemoryBot
from tests.unit.flows import (
    CONFIG,
    REQUESTER,
    back,
    click,
    confirmed,
    make_bot,
    poll_after,
    rebooted,
)

IDS = ("i-1", "i-2", "i-3")
# One at a time: a canary of one, then waves of one; no failure tolerated.
ONE_BY_ONE = dataclasses.replace(
    CONFIG,
    rollout=RolloutDefaults(rolling_above=1, batch=Size(1), canary=1, max_errors=Size(0)),
    notify_channel="C-NOTIFY",
)


def rolling_bot() -> MemoryBot:
    return make_bot(ONE_BY_ONE, IDS)


def test_the_canary_goes_first_and_the_next_wave_only_once_it_is_back() -> None:
    bot = rolling_bot()
    request = confirmed(bot, *IDS)
    [canary] = rebooted(bot)

    poll_after(bot, 5)  # the canary is still Stopping: no second wave
    assert rebooted(bot) == [canary]

    back(bot, *canary)
    poll_after(bot, 5)
    calls = rebooted(bot)
    assert len(calls) == 2
    assert len(calls[1]) == 1
    assert calls[1] != canary
    waves = {i.ref.instance_id: i.wave for i in bot.db.request(request.id).instances}
    assert sorted(waves.values()) == [1, 2, 3]


def test_a_failed_canary_stops_the_rollout_and_the_rest_is_never_sent() -> None:
    bot = rolling_bot()
    for instance_id in IDS:
        bot.ecs.refused[instance_id] = ("IncorrectInstanceStatus", "The instance is locked.")
    request = confirmed(bot, *IDS)

    poll_after(bot, 5)

    final = bot.db.request(request.id)
    assert len(rebooted(bot)) == 1
    assert final.state is RequestState.ABORTED
    assert final.stop_reason is not None
    outcomes = sorted(i.outcome for i in final.instances)
    assert outcomes == sorted([InstanceOutcome.FAILED, *[InstanceOutcome.ABORTED] * 2])
    assert bot.db.actions(request.id)[-1] == "outcome"


def test_an_abort_lets_the_wave_in_flight_finish_and_sends_no_other() -> None:
    bot = rolling_bot()
    request = confirmed(bot, *IDS)
    [canary] = rebooted(bot)

    assert abort(bot.ctx, click(request, REQUESTER))() is True
    back(bot, *canary)
    poll_after(bot, 5)

    final = bot.db.request(request.id)
    assert rebooted(bot) == [canary]
    assert final.state is RequestState.ABORTED
    assert final.stopped_by == REQUESTER
    by_id = {i.ref.instance_id: i.outcome for i in final.instances}
    assert by_id.pop(canary[0]) is InstanceOutcome.SUCCEEDED
    assert set(by_id.values()) == {InstanceOutcome.ABORTED}
    assert [c.said for c in bot.presenter.of("notify_rollout")] == ["aborted"]
    assert bot.db.actions(request.id).count("abort") == 1

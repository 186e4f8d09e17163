"""Rolling reboots together with what grew beside them (docs/PRODUCT.md §5.4, §5.8, §6.1, §6.2):
an approved rollout, a lost answer inside a wave, and a Retry of an aborted rollout.
Signed Slack requests over HTTP, the ECS simulator on the manual clock, the poller
driven tick by tick."""

from __future__ import annotations

import itertools

from bot.domain.model import InstanceOutcome, RequestState
from bot.slack.blocks import (
    ACTION_ABORT,
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_PAUSE,
    ACTION_REJECT,
    ACTION_RETRY,
)
from tests.e2e.harness import (
    CHANNEL,
    REGION,
    buttons,
    text_of,
)
from tests.e2e.rolling import recorded, rolling_bot, run_with_a_lost_canary, sent_waves

SECOND = "U0SECOND"


def test_an_approved_rollout_starts_with_its_canary_only(migrated_url: str) -> None:
    env = {"ECSBOT_APPROVALS_ABOVE": "5", "ECSBOT_REBOOT_TIMEOUT": "60"}
    with rolling_bot(migrated_url, other_operator=SECOND, env=env) as h:
        ids = h.sim.fleet.ids(REGION)
        h.command(" ".join(ids) + ' --batch 4 --reason "kernel patch"')
        h.settle()
        request_id, preview = h.last_preview()
        shown = text_of(preview)
        assert "canary 1, then 3 waves of ≤ 4" in shown
        assert "approv" in shown

        h.click(ACTION_CONFIRM, request_id)
        h.settle()
        request = h.request(request_id)
        assert request.state is RequestState.AWAITING_APPROVAL
        assert sent_waves(h) == []
        message = h.slack.message(CHANNEL, request.message_ts or "")
        assert [b["action_id"] for b in buttons(message.blocks)] == [
            ACTION_APPROVE,
            ACTION_REJECT,
            ACTION_CANCEL,
        ]

        h.click(ACTION_APPROVE, request_id, user=SECOND)
        h.settle()
        # The approval starts the request the way a confirm does: the canary alone.
        assert [len(call) for call in sent_waves(h)] == [1]
        request = h.request(request_id)
        assert request.state is RequestState.EXECUTING
        message = h.slack.message(CHANNEL, request.message_ts or "")
        assert {b["action_id"] for b in buttons(message.blocks)} == {ACTION_PAUSE, ACTION_ABORT}

        h.run_until_final(request_id)
        assert [len(call) for call in sent_waves(h)] == [1, 4, 4, 3]
        final = h.request(request_id)
        assert final.state is RequestState.SUCCEEDED
        assert [a.user for a in final.approvals] == [SECOND]
        assert all(count == 1 for count in h.sim.fleet.reboot_counts(REGION).values())


def test_a_lost_answer_in_a_wave_is_resolved_before_the_next_wave(migrated_url: str) -> None:
    with rolling_bot(migrated_url, other_operator=SECOND) as h:
        ids = h.sim.fleet.ids(REGION)
        h.command(" ".join(ids) + " --batch 4")
        h.settle()
        request_id, _ = h.last_preview()
        h.click(ACTION_CONFIRM, request_id)
        h.settle()
        assert [len(call) for call in sent_waves(h)] == [1]
        # The next real call is wave 2's: its answer is lost, and it rebooted nothing.
        h.sim.faults.fail("RebootInstances", code="InternalError", times=1)

        h.run_until_final(request_id)

        final = h.request(request_id)
        assert final.state is RequestState.SUCCEEDED
        calls = h.sim.calls.of("RebootInstances", dry_run=False)
        assert [len(call.ids) for call in calls] == [1, 4, 4, 4, 3]
        assert calls[1].code == "InternalError"
        assert sorted(calls[2].ids) == sorted(calls[1].ids)
        assert calls[2].params["BatchOptimization"] == "SuccessFirst"
        # At once: in the very tick that sent wave 2 and lost its answer (manual clock).
        assert calls[2].at == calls[1].at
        by_id = {i.ref.instance_id: i for i in final.instances}
        assert {by_id[i].reboot_calls for i in calls[1].ids} == {2}
        assert {by_id[i].wave for i in calls[1].ids} == {2}
        # Wave 3 went out only once wave 2, resolved and sent again, was back.
        back = max(recorded(by_id[i].finished_at) for i in calls[2].ids)
        assert min(recorded(by_id[i].reboot_sent_at) for i in calls[3].ids) >= back
        assert all(count == 1 for count in h.sim.fleet.reboot_counts(REGION).values())
        for earlier, later in itertools.pairwise(calls[2:]):
            assert set(earlier.ids).isdisjoint(later.ids)


def test_retry_of_an_aborted_rollout_previews_what_never_came_back(migrated_url: str) -> None:
    with rolling_bot(migrated_url, other_operator=SECOND, env={"ECSBOT_REBOOT_TIMEOUT": "60"}) as h:
        ids = h.sim.fleet.ids(REGION)
        first, canary = run_with_a_lost_canary(h)
        assert h.request(first).state is RequestState.ABORTED

        summary = h.thread(first)[-1]
        assert [b["value"] for b in buttons(summary.blocks) if b["action_id"] == ACTION_RETRY] == [
            first
        ]
        h.sim.fleet.update(REGION, canary, never_returns=False)
        h.click(ACTION_RETRY, first)
        h.settle()

        second = h.preview_ids()[-1]
        assert second != first
        retried = h.request(second)
        assert retried.retry_of == first
        assert sorted(i.ref.instance_id for i in retried.instances) == sorted(ids)
        # Twelve again: the retry rolls out in waves by the same rule.
        assert retried.rollout_waves > 1
        assert all(i.outcome is InstanceOutcome.PENDING for i in retried.instances)

"""Hardening of the approval and retry buttons (docs/PRODUCT.md §9): forged and replayed
payloads get 401 and change nothing; clicks from another channel and clicks on requests
past deciding get a clear answer and change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.domain.model import RequestState
from bot.slack.blocks import ACTION_APPROVE, ACTION_REJECT, ACTION_RETRY
from bot.testing.slack_requests import block_action_body
from tests.e2e.harness import CHANNEL, REGION, Harness
from tests.e2e.test_approvals import SECOND, THIRD, _awaiting, _bot, _real_reboots
from tests.e2e.test_security import FORGERIES, Forgery


@pytest.fixture
def h(migrated_url: str) -> Iterator[Harness]:
    yield from _bot(migrated_url, {"ECSBOT_APPROVALS_ABOVE": "1"})


@pytest.mark.parametrize("forgery", FORGERIES[:8])
def test_forged_or_replayed_approve_reject_retry_get_401_and_change_nothing(
    h: Harness, forgery: Forgery
) -> None:
    request_id = _awaiting(h)
    with httpx.Client() as attacker:
        for action in (ACTION_APPROVE, ACTION_REJECT, ACTION_RETRY):
            body = block_action_body(
                action, request_id, user_id=SECOND, channel_id=CHANNEL, message_ts="1.2"
            )
            sent, headers = forgery(body)
            response = attacker.post(h.sender.events_url, content=sent, headers=headers)
            assert response.status_code == 401, action
    h.settle()
    request = h.request(request_id)
    assert request.state is RequestState.AWAITING_APPROVAL
    assert request.approvals == ()
    assert h.audit_actions(request_id).count("approve") == 0


def test_clicks_from_another_channel_change_nothing(h: Harness) -> None:
    request_id = _awaiting(h)
    for action in (ACTION_APPROVE, ACTION_REJECT, ACTION_RETRY):
        h.click(action, request_id, user=SECOND, channel="C0ELSEWHERE")
    h.settle()
    assert h.request(request_id).state is RequestState.AWAITING_APPROVAL
    assert h.request(request_id).approvals == ()
    assert h.ephemerals(SECOND) == ["That button belongs to a request in another channel."] * 3


def test_clicks_on_a_started_or_finished_request_get_an_answer_and_change_nothing(
    h: Harness,
) -> None:
    request_id = _awaiting(h)
    h.click(ACTION_APPROVE, request_id, user=SECOND)
    h.settle()
    assert h.request(request_id).state is RequestState.EXECUTING
    h.click(ACTION_RETRY, request_id)
    h.click(ACTION_REJECT, request_id, user=THIRD)
    h.settle()
    assert "has not finished yet" in h.ephemerals()[-2] + h.ephemerals()[-1]
    h.run_until_final(request_id)
    h.click(ACTION_APPROVE, request_id, user=THIRD)
    h.click(ACTION_RETRY, request_id)
    h.settle()

    request = h.request(request_id)
    assert request.state is RequestState.SUCCEEDED
    assert [a.user for a in request.approvals] == [SECOND]
    assert request.retried_by_request is None
    assert "not waiting for approval" in h.ephemerals(THIRD)[-1]
    assert "no failed instance" in h.ephemerals()[-1] + h.ephemerals()[-2]
    assert _real_reboots(h) == 1
    assert h.sim.fleet.reboot_count(REGION, request.instances[0].ref.instance_id) == 1

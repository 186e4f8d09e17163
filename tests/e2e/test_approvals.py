"""Four-eyes approval, the reason and Retry end to end (docs/PRODUCT.md §4, §6.1, §6.2, §9):
signed Slack requests over HTTP, the fake Slack Web API and the ECS simulator behind."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping

import pytest

from bot.domain.model import InstanceOutcome, RequestState, Role
from bot.services.history import history_rows
from bot.slack.blocks import (
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_REJECT,
    ACTION_RETRY,
)
from bot.slack.outcomes import instance_message
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    NOTIFY,
    OPERATOR,
    REGION,
    STRANGER,
    VIEWER,
    Harness,
    buttons,
    running_bot,
    text_of,
)

SECOND = "U0SECOND"
THIRD = "U0THIRD"
GROUP = "S0APPROVERS"


@pytest.fixture
def approvals_bot(migrated_url: str) -> Iterator[Harness]:
    yield from _bot(migrated_url, {"ECSBOT_APPROVALS_ABOVE": "1", "ECSBOT_APPROVALS": "2"})


def _bot(url: str, env: Mapping[str, str]) -> Iterator[Harness]:
    settings = {"ECSBOT_APPROVER_GROUP": GROUP, "ECSBOT_REBOOT_TIMEOUT": "30", **env}
    with running_bot(url, env=settings) as h:
        for user in (OPERATOR, SECOND, THIRD):
            h.grant(user, Role.OPERATOR)
        h.grant(VIEWER, Role.VIEWER)
        h.grant(ADMIN, Role.ADMIN)
        yield h


def _preview(h: Harness, text: str, *, user: str = OPERATOR) -> str:
    h.command(text, user=user)
    h.settle()
    request_id, _ = h.last_preview()
    return request_id


def _awaiting(h: Harness, count: int = 2, *, reason: str = '"kernel patch"') -> str:
    ids = h.sim.fleet.ids(REGION)[:count]
    request_id = _preview(h, " ".join(ids) + f" --reason {reason}")
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    return request_id


def _real_reboots(h: Harness) -> int:
    return len(h.sim.calls.of("RebootInstances", dry_run=False))


def _message(h: Harness, request_id: str) -> str:
    ts = h.request(request_id).message_ts
    assert ts
    return text_of(h.slack.message(CHANNEL, ts))


def test_confirm_waits_for_approvals_and_the_message_and_notify_channel_say_so(
    approvals_bot: Harness,
) -> None:
    h = approvals_bot
    ids = h.sim.fleet.ids(REGION)[:2]
    request_id = _preview(h, " ".join(ids) + " --reason “kernel patch”")
    _, preview = h.last_preview()
    assert "Approval needed" in text_of(preview)
    assert "kernel patch" in text_of(preview)

    h.click(ACTION_CONFIRM, request_id)
    h.settle()

    request = h.request(request_id)
    assert request.state is RequestState.AWAITING_APPROVAL
    assert request.reason == "kernel patch"
    assert _real_reboots(h) == 0
    message = h.slack.message(CHANNEL, request.message_ts or "")
    assert [(b["action_id"], b["value"]) for b in buttons(message.blocks)] == [
        (ACTION_APPROVE, request_id),
        (ACTION_REJECT, request_id),
        (ACTION_CANCEL, request_id),
    ]
    assert "0/2" in text_of(message)
    assert "the wait ends" in text_of(message)
    notified = [
        c.params["text"]
        for c in h.slack.calls("chat.postMessage")
        if c.params.get("channel") == NOTIFY
    ]
    assert any(f"<!subteam^{GROUP}>" in t and "kernel patch" in t for t in notified)


def test_self_approval_and_a_viewer_are_refused_and_change_nothing(approvals_bot: Harness) -> None:
    h = approvals_bot
    request_id = _awaiting(h)
    for user in (OPERATOR, VIEWER, STRANGER):
        h.click(ACTION_APPROVE, request_id, user=user)
    h.settle()

    request = h.request(request_id)
    assert request.state is RequestState.AWAITING_APPROVAL
    assert request.approvals == ()
    assert "someone else must approve" in h.ephemerals(OPERATOR)[-1]
    assert "operator role" in h.ephemerals(VIEWER)[-1]
    assert "no role" in h.ephemerals(STRANGER)[-1]
    assert "approve" not in h.audit_actions(request_id)


def test_quorum_of_two_with_concurrent_clicks_starts_exactly_once(approvals_bot: Harness) -> None:
    h = approvals_bot
    request_id = _awaiting(h)
    clickers = [SECOND, SECOND, THIRD, THIRD, SECOND]
    barrier = threading.Barrier(len(clickers))

    def click(user: str) -> None:
        barrier.wait(timeout=10)
        h.click(ACTION_APPROVE, request_id, user=user)

    threads = [threading.Thread(target=click, args=(user,)) for user in clickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    h.settle()
    h.run_until_final(request_id)

    request = h.request(request_id)
    assert sorted(a.user for a in request.approvals) == [SECOND, THIRD]
    assert h.audit_actions(request_id).count("approve") == 2
    assert _real_reboots(h) == 1
    assert [h.sim.fleet.reboot_count(REGION, i.ref.instance_id) for i in request.instances] == [
        1,
        1,
    ]
    assert request.state is RequestState.SUCCEEDED
    history = history_rows(h.bot.ctx.uow, limit=20, message=instance_message)
    [row] = [r for r in history if r["id"] == request_id]
    assert sorted(a["user"] for a in row["approvals"]) == [SECOND, THIRD]
    assert row["reason"] == "kernel patch"
    assert row["retry_of"] is None


def test_an_operator_cannot_approve_a_force_reboot_a_second_admin_can(migrated_url: str) -> None:
    for h in _bot(migrated_url, {"ECSBOT_APPROVALS_FOR_FORCE": "true"}):
        h.grant("U0ADMIN2", Role.ADMIN)
        ids = h.sim.fleet.ids(REGION)[:1]
        request_id = _preview(h, f"--force {ids[0]} --reason oom", user=ADMIN)
        h.click(ACTION_CONFIRM, request_id, user=ADMIN)
        h.settle()
        h.click(ACTION_APPROVE, request_id, user=SECOND)
        h.settle()
        assert h.request(request_id).state is RequestState.AWAITING_APPROVAL
        assert "admin role" in h.ephemerals(SECOND)[-1]

        h.click(ACTION_APPROVE, request_id, user="U0ADMIN2")
        h.settle()
        h.run_until_final(request_id)
        request = h.request(request_id)
        assert request.state is RequestState.SUCCEEDED
        assert [a.user for a in request.approvals] == ["U0ADMIN2"]
        [call] = h.sim.calls.of("RebootInstances", dry_run=False)
        assert call.params.get("ForceReboot") == "true"


def test_reject_ends_it_and_later_clicks_change_nothing(approvals_bot: Harness) -> None:
    h = approvals_bot
    request_id = _awaiting(h)
    h.click(ACTION_REJECT, request_id, user=SECOND)
    h.settle()
    h.click(ACTION_APPROVE, request_id, user=THIRD)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()

    request = h.request(request_id)
    assert request.state is RequestState.REJECTED
    assert request.rejected_by == SECOND
    assert all(i.outcome is InstanceOutcome.SKIPPED for i in request.instances)
    assert _real_reboots(h) == 0
    assert "rejected" in _message(h, request_id)
    assert "not waiting for approval" in h.ephemerals(THIRD)[-1]
    assert "reject" in h.audit_actions(request_id)


def test_the_approval_wait_expires(approvals_bot: Harness) -> None:
    h = approvals_bot
    request_id = _awaiting(h)
    h.clock.advance(1799)
    h.tick()
    assert h.request(request_id).state is RequestState.AWAITING_APPROVAL
    h.clock.advance(2)
    h.tick()
    h.click(ACTION_APPROVE, request_id, user=SECOND)
    h.settle()

    assert h.request(request_id).state is RequestState.EXPIRED
    assert _real_reboots(h) == 0
    assert "expired waiting for approval" in _message(h, request_id)
    assert "not waiting for approval" in h.ephemerals(SECOND)[-1]


def test_a_tag_rule_holds_a_tagged_request_while_an_untagged_one_runs(migrated_url: str) -> None:
    for h in _bot(migrated_url, {"ECSBOT_APPROVALS_FOR_TAGS": "env=prod"}):
        tagged, plain = h.sim.fleet.ids(REGION)[:2]
        h.sim.fleet.update(REGION, tagged, tags={"env": "prod"})
        h.sim.fleet.update(REGION, plain, tags={"env": "dev"})
        held = _preview(h, tagged)
        h.click(ACTION_CONFIRM, held)
        h.settle()
        ran = _preview(h, plain)
        h.click(ACTION_CONFIRM, ran)
        h.settle()
        assert h.request(held).state is RequestState.AWAITING_APPROVAL
        assert h.request(ran).state is RequestState.EXECUTING
        # The preview said why: the tag rule, naming the tag.
        assert "tagged `env=prod`" in json.dumps(h.previews()[0])
        [call] = h.sim.calls.of("RebootInstances", dry_run=False)
        assert list(call.ids) == [plain]


def test_a_required_reason_is_an_input_error_and_nothing_reaches_ecs(migrated_url: str) -> None:
    for h in _bot(migrated_url, {"ECSBOT_REQUIRE_REASON": "true"}):
        ids = h.sim.fleet.ids(REGION)[:1]
        response = h.command(ids[0])
        h.settle()
        assert "reason is required" in response.json()["text"]
        assert h.sim.calls.of("DescribeInstances") == []
        assert h.previews() == []
        h.command(f"{ids[0]} --reason 'disk full'")
        h.settle()
        request_id, _ = h.last_preview()
        assert h.request(request_id).reason == "disk full"
        assert h.request(request_id).state is RequestState.PREVIEWED


def test_retry_previews_only_the_failed_ones_once(migrated_url: str) -> None:
    for h in _bot(migrated_url, {}):
        ids = h.sim.fleet.ids(REGION)[:3]
        h.sim.fleet.update(REGION, ids[1], never_returns=True)
        first = _preview(h, " ".join(ids) + " --reason patch")
        h.click(ACTION_CONFIRM, first)
        h.settle()
        h.run_until_final(first)
        assert h.request(first).state is RequestState.PARTIALLY_FAILED
        summary = h.thread(first)[-1]
        [retry] = [b for b in buttons(summary.blocks) if b["action_id"] == ACTION_RETRY]
        assert retry["value"] == first

        h.click(ACTION_RETRY, first, user=VIEWER)  # neither the requester nor an admin
        h.click(ACTION_RETRY, first, user=SECOND)
        h.settle()
        assert h.preview_ids() == [first]
        h.sim.fleet.update(REGION, ids[1], never_returns=False)
        h.click(ACTION_RETRY, first)
        h.settle()
        h.click(ACTION_RETRY, first)
        h.click(ACTION_RETRY, first, user=ADMIN)
        h.settle()

        previews = h.preview_ids()
        assert len(previews) == 2
        second = previews[-1]
        retried = h.request(second)
        assert [i.ref.instance_id for i in retried.instances] == [ids[1]]
        assert (retried.retry_of, retried.reason, retried.force) == (first, "patch", False)
        assert retried.state is RequestState.PREVIEWED
        assert h.request(first).retried_by_request == second
        assert "opened request" in h.ephemerals(OPERATOR)[-1]
        assert "opened request" in h.ephemerals(ADMIN)[-1]
        assert "Only" in h.ephemerals(SECOND)[-1]
        # New DryRun for the one instance, then it reboots when confirmed.
        last_dry_run = h.sim.calls.of("RebootInstances", dry_run=True)[-1]
        assert list(last_dry_run.ids) == [ids[1]]
        h.click(ACTION_CONFIRM, second)
        h.settle()
        h.run_until_final(second)
        assert h.request(second).state is RequestState.SUCCEEDED
        assert h.sim.fleet.reboot_count(REGION, ids[0]) == 1

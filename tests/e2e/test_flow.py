"""The /ecs-reboot flow end to end (docs/PRODUCT.md §4–6, §9): signed Slack requests over HTTP
into ``serve``'s app, the fake Slack Web API and the ECS simulator behind it."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import timedelta

import pytest

from bot.cli import main as cli_main
from bot.domain.model import InstanceOutcome, RequestState, Role, Verdict
from bot.ecs.wire import RetryPolicy
from bot.slack.blocks import ACTION_CANCEL, ACTION_CONFIRM
from bot.slack.outcomes import outcome_sentence
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    OPERATOR,
    REGION,
    STRANGER,
    VIEWER,
    Harness,
    buttons,
    running_bot,
    text_of,
)


def _ids(h: Harness, count: int) -> list[str]:
    return h.sim.fleet.ids(REGION)[:count]


def test_preview_then_confirm_reboots_exactly_the_running_instances(harness: Harness) -> None:
    h = harness
    ids = _ids(h, 3)
    stopped = h.sim.fleet.add_instance(REGION, name="db-stopped", status="Stopped")
    response = h.command(" ".join([*ids, stopped]))
    assert response.status_code == 200
    assert "Checking 4 instances" in response.json()["text"]
    h.settle()

    request_id, preview = h.last_preview()
    rendered = text_of(preview)
    for instance_id in [*ids, stopped]:
        assert instance_id in rendered
    confirm, cancel = buttons(preview.blocks)
    assert (confirm["action_id"], confirm["style"], confirm["value"]) == (
        ACTION_CONFIRM,
        "primary",
        request_id,
    )
    assert (cancel["action_id"], cancel["value"]) == (ACTION_CANCEL, request_id)
    request = h.request(request_id)
    assert request.state is RequestState.PREVIEWED
    verdicts = {i.ref.instance_id: i.verdict for i in request.instances}
    assert verdicts[stopped] is Verdict.NOT_RUNNING
    assert all(verdicts[i] is Verdict.WILL_REBOOT for i in ids)
    dry_runs = h.sim.calls.of("RebootInstances", dry_run=True)
    assert len(dry_runs) == 1
    assert dry_runs[0].params["BatchOptimization"] == "AllTogether"
    assert sorted(dry_runs[0].ids) == sorted(ids)
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0

    assert h.click(ACTION_CONFIRM, request_id).status_code == 200
    h.settle()

    real = h.sim.calls.of("RebootInstances", dry_run=False)
    assert len(real) == 1
    assert sorted(real[0].ids) == sorted(ids)
    assert real[0].params["BatchOptimization"] == "SuccessFirst"
    assert real[0].params.get("ForceReboot") in ("false", "False")
    request = h.request(request_id)
    assert request.state is RequestState.EXECUTING
    assert request.confirmed_by == OPERATOR
    outcomes = {i.ref.instance_id: i.outcome for i in request.instances}
    assert outcomes[stopped] is InstanceOutcome.SKIPPED
    assert all(outcomes[i] is InstanceOutcome.REBOOTING for i in ids)

    _, updated = h.last_preview()
    assert buttons(updated.blocks) == [], "the buttons must be gone after the confirm"
    assert f"<@{OPERATOR}>" in text_of(updated)
    replies = h.thread(request_id)
    assert replies, "the first thread reply lists each instance's API result"
    assert all(instance_id in text_of(replies[0]) for instance_id in ids)


def test_garbage_input_gets_every_problem_and_no_ecs_call(harness: Harness) -> None:
    h = harness
    response = h.command("i-ABC web-01 --forse i-short")
    reply = response.json()["text"]
    for token in ("i-ABC", "--forse", "i-short"):
        assert token in reply
    h.settle()
    assert len(h.sim.calls.all()) == 0
    assert h.previews() == []


def test_unauthorized_user_is_denied_and_nothing_happens(harness: Harness) -> None:
    h = harness
    response = h.command(" ".join(_ids(h, 2)), user=STRANGER)
    assert "no role" in response.json()["text"].lower()
    h.settle()
    assert len(h.sim.calls.all()) == 0
    assert h.previews() == []


def test_operator_asking_for_force_is_denied_not_previewed(harness: Harness) -> None:
    h = harness
    response = h.command("--force " + " ".join(_ids(h, 2)))
    assert "admin" in response.json()["text"]
    h.settle()
    assert h.previews() == []
    assert h.sim.calls.count("RebootInstances") == 0


def test_viewer_sees_a_preview_without_buttons(harness: Harness) -> None:
    h = harness
    h.command(" ".join(_ids(h, 2)), user=VIEWER)
    h.settle()
    _, preview = h.last_preview()
    assert buttons(preview.blocks) == []
    assert "operator" in text_of(preview)


def test_a_grant_from_slack_takes_effect_at_once(harness: Harness) -> None:
    h = harness
    denied = h.command(_ids(h, 1)[0], user=STRANGER).json()["text"]
    assert "no role" in denied.lower()
    granted = h.command(f"grant <@{STRANGER}|nobody> operator", user=ADMIN).json()["text"]
    assert "Granted" in granted
    h.command(_ids(h, 1)[0], user=STRANGER)
    h.settle()
    request_id, preview = h.last_preview()
    assert buttons(preview.blocks)
    assert h.request(request_id).requester == STRANGER


def test_an_operator_may_not_grant(harness: Harness) -> None:
    h = harness
    reply = h.command(f"grant <@{STRANGER}> admin").json()["text"]
    assert "admin" in reply
    assert h.command(_ids(h, 1)[0], user=STRANGER).json()["text"].lower().count("no role") == 1


def test_force_reboot_by_admin_has_a_danger_button_with_a_confirm_dialog(harness: Harness) -> None:
    h = harness
    h.command("--force " + _ids(h, 1)[0], user=ADMIN)
    h.settle()
    request_id, preview = h.last_preview()
    confirm = buttons(preview.blocks)[0]
    assert confirm["style"] == "danger"
    assert "lost" in json.dumps(confirm["confirm"]).lower()
    h.click(ACTION_CONFIRM, request_id, user=ADMIN)
    h.settle()
    real = h.sim.calls.of("RebootInstances", dry_run=False)
    assert [call.params.get("ForceReboot") for call in real] in (["true"], ["True"])


def test_someone_else_may_not_confirm(harness: Harness) -> None:
    h = harness
    h.grant("U0OTHER", Role.OPERATOR)
    h.command(_ids(h, 1)[0])
    h.settle()
    request_id, _ = h.last_preview()
    h.click(ACTION_CONFIRM, request_id, user="U0OTHER")
    h.settle()
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0
    assert h.request(request_id).state is RequestState.PREVIEWED
    assert any("Only" in text for text in h.ephemerals("U0OTHER"))
    # An admin may confirm anyone's request.
    h.click(ACTION_CONFIRM, request_id, user=ADMIN)
    h.settle()
    assert h.request(request_id).confirmed_by == ADMIN
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 1


def test_two_simultaneous_confirms_reboot_once(harness: Harness) -> None:
    h = harness
    h.command(" ".join(_ids(h, 3)))
    h.settle()
    request_id, _ = h.last_preview()
    barrier = threading.Barrier(4)

    def click() -> None:
        barrier.wait()
        h.click(ACTION_CONFIRM, request_id)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    h.settle()
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 1
    assert any("already confirmed" in text for text in h.ephemerals(OPERATOR))


def test_cancel_executes_nothing_and_says_who(harness: Harness) -> None:
    h = harness
    h.command(" ".join(_ids(h, 2)))
    h.settle()
    request_id, _ = h.last_preview()
    h.click(ACTION_CANCEL, request_id)
    h.settle()
    request = h.request(request_id)
    assert request.state is RequestState.CANCELLED
    assert request.cancelled_by == OPERATOR
    assert all(i.outcome is InstanceOutcome.SKIPPED for i in request.instances)
    _, message = h.last_preview()
    assert buttons(message.blocks) == []
    assert "Cancelled by" in text_of(message)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0


def test_a_click_after_the_ttl_expires_the_request(harness: Harness) -> None:
    h = harness
    h.command(_ids(h, 1)[0])
    h.settle()
    request_id, _ = h.last_preview()
    h.clock.advance(301)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    assert h.request(request_id).state is RequestState.EXPIRED
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0
    assert any("expired" in text for text in h.ephemerals(OPERATOR))


def test_250_ids_make_three_reboot_calls(migrated_url: str) -> None:
    with running_bot(migrated_url, instances=250, env={"ECSBOT_MAX_INSTANCES": "500"}) as h:
        ids = h.sim.fleet.ids(REGION)
        assert len(ids) == 250
        # One wave: this is about the calls' batching, not about rolling out (§5.8).
        h.command(" ".join(ids) + " --all-at-once", user="U0ADMIN")
        h.settle()
        request_id, preview = h.last_preview()
        assert len(preview.blocks) <= 50
        assert h.sim.calls.count("DescribeInstances") == 3
        assert h.sim.calls.count("RebootInstances", dry_run=True) == 3
        h.click(ACTION_CONFIRM, request_id, user="U0ADMIN")
        h.settle()
        real = h.sim.calls.of("RebootInstances", dry_run=False)
        assert sorted(len(call.ids) for call in real) == [50, 100, 100]
        rebooting = [
            i for i in h.request(request_id).instances if i.outcome is InstanceOutcome.REBOOTING
        ]
        assert len(rebooting) == 250


def test_throttling_during_the_reboot_is_retried(harness: Harness) -> None:
    h = harness
    h.command(_ids(h, 1)[0])
    h.settle()
    request_id, _ = h.last_preview()
    h.sim.faults.throttle("RebootInstances", times=1, retry_after_ms=1)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    real = h.sim.calls.of("RebootInstances", dry_run=False)
    assert [call.code for call in real][-1] in (None, "200", "")
    applied = [call for call in real if call.applied]
    assert len(applied) == 1
    assert h.request(request_id).instances[0].outcome is InstanceOutcome.REBOOTING


# The client tries a call this many times (the first try included) before it gives up.
CLIENT_ATTEMPTS = RetryPolicy().max_attempts


def test_a_reboot_call_throttled_beyond_the_retries_is_sent_at_the_next_poll(
    harness: Harness,
) -> None:
    """ECS throttles by the minute, longer than the client's own retries: nothing reached
    ECS, so the instances wait unsent (not failed) and the next poll sends the call."""
    h = harness
    ids = _ids(h, 2)
    h.command(" ".join(ids))
    h.settle()
    request_id, _ = h.last_preview()
    h.sim.faults.throttle("RebootInstances", times=CLIENT_ATTEMPTS, retry_after_ms=1)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()

    waiting = h.request(request_id).instances
    assert [i.outcome for i in waiting] == [InstanceOutcome.PENDING] * 2
    assert all(i.reboot_sent_at is None and i.reboot_calls == 0 for i in waiting)
    assert "nothing was sent: trying again at the next poll" in str(outcome_sentence(waiting[0]))
    assert not [c for c in h.sim.calls.of("RebootInstances", dry_run=False) if c.applied]

    h.run_until_final(request_id, limit=60)
    final = h.request(request_id)
    assert final.state is RequestState.SUCCEEDED
    assert [h.sim.fleet.reboot_count(REGION, i) for i in ids] == [1, 1]
    real = h.sim.calls.of("RebootInstances", dry_run=False)
    assert [c.code for c in real].count("Throttling.User") == CLIENT_ATTEMPTS
    assert [i.reboot_calls for i in final.instances] == [1, 1]
    audited = [e.detail for e in h.audit_entries(request_id) if e.action == "execute"]
    assert [(d["sent"], d["accepted"], d["not_sent"]) for d in audited] == [(2, 0, 2), (2, 2, 0)]


def test_a_reboot_call_throttled_for_the_whole_timeout_ends_failed_never_sent(
    harness: Harness,
) -> None:
    h = harness
    ids = _ids(h, 1)
    h.command(ids[0])
    h.settle()
    request_id, _ = h.last_preview()
    h.sim.faults.throttle("RebootInstances", times=None, retry_after_ms=1)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id, step=60.0, limit=20)

    (instance,) = h.request(request_id).instances
    assert h.request(request_id).state is RequestState.FAILED
    assert instance.outcome is InstanceOutcome.FAILED
    assert instance.code == "Throttling.User"
    assert "never sent" in str(outcome_sentence(instance))
    assert h.sim.fleet.reboot_count(REGION, ids[0]) == 0


def test_the_ack_is_fast_while_ecs_is_slow(harness: Harness) -> None:
    h = harness
    h.sim.faults.latency("DescribeInstances", 2.0)
    started = time.perf_counter()
    response = h.command(" ".join(_ids(h, 2)))
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed < 1.0, f"the ack took {elapsed:.2f} s while ECS answers in 2 s"
    h.settle()
    assert h.previews(), "the preview still arrives after the slow call"
    h.sim.faults.latency("DescribeInstances", 0)


def test_forged_and_stale_signatures_get_401_and_record_nothing(harness: Harness) -> None:
    h = harness
    forged = h.sender.post(
        b"command=%2Fecs-reboot&text=i-bp1aaaaaaaaaaa&user_id=U0OPER&channel_id=C0OPS",
        extra_headers={"X-Slack-Signature": "v0=" + "0" * 64},
    )
    assert forged.status_code == 401
    stale = h.sender.command(
        _ids(h, 1)[0], timestamp=int(time.time()) - 600, user_id=OPERATOR, channel_id=CHANNEL
    )
    assert stale.status_code == 401
    h.settle()
    assert h.previews() == []
    assert len(h.sim.calls.all()) == 0


def test_status_and_roles_answer(harness: Harness) -> None:
    h = harness
    h.command(_ids(h, 1)[0])
    h.settle()
    request_id, _ = h.last_preview()
    status = h.command(f"status {request_id}").json()["text"]
    assert request_id in status
    assert "waiting for confirmation" in status
    roles = h.command("roles").json()["text"]
    assert "operator" in roles
    assert "help" in h.command("help").json()["text"].lower()


def test_help_shows_the_settings_this_bot_runs_with(migrated_url: str) -> None:
    env = {
        "ECSBOT_DEFAULT_REGION": "cn-shanghai",
        "ECSBOT_MAX_INSTANCES": "123",
        "ECSBOT_CONFIRM_TTL": "77",
    }
    with running_bot(migrated_url, regions=("cn-shanghai",), env=env) as h:
        response = h.command("help", user=STRANGER)
    assert response.status_code == 200
    text = response.json()["text"]
    assert "(default here: `cn-shanghai`)" in text
    assert "At most 123 instances per request." in text
    assert "buttons last 77 s" in text


def test_expired_previews_lose_their_buttons_on_the_poller_tick(harness: Harness) -> None:
    h = harness
    h.command(_ids(h, 1)[0])
    h.settle()
    request_id, _ = h.last_preview()
    h.clock.advance(timedelta(seconds=301).total_seconds())
    report = h.tick()
    assert report.expired == [request_id]
    _, message = h.last_preview()
    assert buttons(message.blocks) == []
    assert h.request(request_id).state is RequestState.EXPIRED


def test_a_user_group_binding_covers_its_members(harness: Harness) -> None:
    h = harness
    h.slack.usergroups = {"S0ONCALL": ["U0MEMBER"]}
    h.grant("S0ONCALL", Role.OPERATOR)
    h.command(_ids(h, 1)[0], user="U0MEMBER")
    h.settle()
    _, preview = h.last_preview()
    assert buttons(preview.blocks), "a member of the on-call group may reboot"
    assert h.slack.calls("usergroups.users.list")
    denied = h.command(_ids(h, 1)[0], user="U0OUTSIDER").json()["text"]
    assert "no role" in denied.lower()


def test_scoped_bindings_must_cover_every_instance(harness: Harness) -> None:
    h = harness
    prod, other = _ids(h, 2)
    h.sim.fleet.update(REGION, prod, status="Running")
    h.grant("U0SCOPED", Role.OPERATOR, tag="team=nobody-has-this")
    h.command(f"{prod} {other}", user="U0SCOPED")
    h.settle()
    assert h.previews() == []
    assert any("operator" in text or "viewer" in text for text in h.ephemerals("U0SCOPED"))
    assert h.sim.calls.count("RebootInstances") == 0


def test_commands_outside_the_allowed_channels_are_refused(migrated_url: str) -> None:
    with running_bot(migrated_url, env={"ECSBOT_ALLOWED_CHANNELS": "C0OTHER"}) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        reply = h.command(h.sim.fleet.ids(REGION)[0]).json()["text"]
        assert "C0OTHER" in reply
        h.settle()
        assert h.previews() == []
        assert len(h.sim.calls.all()) == 0


def test_every_step_is_audited_and_status_links_the_thread(harness: Harness) -> None:
    h = harness
    h.command(_ids(h, 1)[0])
    h.settle()
    request_id, _ = h.last_preview()
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    actions = h.audit_actions(request_id)
    assert actions[:2] == ["preview", "confirm"]
    assert "execute" in actions
    status = h.command(f"status {request_id}").json()["text"]
    assert "example.slack.com" in status, "status links the request to its thread"


def test_a_database_that_went_away_gets_a_clear_answer(harness: Harness) -> None:
    h = harness
    url = h.bot.settings.database_url
    if not url.startswith("sqlite"):
        pytest.skip("removing the database file is how this test takes SQLite away")
    path = url.removeprefix("sqlite:///")
    h.bot.engine.dispose()
    os.remove(path)
    reply = h.command(_ids(h, 1)[0]).json()["text"]
    assert "database is not answering" in reply
    # The process keeps serving: parsing needs no database.
    assert "i-ABC" in h.command("i-ABC").json()["text"]


def test_a_grant_from_the_command_line_works_beside_the_running_bot(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    h = harness
    monkeypatch.setenv("ECSBOT_DATABASE_URL", h.bot.settings.database_url)
    assert cli_main(["roles", "grant", "U0LATE", "operator"]) == 0
    assert "Granted" in capsys.readouterr().out
    h.command(_ids(h, 1)[0], user="U0LATE")
    h.settle()
    _, preview = h.last_preview()
    assert buttons(preview.blocks), "the grant took effect at once"
    assert cli_main(["history", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["requester"], row["state"]) == ("U0LATE", "previewed")


def test_an_unknown_region_gets_a_specific_answer(harness: Harness) -> None:
    h = harness
    h.command("cn-nowhere/i-bp1aaaaaaaaaaaaa", user="U0ADMIN")
    h.settle()
    [reply] = h.ephemerals("U0ADMIN")
    assert "cn-nowhere" in reply
    assert "InvalidRegionId.NotFound" in reply
    assert h.previews() == []

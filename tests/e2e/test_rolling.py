"""Rolling reboots end to end (docs/PRODUCT.md §5.8): signed Slack requests over HTTP, the ECS
simulator on the manual clock, the poller driven tick by tick."""

from __future__ import annotations

import dataclasses
import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.cli import main as cli_main
from bot.domain.model import InstanceOutcome, RequestState
from bot.slack.blocks import ACTION_ABORT, ACTION_CONFIRM, ACTION_PAUSE, ACTION_RESUME
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    OPERATOR,
    REGION,
    STRANGER,
    Harness,
    buttons,
    text_of,
)
from tests.e2e.rolling import recorded, rolling_bot, run_with_a_lost_canary, sent_waves


def _confirm(h: Harness, text: str, *, user: str = OPERATOR) -> str:
    h.command(text, user=user)
    h.settle()
    request_id, _ = h.last_preview()
    h.click(ACTION_CONFIRM, request_id, user=user)
    h.settle()
    return request_id


def _zone(h: Harness, instance_id: str) -> str:
    view = h.sim.fleet.get(REGION, instance_id)
    assert view is not None
    return str(view.zone)


def test_canary_then_waves_drawn_from_the_zones_in_turn(migrated_url: str) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)
        h.command(" ".join(ids) + " --batch 4")
        h.settle()
        request_id, preview = h.last_preview()
        assert "canary 1, then 3 waves of ≤ 4; stops after the first failure" in text_of(preview)
        h.click(ACTION_CONFIRM, request_id)
        h.settle()
        # Only the canary went out at the click.
        assert [len(call) for call in sent_waves(h)] == [1]
        request = h.request(request_id)
        assert request.rollout_waves == 4
        assert h.slack.message(CHANNEL, str(request.message_ts)) is not None
        live = text_of(h.slack.message(CHANNEL, str(request.message_ts)))
        assert "wave 1/4" in live
        assert {b["action_id"] for b in buttons(h.last_preview()[1].blocks)} == {
            ACTION_PAUSE,
            ACTION_ABORT,
        }

        h.run_until_final(request_id)

        calls = sent_waves(h)
        assert [len(call) for call in calls] == [1, 4, 4, 3]
        # Each later wave takes from every zone before taking twice from one.
        for call in calls[1:]:
            zones = [_zone(h, instance_id) for instance_id in call]
            assert (
                max(zones.count(z) for z in set(zones)) - min(zones.count(z) for z in set(zones))
                <= 1
            )
        # A wave goes out only after the previous one is back.
        request = h.request(request_id)
        by_id = {i.ref.instance_id: i for i in request.instances}
        for earlier, later in itertools.pairwise(calls):
            back = max(recorded(by_id[i].finished_at) for i in earlier)
            sent = min(recorded(by_id[i].reboot_sent_at) for i in later)
            assert sent >= back
        assert request.state is RequestState.SUCCEEDED
        assert all(count == 1 for count in h.sim.fleet.reboot_counts(REGION).values())
        assert sorted({i.wave for i in request.instances}) == [1, 2, 3, 4]


def test_a_small_request_reboots_all_at_once(migrated_url: str) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)[:5]
        request_id = _confirm(h, " ".join(ids))
        assert [sorted(call) for call in sent_waves(h)] == [sorted(ids)]
        request = h.request(request_id)
        assert request.rollout_waves == 1
        assert "Rollout" not in text_of(h.last_preview()[1])
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED


def test_all_at_once_overrides_the_size_rule(migrated_url: str) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)
        _confirm(h, " ".join(ids) + " --all-at-once")
        assert [len(call) for call in sent_waves(h)] == [12]


def test_max_errors_stops_after_a_canary_that_never_comes_back(migrated_url: str) -> None:
    env = {"ECSBOT_REBOOT_TIMEOUT": "60"}
    with rolling_bot(migrated_url, env=env) as h:
        ids = h.sim.fleet.ids(REGION)
        request_id, canary = run_with_a_lost_canary(h)

        request = h.request(request_id)
        assert request.state is RequestState.ABORTED
        assert request.stop_reason == "max_errors"
        outcomes = {i.ref.instance_id: i.outcome for i in request.instances}
        assert outcomes[canary] is InstanceOutcome.TIMED_OUT
        assert all(outcomes[i] is InstanceOutcome.ABORTED for i in ids if i != canary)
        # Nothing but the canary was ever sent a reboot.
        assert sent_waves(h) == [(canary,)]
        assert sum(h.sim.fleet.reboot_counts(REGION).values()) == 1
        summary = text_of(h.thread(request_id)[-1])
        assert "aborted" in summary
        assert "failed or timed out" in summary
        assert "stop" in h.audit_actions(request_id)


def test_pause_after_canary_waits_for_resume(migrated_url: str) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)
        request_id = _confirm(h, " ".join(ids) + " --pause-after-canary")
        for _ in range(20):
            h.clock.advance(1)
            h.tick()
        request = h.request(request_id)
        assert request.state is RequestState.PAUSED
        assert len(sent_waves(h)) == 1
        # A long while later, still nothing new.
        for _ in range(10):
            h.clock.advance(30)
            h.tick()
        assert len(sent_waves(h)) == 1
        assert {b["action_id"] for b in buttons(h.last_preview()[1].blocks)} == {
            ACTION_RESUME,
            ACTION_ABORT,
        }
        notes = [str(c.params.get("text")) for c in h.slack.calls("chat.postMessage")]
        assert any("paused after the canary" in note for note in notes)

        h.click(ACTION_RESUME, request_id)
        h.settle()
        assert h.request(request_id).state is RequestState.EXECUTING
        h.clock.advance(0.1)
        h.tick()
        assert len(sent_waves(h)) == 2
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED
        assert all(count == 1 for count in h.sim.fleet.reboot_counts(REGION).values())
        assert [a for a in h.audit_actions(request_id) if a in ("pause", "resume")] == [
            "pause",
            "resume",
        ]


def test_pause_click_then_abort_while_paused(migrated_url: str) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)
        request_id = _confirm(h, " ".join(ids) + " --canary 2")
        h.click(ACTION_PAUSE, request_id)
        h.settle()
        assert h.request(request_id).state is RequestState.PAUSED
        # The canary in flight still comes back; no new wave is sent.
        for _ in range(30):
            h.clock.advance(1)
            h.tick()
        request = h.request(request_id)
        assert [i.outcome for i in request.instances if i.wave == 1] == [
            InstanceOutcome.SUCCEEDED
        ] * 2
        assert len(sent_waves(h)) == 1

        h.click(ACTION_ABORT, request_id)
        h.settle()
        h.clock.advance(0.1)
        h.tick()
        request = h.request(request_id)
        assert request.state is RequestState.ABORTED
        assert request.stopped_by == OPERATOR
        assert sum(i.outcome is InstanceOutcome.ABORTED for i in request.instances) == 10
        assert sum(h.sim.fleet.reboot_counts(REGION).values()) == 2
        assert {"pause", "abort"} <= set(h.audit_actions(request_id))

        # A click on the finished request changes nothing and says why.
        h.click(ACTION_RESUME, request_id)
        h.settle()
        assert "not a running rollout" in h.ephemerals(OPERATOR)[-1]
        assert h.request(request_id).state is RequestState.ABORTED


def test_someone_elses_abort_or_resume_is_refused(migrated_url: str) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)
        request_id = _confirm(h, " ".join(ids) + " --pause-after-canary")
        for _ in range(20):
            h.clock.advance(1)
            h.tick()
        assert h.request(request_id).state is RequestState.PAUSED
        for action in (ACTION_RESUME, ACTION_ABORT, ACTION_PAUSE):
            h.click(action, request_id, user=STRANGER)
            h.settle()
        request = h.request(request_id)
        assert request.state is RequestState.PAUSED
        assert request.stop_reason is None
        assert len(h.ephemerals(STRANGER)) == 3
        assert not {"resume", "abort"} & set(h.audit_actions(request_id))
        # An admin may act on anyone's request.
        h.click(ACTION_RESUME, request_id, user=ADMIN)
        h.settle()
        assert h.request(request_id).state is RequestState.EXECUTING


def test_history_json_shows_the_rollout_and_waves(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)
        request_id = _confirm(h, " ".join(ids) + " --batch 50% --max-errors 2")
        h.run_until_final(request_id)
        small = _confirm(h, " ".join(ids[:3]))
        h.run_until_final(small)
        monkeypatch.setenv("ECSBOT_DATABASE_URL", h.bot.settings.database_url)
        capsys.readouterr()
        assert cli_main(["history", "--json"]) == 0
        rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
        assert rows[request_id]["rollout"] == {
            "waves": 3,
            "canary": 1,
            "batch": 6,
            "max_errors": 2,
        }
        assert sorted({i["wave"] for i in rows[request_id]["instances"]}) == [1, 2, 3]
        assert rows[small]["rollout"]["waves"] == 1
        assert {i["wave"] for i in rows[small]["instances"]} == {1}


def test_malformed_rollout_flags_are_listed_and_nothing_reaches_ecs(migrated_url: str) -> None:
    with rolling_bot(migrated_url) as h:
        ids = h.sim.fleet.ids(REGION)[:2]
        response = h.command(
            " ".join(ids) + " --batch 0 --canary -1 --max-errors lots --batch 120%"
        )
        reply = response.json()["text"]
        for token in ("`0`", "`-1`", "`lots`", "`120%`"):
            assert token in reply
        h.settle()
        assert h.sim.calls.count() == 0
        assert h.previews() == []


# --- back means healthy (§5.9) ----------------------------------------------------------------


def _agent_calls(h: Harness) -> list[tuple[str, ...]]:
    return [call.ids for call in h.sim.calls.of("DescribeCloudAssistantStatus")]


def test_health_gate_waits_for_the_agent_and_says_who_has_none(migrated_url: str) -> None:
    env = {"ECSBOT_HEALTH_CHECK": "cloud-assistant"}
    with rolling_bot(migrated_url, instances=60, env=env) as h:
        ids = h.sim.fleet.ids(REGION)
        bare = ids[0]
        h.sim.fleet.update(REGION, bare, cloud_assistant=False)
        request_id = _confirm(h, " ".join(ids) + " --all-at-once")
        # Step by step: an instance is never counted back before its agent reported.
        for _ in range(120):
            h.clock.advance(0.5)
            h.tick()
            for instance in h.request(request_id).instances:
                if instance.outcome is InstanceOutcome.SUCCEEDED and instance.agent == "online":
                    view = h.sim.fleet.get(REGION, instance.ref.instance_id)
                    assert view is not None
                    assert view.agent_online
                    assert view.last_heartbeat is not None
                    assert view.last_heartbeat > recorded(instance.reboot_sent_at)
            if h.request(request_id).state.is_final:
                break
        request = h.request(request_id)
        assert request.state is RequestState.SUCCEEDED
        agents = {i.ref.instance_id: i.agent for i in request.instances}
        assert agents[bare] == "absent"
        with_agent = [
            i for i in ids if (view := h.sim.fleet.get(REGION, i)) and view.cloud_assistant
        ]
        assert len(with_agent) < len(ids)
        assert {agents[i] for i in with_agent} == {"online"}
        calls = _agent_calls(h)
        assert calls
        assert all(len(call) <= 50 for call in calls)
        summary = text_of(h.thread(request_id)[-1])
        assert "without the Cloud Assistant agent counted as back on Running alone" in summary


def test_without_the_health_gate_no_agent_is_asked(migrated_url: str) -> None:
    with rolling_bot(migrated_url, instances=5) as h:
        request_id = _confirm(h, " ".join(h.sim.fleet.ids(REGION)))
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED
        assert _agent_calls(h) == []
        assert {i.agent for i in h.request(request_id).instances} == {None}


def test_two_replicas_share_one_rollout_and_send_each_wave_once(migrated_url: str) -> None:
    with rolling_bot(migrated_url, instances=30) as h:
        replicas = [h.bot.ctx, dataclasses.replace(h.bot.ctx, owner="replica-2")]
        request_id = _confirm(h, " ".join(h.sim.fleet.ids(REGION)) + " --batch 20%")
        advanced_by: dict[str, int] = {}
        with ThreadPoolExecutor(max_workers=2) as pool:
            for round_number in range(300):
                if h.request(request_id).state.is_final:
                    break
                h.clock.advance(0.5)
                # Both replicas poll at the same moment, as two processes would; every
                # fifth round one of them polls alone, in turn (the other paused), so
                # each surely takes over a rollout the other has been advancing,
                # however the threads happen to race on a loaded machine.
                alone = (round_number // 5) % 2
                polling = replicas if round_number % 5 else replicas[alone : alone + 1]
                reports = list(pool.map(h.tick, polling))
                for ctx, report in zip(polling, reports, strict=True):
                    if request_id in report.advanced:
                        advanced_by[ctx.owner] = advanced_by.get(ctx.owner, 0) + 1
        request = h.request(request_id)
        assert request.state is RequestState.SUCCEEDED
        assert h.sim.fleet.reboot_counts(REGION) == dict.fromkeys(h.sim.fleet.ids(REGION), 1)
        assert [len(c) for c in sent_waves(h)] == [1, 6, 6, 6, 6, 5]
        assert len(advanced_by) == 2, advanced_by  # each replica took a share of the ticks


def test_abort_while_a_wave_is_in_flight_lets_it_finish_then_ends_aborted(
    migrated_url: str,
) -> None:
    with rolling_bot(migrated_url) as h:
        request_id = _confirm(h, " ".join(h.sim.fleet.ids(REGION)) + " --canary 3")
        h.click(ACTION_ABORT, request_id)
        h.settle()
        request = h.request(request_id)
        assert request.state is RequestState.EXECUTING
        assert request.stop_reason == "abort"
        assert "Aborted by <@U0OPER>: no new wave" in text_of(h.last_preview()[1])
        h.run_until_final(request_id)
        request = h.request(request_id)
        assert request.state is RequestState.ABORTED
        canary = [i for i in request.instances if i.wave == 1]
        assert {i.outcome for i in canary} == {InstanceOutcome.SUCCEEDED}
        assert sum(i.outcome is InstanceOutcome.ABORTED for i in request.instances) == 9
        assert len(sent_waves(h)) == 1
        # A second abort is told the request is no longer running.
        h.click(ACTION_ABORT, request_id)
        h.settle()
        assert "not a running rollout" in h.ephemerals(OPERATOR)[-1]

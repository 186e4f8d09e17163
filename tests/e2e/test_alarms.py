"""CloudMonitor alarms end to end (docs/PRODUCT.md §5.12): callbacks POSTed to ``serve``'s
real HTTP server, cards in the fake Slack, **Reboot** clicks signed as Slack signs them,
reboots counted per instance in the ECS simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from bot.domain.model import RequestSource, RequestState, Role
from bot.slack.blocks import ACTION_CONFIRM
from bot.slack.cards import ACTION_ALARM_REBOOT
from bot.testing.stack import request_id_of
from tests.e2e.harness import CHANNEL, OPERATOR, REGION, STRANGER, VIEWER, Harness, running_bot

TOKEN = "cm-token-0123456789abcdef"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def harness(migrated_url: str) -> Iterator[Harness]:
    env = {"ECSBOT_ALERT_TOKEN": TOKEN, "ECSBOT_ALERTS_CHANNEL": CHANNEL}
    with running_bot(migrated_url, env=env) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.grant(VIEWER, Role.VIEWER)
        yield h


def alarm_form(
    instance_id: str, *, trans_id: str, state: str = "ALERT", value: str = "97.5"
) -> dict[str, str]:
    return {
        "alertName": "cpu-high",
        "alertState": state,
        "curValue": value,
        "dimensions": json.dumps({"userId": "1234567890123456", "instanceId": instance_id}),
        "expression": "$Average>90",
        "metricName": "CPUUtilization",
        "metricProject": "acs_ecs_dashboard",
        "namespace": "acs_ecs_dashboard",
        "ruleId": "rule-cpu-1",
        "regionId": REGION,
        "timestamp": "1765000000000",
        "transId": trans_id,
        "triggerLevel": "CRITICAL",
    }


def post_alarm(h: Harness, form: dict[str, str] | bytes, *, token: str = TOKEN) -> httpx.Response:
    body = form if isinstance(form, bytes) else urlencode(form).encode()
    return httpx.post(
        f"{h.url}/hooks/cloudmonitor/{token}",
        content=body,
        headers={"Content-Type": FORM},
        timeout=10,
    )


def request_previews(h: Harness) -> list[str]:
    """The ids of the request previews in the channel (the cards are there too)."""
    return [
        request_id_of(p.get("blocks") or [])
        for p in h.previews()
        if "CloudMonitor alarm" not in str(p.get("text"))
    ]


def card_posts(h: Harness) -> list[dict[str, object]]:
    return [
        c.params
        for c in h.slack.calls("chat.postMessage")
        if "CloudMonitor alarm" in str(c.params.get("text"))
    ]


def test_an_alarm_makes_one_card_whose_reboot_previews_and_reboots_on_confirm(
    harness: Harness,
) -> None:
    h = harness
    target = h.sim.fleet.ids(REGION)[0]
    assert post_alarm(h, alarm_form(target, trans_id="t-1")).status_code == 200
    h.settle()
    posted = card_posts(h)
    assert len(posted) == 1
    card_text = json.dumps(posted[0]["blocks"])
    assert target in card_text
    assert "cpu-high" in card_text
    assert "CPUUtilization" in card_text
    assert h.sim.fleet.reboot_count(REGION, target) == 0  # an alarm never reboots by itself

    card = next(m for m in h.slack.messages() if "CloudMonitor alarm" in m.text)
    card_id = next(b["value"] for _, b in card.buttons() if b["action_id"] == ACTION_ALARM_REBOOT)
    assert h.click(ACTION_ALARM_REBOOT, card_id, user=OPERATOR).status_code == 200
    h.settle()
    request_id, _ = h.last_preview()
    request = h.request(request_id)
    assert request.requester == OPERATOR
    assert request.source is RequestSource.ALARM
    assert request.reason == "CloudMonitor: cpu-high (CPUUtilization = 97.5)"
    assert [i.ref.instance_id for i in request.instances] == [target]

    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)
    assert h.request(request_id).state is RequestState.SUCCEEDED
    assert h.sim.fleet.reboot_count(REGION, target) == 1


def test_repeats_update_the_card_a_replayed_trans_id_changes_nothing_and_ok_recovers_it(
    harness: Harness,
) -> None:
    h = harness
    target = h.sim.fleet.ids(REGION)[1]
    post_alarm(h, alarm_form(target, trans_id="t-1", value="91"))
    h.settle()
    replay = post_alarm(h, alarm_form(target, trans_id="t-1", value="91"))
    assert replay.status_code == 200
    assert "nothing changed" in replay.text
    h.settle()
    assert h.slack.calls("chat.update") == []

    post_alarm(h, alarm_form(target, trans_id="t-2", value="99"))
    h.settle()
    assert len(card_posts(h)) == 1  # updated, not multiplied
    card = next(m for m in h.slack.messages() if "CloudMonitor alarm" in m.text)
    shown = json.dumps(card.blocks)
    assert "Fired 2 times" in shown
    assert "99" in shown

    post_alarm(h, alarm_form(target, trans_id="t-3", state="OK", value="40"))
    h.settle()
    card = next(m for m in h.slack.messages() if "CloudMonitor alarm" in m.text)
    assert "recovered" in card.text
    assert not any(b.get("action_id") == ACTION_ALARM_REBOOT for _, b in card.buttons())

    # The next ALERT after recovery opens a new card.
    post_alarm(h, alarm_form(target, trans_id="t-4", value="95"))
    h.settle()
    assert len(card_posts(h)) == 2


def test_a_flood_of_alarms_for_one_instance_makes_one_card(harness: Harness) -> None:
    h = harness
    target = h.sim.fleet.ids(REGION)[2]
    for n in range(30):
        assert (
            post_alarm(
                h, alarm_form(target, trans_id=f"flood-{n}", value=str(90 + n % 10))
            ).status_code
            == 200
        )
    h.settle()
    assert len(card_posts(h)) == 1
    card = next(m for m in h.slack.messages() if "CloudMonitor alarm" in m.text)
    assert "Fired 30 times" in json.dumps(card.blocks)
    # Drawings are coalesced: far fewer Slack calls than callbacks.
    assert len(h.slack.calls("chat.update")) < 30


def test_wrong_token_bad_fields_and_oversized_bodies_are_refused_and_record_nothing(
    harness: Harness,
) -> None:
    h = harness
    target = h.sim.fleet.ids(REGION)[0]
    good = alarm_form(target, trans_id="t-9")
    assert post_alarm(h, good, token="wrong-token-0123456789").status_code == 404
    assert httpx.post(f"{h.url}/hooks/cloudmonitor/", content=b"", timeout=10).status_code == 404

    bad_dimensions = {**good, "dimensions": "{not json"}
    answer = post_alarm(h, bad_dimensions)
    assert answer.status_code == 400
    assert "dimensions" in answer.text
    no_instance = {**good, "dimensions": json.dumps({"userId": "1"})}
    assert "dimensions" in post_alarm(h, no_instance).text
    missing = {k: v for k, v in good.items() if k != "transId"}
    answer = post_alarm(h, missing)
    assert answer.status_code == 400
    assert "transId" in answer.text
    bad_state = {**good, "alertState": "PANIC"}
    assert "alertState" in post_alarm(h, bad_state).text
    assert post_alarm(h, b"x=" + b"a" * (64 * 1024 + 10)).status_code == 413

    h.settle()
    assert card_posts(h) == []
    with h.bot.ctx.uow() as uow:
        assert uow.alarms.open_card("rule-cpu-1", target) is None
    # The refused bodies' transId was never recorded: the same one, sent right, counts.
    assert post_alarm(h, good).text.strip() == "ok"


def test_the_endpoint_is_404_when_no_token_is_configured(migrated_url: str) -> None:
    with running_bot(migrated_url) as h:
        target = h.sim.fleet.ids(REGION)[0]
        assert post_alarm(h, alarm_form(target, trans_id="t-1")).status_code == 404


def test_a_card_click_is_checked_like_a_command(harness: Harness) -> None:
    h = harness
    target = h.sim.fleet.ids(REGION)[0]
    post_alarm(h, alarm_form(target, trans_id="t-1"))
    h.settle()
    card = next(m for m in h.slack.messages() if "CloudMonitor alarm" in m.text)
    card_id = next(b["value"] for _, b in card.buttons() if b["action_id"] == ACTION_ALARM_REBOOT)

    # No role at all: denied, nothing previewed.
    h.click(ACTION_ALARM_REBOOT, card_id, user=STRANGER)
    h.settle()
    assert request_previews(h) == []
    assert any("role" in text.lower() for text in h.ephemerals(STRANGER))

    # A viewer sees the preview but gets no Reboot button; nothing reboots.
    h.click(ACTION_ALARM_REBOOT, card_id, user=VIEWER)
    h.settle()
    request_id, preview = h.last_preview()
    assert not any(b.get("action_id") == ACTION_CONFIRM for _, b in preview.buttons())
    assert h.sim.fleet.reboot_count(REGION, target) == 0

    # A forged card id is answered, and nothing is recorded.
    h.click(ACTION_ALARM_REBOOT, "no-such-card", user=OPERATOR, message_ts="1.2")
    h.settle()
    assert any("No card" in text for text in h.ephemerals(OPERATOR))
    assert request_previews(h) == [request_id]


def test_an_alarm_on_another_accounts_instance_reboots_it_there(migrated_url: str) -> None:
    from bot.simulator.accounts import MEMBER_ROLE_NAME, member_account_id

    roles = {
        name: f"acs:ram::{member_account_id(name)}:role/{MEMBER_ROLE_NAME}"
        for name in ("prod", "staging")
    }
    env = {
        "ECSBOT_ALERT_TOKEN": TOKEN,
        "ECSBOT_ALERTS_CHANNEL": CHANNEL,
        "ECSBOT_ACCOUNTS": ",".join(f"{n}={arn}" for n, arn in roles.items()),
        "ECSBOT_DEFAULT_ACCOUNT": "prod",
    }
    with running_bot(migrated_url, instances=2, accounts=("prod", "staging"), env=env) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        target = h.sim.fleet_of("staging").ids(REGION)[0]
        form = alarm_form(target, trans_id="acct-1")
        form["dimensions"] = json.dumps(
            {"userId": member_account_id("staging"), "instanceId": target}
        )
        assert post_alarm(h, form).status_code == 200
        h.settle()
        card = next(m for m in h.slack.messages() if "CloudMonitor alarm" in m.text)
        assert "`staging` · `cn-hangzhou`" in json.dumps(card.blocks, ensure_ascii=False)
        card_id = next(
            b["value"] for _, b in card.buttons() if b["action_id"] == ACTION_ALARM_REBOOT
        )
        h.click(ACTION_ALARM_REBOOT, card_id)
        h.settle()
        request_id, _ = h.last_preview()
        assert [i.ref.account for i in h.request(request_id).instances] == ["staging"]
        h.click(ACTION_CONFIRM, request_id)
        h.settle()
        h.run_until_final(request_id)
        assert h.sim.fleet_of("staging").reboot_counts(REGION) == {target: 1}
        assert h.sim.fleet_of("prod").reboot_counts(REGION) == {}

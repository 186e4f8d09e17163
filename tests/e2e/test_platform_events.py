"""Alibaba Cloud's scheduled maintenance reboots end to end (docs/PRODUCT.md §5.11): the
simulator schedules system events, the watch announces them on one card, **Reboot now**
previews exactly those instances under every rule of a command, and the card follows
what becomes of each event. Signed Slack requests over HTTP, the fake Slack Web API and
the simulator on a manual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.cli import main as cli_main
from bot.domain.model import RequestState, Role
from bot.settings import SettingsError
from bot.slack.blocks import ACTION_CONFIRM
from bot.slack.event_cards import ACTION_EVENT_REBOOT, ACTION_EVENT_SCHEDULE
from tests.e2e.harness import (
    CHANNEL,
    NOTIFY,
    OPERATOR,
    REGION,
    STRANGER,
    VIEWER,
    Harness,
    Message,
    buttons,
    running_bot,
    text_of,
)

EVENTS_ENV = {
    "ECSBOT_EVENTS": "true",
    "ECSBOT_EVENTS_CHANNEL": CHANNEL,
    "ECSBOT_EVENTS_INTERVAL": "60",
    "ECSBOT_EVENTS_REMIND": "3600",
}


@pytest.fixture
def h(migrated_url: str) -> Iterator[Harness]:
    with running_bot(migrated_url, instances=30, env=EVENTS_ENV) as harness:
        harness.grant(OPERATOR, Role.OPERATOR)
        harness.grant(VIEWER, Role.VIEWER)
        yield harness


def schedule(h: Harness, count: int, *, hours: float = 27, skip: int = 0) -> list[str]:
    ids = h.sim.fleet.ids(REGION)[skip : skip + count]
    not_before = h.clock.now() + timedelta(hours=hours)
    return h.sim.events.create(REGION, ids, "SystemMaintenance.Reboot", not_before)


def cards(h: Harness) -> list[Message]:
    """The event cards in the events channel, as Slack shows them now."""
    return [
        message
        for message in h.slack.messages()
        if message.channel == CHANNEL and "maintenance reboot" in message.text
    ]


def card_posts(h: Harness) -> list[dict[str, object]]:
    return [
        call.params
        for call in h.slack.calls("chat.postMessage")
        if call.params.get("channel") == CHANNEL
        and "maintenance reboot" in str(call.params.get("text", ""))
    ]


def next_pass(h: Harness) -> None:
    h.clock.advance(61)
    h.watch()


def test_two_events_make_one_card_once_then_reboot_now_avoids_them(
    h: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    event_ids = schedule(h, 2)
    instances = h.sim.fleet.ids(REGION)[:2]
    report = h.watch()
    assert report.completed
    assert sorted(report.announced) == sorted(event_ids)
    (card,) = cards(h)
    shown = text_of(card)
    for instance_id, event_id in zip(instances, event_ids, strict=True):
        assert instance_id in shown
        assert event_id in shown
    assert "SystemMaintenance.Reboot" in shown
    assert "in 1 d 3 h" in shown
    assert "<!date^" in shown
    (button,) = buttons(card.blocks)
    assert button["action_id"] == ACTION_EVENT_REBOOT
    card_id = str(button["value"])

    # Later passes, and a pass while nothing changed, post no second card.
    next_pass(h)
    next_pass(h)
    assert len(card_posts(h)) == 1

    # The operator's Reboot now: a preview of exactly those two, named for the events.
    assert h.click(ACTION_EVENT_REBOOT, card_id, user=OPERATOR).status_code == 200
    h.settle()
    request_id, preview = h.last_preview()
    # The preview says, per instance, that this reboot avoids the platform's.
    assert text_of(preview).count("this reboot avoids it") == 2
    request = h.request(request_id)
    assert request.requester == OPERATOR
    assert sorted(i.ref.instance_id for i in request.instances) == sorted(instances)
    assert request.reason is not None
    assert request.reason.startswith("Alibaba Cloud SystemMaintenance.Reboot")
    assert all(e in request.reason for e in event_ids)
    h.click(ACTION_CONFIRM, request_id, user=OPERATOR)
    h.settle()
    h.run_until_final(request_id)
    assert h.request(request_id).state is RequestState.SUCCEEDED
    assert h.sim.fleet.reboot_counts(REGION) == dict.fromkeys(instances, 1)
    assert {e.state for e in h.sim.events.all()} == {"Avoided"}

    # The next pass sees them avoided, and the card says so, naming the request.
    next_pass(h)
    (card,) = cards(h)
    shown = text_of(card)
    assert shown.count("avoided by request") == 2
    assert request_id in shown
    assert "Every event of this card has ended" in shown
    assert buttons(card.blocks) == []
    assert len(card_posts(h)) == 1

    # /metrics counts them.
    scraped = httpx.get(f"{h.url}/metrics", timeout=5).text
    assert 'ecsbot_platform_events{state="avoided"} 2.0' in scraped
    assert 'ecsbot_platform_events{state="pending"} 0.0' in scraped

    # history --json links the request to its events.
    capsys.readouterr()
    monkeypatch.setenv("ECSBOT_DATABASE_URL", h.bot.settings.database_url)
    assert cli_main(["history", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    (row,) = [r for r in rows if r["id"] == request_id]
    assert row["source"] == "event"
    assert sorted(e["event_id"] for e in row["events"]) == sorted(event_ids)
    assert {e["state"] for e in row["events"]} == {"Avoided"}


def test_a_restart_announces_nothing_twice(migrated_url: str) -> None:
    with running_bot(migrated_url, instances=5, env=EVENTS_ENV) as first:
        schedule(first, 2)
        first.watch()
        assert len(card_posts(first)) == 1
        start = first.clock.now()
    with running_bot(
        migrated_url, instances=5, env=EVENTS_ENV, start=start + timedelta(minutes=2)
    ) as second:
        # A new simulator (same seed): the same instances, the same events again.
        schedule(second, 2, hours=27)
        second.watch()
        assert card_posts(second) == []


def test_an_event_left_alone_is_executed_by_the_platform_and_the_card_says_so(
    h: Harness,
) -> None:
    (event_id,) = schedule(h, 1, hours=0.5)
    instance_id = h.sim.fleet.ids(REGION)[0]
    h.watch()
    # Within ECSBOT_EVENTS_REMIND (1 h): reminded once, in the thread and notify channel.
    (card,) = cards(h)
    reminders = [m for m in h.slack.thread(CHANNEL, card.ts) if "Reminder" in m.text]
    assert len(reminders) == 1
    assert any("Reminder" in m.text for m in h.slack.messages() if m.channel == NOTIFY)
    next_pass(h)
    reminders = [m for m in h.slack.thread(CHANNEL, card.ts) if "Reminder" in m.text]
    assert len(reminders) == 1

    h.clock.advance(30 * 60)  # NotBefore passes: the platform reboots the instance
    h.watch()
    next_pass(h)
    (card,) = cards(h)
    assert "rebooted by the platform" in text_of(card)
    assert "Every event of this card has ended" in text_of(card)
    assert {e.event_id: e.state for e in h.sim.events.all()} == {event_id: "Executed"}
    assert h.sim.events.platform_reboots == {(REGION, instance_id): 1}
    assert h.sim.fleet.reboot_counts(REGION) == {}  # none by the bot
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0


def test_25_events_in_one_region_are_all_announced(h: Harness) -> None:
    event_ids = schedule(h, 25)
    report = h.watch()
    assert sorted(report.announced) == sorted(event_ids)
    (card,) = cards(h)
    shown = text_of(card)
    assert all(e in shown for e in event_ids)
    pages = h.sim.calls.of("DescribeInstanceHistoryEvents")
    assert {c.params["PageSize"] for c in pages} == {"100"}


def test_a_viewers_click_reboots_nothing(h: Harness) -> None:
    schedule(h, 2)
    h.watch()
    (card,) = cards(h)
    card_id = str(buttons(card.blocks)[0]["value"])
    h.click(ACTION_EVENT_REBOOT, card_id, user=VIEWER)
    h.settle()
    # A viewer sees the preview (as with a command) but gets no button to confirm it.
    request_id, preview = h.last_preview()
    assert buttons(preview.blocks) == []
    h.click(ACTION_CONFIRM, request_id, user=VIEWER)
    h.settle()
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0
    assert h.request(request_id).state is RequestState.PREVIEWED


def test_reboot_now_on_a_card_whose_events_all_ended_records_nothing(h: Harness) -> None:
    event_ids = schedule(h, 1)
    h.watch()
    (card,) = cards(h)
    card_id = str(buttons(card.blocks)[0]["value"])
    h.sim.events.cancel(REGION, event_ids)
    next_pass(h)
    h.click(ACTION_EVENT_REBOOT, card_id, user=OPERATOR, message_ts=card.ts)
    h.settle()
    assert any("has ended" in text for text in h.ephemerals(OPERATOR))
    with h.bot.ctx.uow() as uow:
        assert uow.requests.list_recent(10) == []
    assert "canceled by Alibaba Cloud" in text_of(cards(h)[0])


def test_a_throttled_pass_loses_nothing_and_repeats_nothing(h: Harness) -> None:
    event_ids = schedule(h, 3)
    h.sim.faults.throttle("DescribeInstanceHistoryEvents", times=20)
    report = h.watch()
    assert report.ran
    assert not report.completed
    assert report.announced == []
    assert card_posts(h) == []
    h.sim.faults.clear()
    # Retried sooner than a full interval.
    h.clock.advance(31)
    report = h.watch()
    assert sorted(report.announced) == sorted(event_ids)
    next_pass(h)
    assert len(card_posts(h)) == 1


def test_a_second_replica_makes_no_pass_while_one_holds_the_lease(h: Harness) -> None:
    schedule(h, 1)
    watch = h.bot.event_watch
    assert watch is not None
    with watch.uow() as uow:
        assert uow.events.claim_watch("other-replica", h.clock.now(), 120)
        uow.commit()
    assert not h.watch().ran
    assert card_posts(h) == []


def test_events_command_lists_pending_events_and_cli_prints_json(
    h: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    event_ids = schedule(h, 2)
    h.watch()
    reply = h.command("events", user=VIEWER).json()["text"]
    assert all(e in reply for e in event_ids)
    assert "Pending platform maintenance reboots (2)" in reply
    monkeypatch.setenv("ECSBOT_DATABASE_URL", h.bot.settings.database_url)
    assert cli_main(["events", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(e["event_id"] for e in printed) == sorted(event_ids)
    first = printed[0]
    assert set(first) == {
        "event_id",
        "account",
        "region",
        "instance_id",
        "type",
        "state",
        "not_before",
        "request_id",
    }
    assert first["state"] == "Scheduled"
    assert first["request_id"] is None


def test_an_event_still_scheduled_two_passes_after_the_bots_reboot_is_said_once(
    h: Harness,
) -> None:
    instance_id = h.sim.fleet.ids(REGION)[0]
    (event_id,) = h.sim.events.create(
        REGION, [instance_id], not_before=h.clock.now() + timedelta(hours=27), avoidable=False
    )
    h.watch()
    (card,) = cards(h)
    card_id = str(buttons(card.blocks)[0]["value"])
    h.click(ACTION_EVENT_REBOOT, card_id, user=OPERATOR)
    h.settle()
    request_id, _ = h.last_preview()
    h.click(ACTION_CONFIRM, request_id, user=OPERATOR)
    h.settle()
    h.run_until_final(request_id)
    assert h.sim.fleet.reboot_counts(REGION) == {instance_id: 1}

    def notes() -> list[Message]:
        return [m for m in h.slack.thread(CHANNEL, card.ts) if "still scheduled" in m.text]

    next_pass(h)
    assert notes() == []
    next_pass(h)
    (note,) = notes()
    assert event_id in note.text
    assert "12 hours" in note.text
    next_pass(h)
    assert len(notes()) == 1


def test_a_typed_command_for_an_instance_with_a_pending_event_says_it_avoids_it(
    h: Harness,
) -> None:
    schedule(h, 1, skip=3)
    instance_id = h.sim.fleet.ids(REGION)[3]
    other = h.sim.fleet.ids(REGION)[4]
    h.watch()
    h.command(f"{instance_id} {other}")
    h.settle()
    _, preview = h.last_preview()
    shown = text_of(preview)
    assert shown.count("this reboot avoids it") == 1
    assert f"`{instance_id}`: platform reboot scheduled" in shown


def test_a_card_says_why_the_bot_cannot_help_an_instance(h: Harness) -> None:
    locked = h.sim.fleet.ids(REGION)[0]
    h.sim.fleet.update(REGION, locked, security_lock=True)
    schedule(h, 2)
    h.watch()
    (card,) = cards(h)
    shown = text_of(card)
    assert shown.count("ECS refuses to reboot it") == 1
    assert "locked: security" in shown


def test_a_card_slack_refused_is_posted_by_the_next_pass_once(h: Harness) -> None:
    schedule(h, 2)
    h.slack.fail("chat.postMessage", error="internal_error", times=1)
    h.watch()
    assert cards(h) == []
    next_pass(h)
    assert len(cards(h)) == 1
    next_pass(h)
    # The refused call and the one Slack took; nothing since.
    assert len(card_posts(h)) == 2
    assert len(cards(h)) == 1


def test_reboot_now_by_someone_without_a_role_is_denied_and_records_nothing(
    h: Harness,
) -> None:
    schedule(h, 1)
    h.watch()
    (card,) = cards(h)
    card_id = str(buttons(card.blocks)[0]["value"])
    h.click(ACTION_EVENT_REBOOT, card_id, user=STRANGER)
    h.settle()
    assert h.ephemerals(STRANGER)
    with h.bot.ctx.uow() as uow:
        assert uow.requests.list_recent(10) == []
    # A click from another channel than the card's is refused too.
    h.click(ACTION_EVENT_REBOOT, card_id, user=OPERATOR, channel=NOTIFY)
    h.settle()
    with h.bot.ctx.uow() as uow:
        assert uow.requests.list_recent(10) == []


def test_events_command_without_the_watch_says_it_is_off(harness: Harness) -> None:
    reply = harness.command("events").json()["text"]
    assert "does not watch" in reply
    assert "ECSBOT_EVENTS" in reply


def test_every_account_is_watched_and_reboot_now_acts_in_the_cards_account(
    migrated_url: str,
) -> None:
    from bot.simulator.accounts import MEMBER_ROLE_NAME, member_account_id

    roles = {
        name: f"acs:ram::{member_account_id(name)}:role/{MEMBER_ROLE_NAME}"
        for name in ("prod", "staging")
    }
    env = {
        **EVENTS_ENV,
        "ECSBOT_ACCOUNTS": ",".join(f"{n}={arn}" for n, arn in roles.items()),
        "ECSBOT_DEFAULT_ACCOUNT": "prod",
    }
    with running_bot(migrated_url, instances=3, accounts=("prod", "staging"), env=env) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        not_before = h.clock.now() + timedelta(hours=5)
        prod_id = h.sim.fleet_of("prod").ids(REGION)[0]
        staging_id = h.sim.fleet_of("staging").ids(REGION)[0]
        (prod_event,) = h.sim.member_events["prod"].create(REGION, [prod_id], not_before=not_before)
        h.sim.member_events["staging"].create(REGION, [staging_id], not_before=not_before)
        report = h.watch()
        assert report.completed
        assert len(report.cards) == 2
        shown = [text_of(card) for card in cards(h)]
        assert any(prod_id in s and "(prod)" in s for s in shown)
        assert any(staging_id in s and "(staging)" in s for s in shown)
        reads = [c for c in h.sim.calls.of("DescribeInstanceHistoryEvents")]
        assert {c.account for c in reads} == {"prod", "staging"}
        # `/ecs-reboot events` checks each event in its own account: viewing both
        # accounts lists both; viewing only one is not enough for the other's event.
        for account in ("prod", "staging"):
            h.grant("U0BOTH", Role.VIEWER, account=account)
        h.grant("U0PROD", Role.VIEWER, account="prod")
        both = h.command("events", user="U0BOTH").json()["text"]
        assert prod_id in both
        assert staging_id in both
        only_prod = h.command("events", user="U0PROD").json()["text"]
        assert staging_id in only_prod
        assert prod_id not in only_prod

        (prod_card,) = [c for c in cards(h) if prod_id in text_of(c)]
        h.click(ACTION_EVENT_REBOOT, str(buttons(prod_card.blocks)[0]["value"]), user=OPERATOR)
        h.settle()
        request_id, _ = h.last_preview()
        assert [(i.ref.account, i.ref.instance_id) for i in h.request(request_id).instances] == [
            ("prod", prod_id)
        ]
        h.click(ACTION_CONFIRM, request_id, user=OPERATOR)
        h.settle()
        h.run_until_final(request_id)
        assert h.sim.fleet_of("prod").reboot_counts(REGION) == {prod_id: 1}
        assert h.sim.fleet_of("staging").reboot_counts(REGION) == {}
        states = {e.event_id: e.state for e in h.sim.member_events["prod"].all()}
        assert states == {prod_event: "Avoided"}
        assert {e.state for e in h.sim.member_events["staging"].all()} == {"Scheduled"}


def test_app_home_lists_pending_events_and_its_reboot_now_previews_them(h: Harness) -> None:
    from urllib.parse import urlencode

    from bot.domain.model import RequestSource
    from bot.testing.slack_requests import block_action_body
    from bot.testing.slack_surfaces import home_opened_event, post_event

    event_ids = schedule(h, 2)
    h.watch()
    post_event(h.sender, home_opened_event(OPERATOR), h.bot.signing_secret)
    post_event(h.sender, home_opened_event(STRANGER), h.bot.signing_secret)
    h.settle()
    home = h.slack.homes[OPERATOR]
    shown = json.dumps(home["blocks"], ensure_ascii=False)
    assert "Platform maintenance reboots pending" in shown
    assert all(event_id in shown for event_id in event_ids)
    [button] = [
        e
        for b in home["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == ACTION_EVENT_REBOOT
    ]
    # Someone with no role on those instances is shown none of them.
    assert "Platform maintenance reboots pending" not in json.dumps(h.slack.homes[STRANGER])

    body = block_action_body(
        ACTION_EVENT_REBOOT, button["value"], user_id=OPERATOR, channel_id="", message_ts=""
    )
    payload = json.loads(httpx.QueryParams(body.decode())["payload"])
    del payload["channel"], payload["message"]
    payload["container"] = {"type": "view", "view_id": home["id"]}
    h.sender.post(urlencode({"payload": json.dumps(payload)}).encode())
    h.settle()
    request_id, _ = h.last_preview()
    request = h.request(request_id)
    assert request.source is RequestSource.EVENT
    assert request.channel == CHANNEL
    assert len(request.instances) == 2


def test_reboot_in_window_previews_the_card_for_the_windows_next_opening(
    migrated_url: str,
) -> None:
    # A Monday, 01:00 UTC: the "night" window opens at 02:00, the events come 27 h later.
    start = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    env = {
        **EVENTS_ENV,
        "ECSBOT_WINDOWS": "night=daily 02:00-04:00",
        "ECSBOT_EVENTS_WINDOW": "night",
    }
    with running_bot(migrated_url, instances=4, env=env, start=start) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        event_ids = schedule(h, 2)
        instances = h.sim.fleet.ids(REGION)[:2]
        h.watch()
        (card,) = cards(h)
        reboot_now, in_window = buttons(card.blocks)
        assert reboot_now["action_id"] == ACTION_EVENT_REBOOT
        assert in_window["action_id"] == ACTION_EVENT_SCHEDULE
        assert in_window["value"] == reboot_now["value"]
        assert "Reboot in window night" in json.dumps(in_window)

        assert (
            h.click(ACTION_EVENT_SCHEDULE, str(in_window["value"]), user=OPERATOR).status_code
            == 200
        )
        h.settle()
        request_id, preview = h.last_preview()
        request = h.request(request_id)
        opening = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
        assert "2026-12-07 02:00 UTC" in text_of(preview)
        assert (request.scheduled_for, request.window) == (opening, "night")
        assert sorted(i.ref.instance_id for i in request.instances) == sorted(instances)
        assert request.reason is not None
        assert all(e in request.reason for e in event_ids)
        h.click(ACTION_CONFIRM, request_id, user=OPERATOR)
        h.settle()
        assert h.request(request_id).state is RequestState.SCHEDULED
        assert h.sim.fleet.reboot_counts(REGION) == {}

        # A day later the card still offers the window, whose next opening is now after
        # the platform's reboot: the click says so and records nothing.
        h.clock.advance(26 * 3600)
        before = len(h.previews())
        h.click(ACTION_EVENT_SCHEDULE, str(in_window["value"]), user=OPERATOR)
        h.settle()
        assert len(h.previews()) == before
        assert any("after the platform's reboot" in t for t in h.ephemerals(OPERATOR))


def test_an_events_window_that_names_no_window_stops_the_start(migrated_url: str) -> None:
    env = {**EVENTS_ENV, "ECSBOT_WINDOWS": "night=daily 02:00-04:00", "ECSBOT_EVENTS_WINDOW": "day"}
    with (
        pytest.raises(SettingsError, match="ECSBOT_EVENTS_WINDOW=day names no window"),
        running_bot(migrated_url, env=env),
    ):
        pass

"""The surfaces beyond the slash command end to end (docs/PRODUCT.md §5.14): the form opened
by ``/ecs-reboot`` and the shortcuts, its instance search, its submission, the message
shortcut's thread, and App Home with its Approve button. Signed requests over HTTP into
``serve``'s app; views and messages read back from the fake Slack; reboots counted per
instance in the simulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.domain import form
from bot.domain.model import RequestSource, RequestState, Role
from bot.slack.blocks import ACTION_APPROVE, ACTION_CONFIRM
from bot.slack.views import CALLBACK_FORM, SHORTCUT_FROM_MESSAGE, SHORTCUT_OPEN
from bot.testing.slack_requests import block_action_body
from bot.testing.slack_surfaces import (
    block_suggestion_body,
    global_shortcut_body,
    home_opened_event,
    message_shortcut_body,
    post_event,
    view_submission_body,
)
from tests.e2e.harness import ADMIN, CHANNEL, OPERATOR, REGION, STRANGER, Harness, running_bot

SECOND = "U0SECOND"


@pytest.fixture
def harness(migrated_url: str) -> Iterator[Harness]:
    with running_bot(migrated_url, env={"ECSBOT_APPROVALS_ABOVE": "2"}) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.grant(SECOND, Role.OPERATOR)
        yield h


def the_form(h: Harness) -> dict[str, Any]:
    """The one modal the bot opened."""
    opened = h.slack.calls("views.open")
    assert len(opened) == 1, opened
    [view] = [v for v in h.slack.views.values()]
    assert view["callback_id"] == CALLBACK_FORM
    return view


def submit(h: Harness, view: dict[str, Any], user: str = OPERATOR, **fields: Any) -> httpx.Response:
    values: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        if name == form.FIELD_INSTANCES:
            state = {
                "type": "multi_external_select",
                "selected_options": [{"value": v} for v in value],
            }
        elif name == form.FIELD_CHANNEL:
            state = {"type": "conversations_select", "selected_conversation": value}
        elif name == form.FIELD_FORCE:
            state = {
                "type": "checkboxes",
                "selected_options": [{"value": "force"}] if value else [],
            }
        else:
            state = {"type": "plain_text_input", "value": value}
        values[name] = {name: state}
    return h.sender.post(view_submission_body(view, values, user_id=user))


def requests_recorded(h: Harness) -> int:
    with h.bot.ctx.uow() as uow:
        return len(uow.requests.list_recent(100))


def test_the_command_without_arguments_opens_the_form_whose_submission_previews_and_reboots(
    harness: Harness,
) -> None:
    h = harness
    assert h.command("").status_code == 200
    h.settle()
    view = the_form(h)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[form.FIELD_INSTANCES]["element"]["type"] == "multi_external_select"
    assert blocks[form.FIELD_INSTANCES]["element"]["action_id"] == "instances"
    assert form.FIELD_FORCE not in blocks  # an operator may not force: not offered
    assert form.FIELD_CHANNEL not in blocks  # opened in a channel: the preview goes there

    # The search answers a name fragment from a filtered DescribeInstances.
    names = {i: h.sim.fleet.get(REGION, i).name for i in h.sim.fleet.ids(REGION)}  # type: ignore[union-attr]
    answer = h.sender.post(
        block_suggestion_body("instances", "web", user_id=OPERATOR, view=view, block_id="instances")
    )
    options = answer.json()["options"]
    assert options
    assert {o["value"] for o in options} == {i for i, n in names.items() if "web" in n}
    target = options[0]["value"]

    # An id prefix is matched too.
    prefix = target[:6]
    by_id = h.sender.post(
        block_suggestion_body(
            "instances", prefix, user_id=OPERATOR, view=view, block_id="instances"
        )
    ).json()["options"]
    assert target in {o["value"] for o in by_id}

    response = submit(h, view, instances=[target], reason="stuck after deploy")
    assert response.status_code == 200
    assert response.text in ("", "{}")  # closes the modal
    h.settle()
    request_id, _ = h.last_preview()
    request = h.request(request_id)
    assert request.source is RequestSource.FORM
    assert request.reason == "stuck after deploy"
    assert [i.ref.instance_id for i in request.instances] == [target]
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)
    assert h.request(request_id).state is RequestState.SUCCEEDED
    assert h.sim.fleet.reboot_count(REGION, target) == 1


def test_a_bad_submission_shows_errors_beside_the_fields_and_records_nothing(
    harness: Harness,
) -> None:
    h = harness
    h.command("")
    h.settle()
    view = the_form(h)

    empty = submit(h, view).json()
    assert empty["response_action"] == "errors"
    assert form.FIELD_TARGETS in empty["errors"]

    bad = submit(h, view, targets="i-bad", rollout="--batch 0").json()
    assert bad["response_action"] == "errors"
    assert "i-bad" in bad["errors"][form.FIELD_TARGETS]
    assert "batch" in bad["errors"][form.FIELD_ROLLOUT]

    tampered = {
        **view,
        "private_metadata": view["private_metadata"].replace(CHANNEL, "C0ELSEWHERE"),
    }
    forged = submit(h, tampered, instances=[h.sim.fleet.ids(REGION)[0]]).json()
    assert forged["response_action"] == "errors"

    nobody = submit(h, view, user=STRANGER, instances=[h.sim.fleet.ids(REGION)[0]]).json()
    assert nobody["response_action"] == "errors"

    h.settle()
    assert requests_recorded(h) == 0
    assert h.previews() == []


def test_the_message_shortcut_previews_in_the_thread_of_that_message(harness: Harness) -> None:
    h = harness
    first, second = h.sim.fleet.ids(REGION)[:2]
    alert = h.slack.post_as_user(
        CHANNEL, f"Alert: disk full on {first}", attachments=[{"text": f"also {REGION}/{second}"}]
    )
    h.sender.post(
        message_shortcut_body(
            SHORTCUT_FROM_MESSAGE, user_id=OPERATOR, channel_id=CHANNEL, message=alert.to_slack()
        )
    )
    h.settle()
    view = the_form(h)
    targets = next(b for b in view["blocks"] if b.get("block_id") == form.FIELD_TARGETS)
    assert targets["element"]["initial_value"].split("\n") == [first, f"{REGION}/{second}"]

    submit(h, view, targets=targets["element"]["initial_value"])
    h.settle()
    [posted] = [c.params for c in h.slack.calls("chat.postMessage") if c.params.get("thread_ts")]
    assert posted["thread_ts"] == alert.ts
    with h.bot.ctx.uow() as uow:
        [request] = uow.requests.list_recent(1)
    assert request.source is RequestSource.MESSAGE
    assert request.thread_ts == alert.ts
    assert {i.ref.instance_id for i in request.instances} == {first, second}


def test_a_message_naming_no_instance_gets_the_form_with_a_note(harness: Harness) -> None:
    h = harness
    note = h.slack.post_as_user(CHANNEL, "lunch?")
    h.sender.post(
        message_shortcut_body(
            SHORTCUT_FROM_MESSAGE, user_id=OPERATOR, channel_id=CHANNEL, message=note.to_slack()
        )
    )
    h.settle()
    assert "no instance id" in json.dumps(the_form(h)["blocks"])


def test_the_global_shortcut_asks_for_the_channel(harness: Harness) -> None:
    h = harness
    h.sender.post(global_shortcut_body(SHORTCUT_OPEN, user_id=ADMIN))
    h.settle()
    view = the_form(h)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[form.FIELD_CHANNEL]["element"]["type"] == "conversations_select"
    assert form.FIELD_FORCE in blocks  # an admin may force: offered
    target = h.sim.fleet.ids(REGION)[3]
    submit(h, view, user=ADMIN, channel=CHANNEL, instances=[target])
    h.settle()
    request_id, _ = h.last_preview()
    assert h.request(request_id).channel == CHANNEL


def test_an_expired_trigger_is_said_and_nothing_is_recorded(harness: Harness) -> None:
    h = harness
    old = f"{int(time.time()) - 60}.1.0123456789abcdef"
    h.sender.command("", user_id=OPERATOR, channel_id=CHANNEL, trigger_id=old)
    h.settle()
    assert h.slack.views == {}
    assert any("could not open in time" in text for text in h.ephemerals(OPERATOR))
    assert requests_recorded(h) == 0


def test_app_home_lists_what_waits_for_my_approval_and_its_approve_counts(harness: Harness) -> None:
    h = harness
    ids = h.sim.fleet.ids(REGION)[:3]  # more than ECSBOT_APPROVALS_ABOVE (2)
    h.command(" ".join(ids))
    h.settle()
    request_id, _ = h.last_preview()
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    assert h.request(request_id).state is RequestState.AWAITING_APPROVAL

    post_event(h.sender, home_opened_event(SECOND), h.bot.signing_secret)
    h.settle()
    home = h.slack.homes[SECOND]
    approve = [
        e
        for b in home["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == ACTION_APPROVE
    ]
    assert [e["value"] for e in approve] == [request_id]

    # The requester's own home offers no approval of their own request.
    post_event(h.sender, home_opened_event(OPERATOR), h.bot.signing_secret)
    h.settle()
    assert ACTION_APPROVE not in json.dumps(h.slack.homes[OPERATOR]["blocks"])
    assert request_id in json.dumps(h.slack.homes[OPERATOR]["blocks"])

    body = block_action_body(
        ACTION_APPROVE, request_id, user_id=SECOND, channel_id="", message_ts=""
    )
    payload = json.loads(httpx.QueryParams(body.decode())["payload"])
    payload.pop("channel")
    payload.pop("message")
    payload["container"] = {"type": "view", "view_id": home["id"]}
    payload["view"] = home
    h.sender.post(urlencode({"payload": json.dumps(payload)}).encode())
    h.settle()
    request = h.request(request_id)
    assert [a.user for a in request.approvals] == [SECOND]
    assert request.state is RequestState.EXECUTING
    assert ACTION_APPROVE not in json.dumps(h.slack.homes[SECOND]["blocks"])


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", 0),  # nothing typed: nothing asked of ECS
        ("*", 0),  # a wildcard alone is no query
        ("**", 0),
        ('web"]}*', "web"),  # quotes, brackets and wildcards never reach the filter
        ("w" * 5000, 0),  # bounded, answered, and matches nothing
    ],
)
def test_the_search_answers_hostile_queries_with_bounded_work(
    harness: Harness, typed: str, expected: int | str
) -> None:
    h = harness
    h.command("")
    h.settle()
    view = the_form(h)
    h.sim.calls.clear()
    answer = h.sender.post(
        block_suggestion_body("instances", typed, user_id=OPERATOR, view=view, block_id="instances")
    )
    assert answer.status_code == 200
    options = answer.json()["options"]
    assert len(options) <= 100
    if expected == 0:
        assert options == []
    else:
        assert options
        assert all(str(expected) in o["text"]["text"] for o in options)
    # What reached ECS: at most the one filtered DescribeInstances, named by clean text.
    searches = h.sim.calls.of("DescribeInstances")
    assert len(searches) <= 1
    for call in searches:
        assert set(call.params.get("InstanceName", "*")) <= set("*web")


def test_with_two_accounts_the_form_asks_which_and_searches_and_reboots_there(
    migrated_url: str,
) -> None:
    from bot.simulator.accounts import MEMBER_ROLE_NAME, member_account_id

    roles = ",".join(
        f"{name}=acs:ram::{member_account_id(name)}:role/{MEMBER_ROLE_NAME}"
        for name in ("prod", "staging")
    )
    env = {"ECSBOT_ACCOUNTS": roles, "ECSBOT_DEFAULT_ACCOUNT": "prod"}
    with running_bot(migrated_url, instances=3, accounts=("prod", "staging"), env=env) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.command("")
        h.settle()
        view = the_form(h)
        account = next(b for b in view["blocks"] if b.get("block_id") == form.FIELD_ACCOUNT)
        assert [o["value"] for o in account["element"]["options"]] == ["prod", "staging"]
        assert account["element"]["initial_option"]["value"] == "prod"

        staging = h.sim.fleet_of("staging").ids(REGION)
        picked = {
            "account": {
                "account": {"type": "static_select", "selected_option": {"value": "staging"}}
            }
        }
        searching = {**view, "state": {"values": picked}}
        options = h.sender.post(
            block_suggestion_body(
                "instances", staging[0][:7], user_id=OPERATOR, view=searching, block_id="instances"
            )
        ).json()["options"]
        assert staging[0] in {o["value"] for o in options}
        assert not {o["value"] for o in options} & set(h.sim.fleet_of("prod").ids(REGION))

        values: dict[str, dict[str, Any]] = {
            "account": {
                "account": {"type": "static_select", "selected_option": {"value": "staging"}}
            },
            "instances": {
                "instances": {
                    "type": "multi_external_select",
                    "selected_options": [{"value": staging[0]}],
                }
            },
        }
        h.sender.post(view_submission_body(view, values, user_id=OPERATOR))
        h.settle()
        request_id, _ = h.last_preview()
        assert [i.ref.account for i in h.request(request_id).instances] == ["staging"]


def test_the_forms_when_schedules_and_a_start_too_soon_is_shown_beside_it(
    harness: Harness,
) -> None:
    h = harness
    h.command("")
    h.settle()
    view = the_form(h)
    target = h.sim.fleet.ids(REGION)[4]
    too_soon = submit(h, view, instances=[target], when="in 5s").json()
    assert too_soon["response_action"] == "errors"
    assert list(too_soon["errors"]) == [form.FIELD_WHEN]
    assert requests_recorded(h) == 0

    assert submit(h, view, instances=[target], when="in 5m").text in ("", "{}")
    h.settle()
    request_id, _ = h.last_preview()
    request = h.request(request_id)
    assert request.scheduled_for is not None
    assert abs((request.scheduled_for - request.created_at).total_seconds() - 300) < 5
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    assert h.request(request_id).state is RequestState.SCHEDULED
    assert h.sim.fleet.reboot_count(REGION, target) == 0

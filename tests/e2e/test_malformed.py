"""Malformed Slack requests, signed, over HTTP into ``serve``'s app (docs/PRODUCT.md §9).

Each one gets a clear answer (an ephemeral text, or a 4xx, or an empty 200 with
nothing done), never a 5xx; nothing is rebooted (no real ``RebootInstances`` reaches
the simulator); and the process keeps serving: a normal command works afterwards.

Most of these once got a 500 from Bolt, which parsed bodies before verifying them and
indexed ``actions[0]`` unguarded; bot/slack/gate.py now stands in front of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from bot.domain.model import RequestState, Role
from bot.slack.blocks import ACTION_CANCEL, ACTION_CONFIRM
from bot.testing.slack_requests import block_action_body
from tests.e2e.harness import (
    CHANNEL,
    OPERATOR,
    REGION,
    STRANGER,
    Harness,
    buttons,
    running_bot,
)
from tests.e2e.shared_bot import fresh
from tests.fixtures_db import DATABASES, migrated_database

OTHER_CHANNEL = "C0ELSEWHERE"
OTHER_OPERATOR = "U0OPER2"
# Slack cuts message text at 40,000 characters; an answer longer than that is lost.
SLACK_TEXT_LIMIT = 40_000


@pytest.fixture(scope="module", params=DATABASES)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    with (
        migrated_database(request.param, tmp_path_factory.mktemp("malformed")) as url,
        running_bot(url) as h,
    ):
        h.grant(OPERATOR, Role.OPERATOR)
        h.grant(OTHER_OPERATOR, Role.OPERATOR)
        yield h


@pytest.fixture
def harness(shared: Harness) -> Harness:
    return fresh(shared)


# --- helpers ---------------------------------------------------------------------------


def _previewed(h: Harness, *, user: str = OPERATOR, channel: str = CHANNEL, skip: int = 0) -> str:
    """A request for one running instance, previewed with buttons; returns its id."""
    instance_id = h.sim.fleet.ids(REGION)[skip]
    assert h.command(instance_id, user=user, channel=channel).status_code == 200
    h.settle()
    previews = h.previews(channel)
    assert previews, f"no preview in {channel}"
    request_id = _request_id_in(previews[-1]["blocks"])
    assert buttons(previews[-1]["blocks"]), "the test needs a preview with buttons"
    return request_id


def _request_id_in(blocks: list[dict[str, Any]]) -> str:
    return str(
        next(
            element["value"]
            for element in buttons(blocks)
            if element["action_id"] == ACTION_CONFIRM and element.get("value")
        )
    )


def _click_payload(request_id: str, *, user: str = OPERATOR, channel: str = CHANNEL) -> Any:
    """The ``block_actions`` payload of a real confirm click, as a dict to break."""
    body = block_action_body(
        ACTION_CONFIRM, request_id, user_id=user, channel_id=channel, message_ts="1700000000.1"
    )
    return json.loads(parse_qs(body.decode())["payload"][0])


def _form(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _assert_nothing_executed(h: Harness) -> None:
    h.settle()
    real = h.sim.calls.of("RebootInstances", dry_run=False)
    assert real == [], f"a malformed request rebooted something: {real}"


def _assert_still_serving(h: Harness) -> None:
    """A normal command afterwards is answered and previewed."""
    before = len(h.previews())
    response = h.command(h.sim.fleet.ids(REGION)[-1])
    assert response.status_code == 200, response.text
    assert "Checking 1 instance" in response.json()["text"]
    h.settle()
    assert len(h.previews()) == before + 1


def _assert_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (
        f"a malformed request got {response.status_code}: {response.text[:300]!r}"
    )


def _assert_no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        f"a malformed request got {response.status_code}: {response.text[:300]!r}"
    )


# --- payload= that is not a block_actions object ------------------------------------------


@pytest.mark.parametrize(
    "raw_payload",
    [
        pytest.param("{not json", id="bad-json"),
        pytest.param("", id="empty"),
        pytest.param("null", id="null"),
        pytest.param("[1, 2]", id="array"),
        pytest.param('"text"', id="string"),
        pytest.param("{}", id="empty-object"),
        pytest.param('{"type": "block_actions"}', id="no-actions-no-user"),
    ],
)
def test_a_payload_that_is_not_a_click_gets_a_4xx(harness: Harness, raw_payload: str) -> None:
    h = harness
    request_id = _previewed(h)
    response = h.sender.post(urlencode({"payload": raw_payload}).encode())
    _assert_refused(response)
    _assert_nothing_executed(h)
    assert h.request(request_id).state is RequestState.PREVIEWED
    _assert_still_serving(h)


# --- a real click with a field taken away or broken ---------------------------------------


def _without(*keys: str) -> Callable[[dict[str, Any]], None]:
    def breaks(payload: dict[str, Any]) -> None:
        for key in keys:
            payload.pop(key)

    return breaks


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def breaks(payload: dict[str, Any]) -> None:
        payload[key] = value

    return breaks


def _action_without(key: str) -> Callable[[dict[str, Any]], None]:
    def breaks(payload: dict[str, Any]) -> None:
        payload["actions"][0].pop(key)

    return breaks


def _action_value(value: object) -> Callable[[dict[str, Any]], None]:
    def breaks(payload: dict[str, Any]) -> None:
        payload["actions"][0]["value"] = value

    return breaks


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(_without("user"), id="no-user"),
        pytest.param(_set("user", {}), id="user-without-id"),
        pytest.param(_set("user", "U0OPER"), id="user-not-an-object"),
        pytest.param(_without("actions"), id="no-actions"),
        pytest.param(_set("actions", []), id="empty-actions"),
        pytest.param(_set("actions", [{}]), id="action-without-fields"),
        pytest.param(_set("actions", [None]), id="action-null"),
        pytest.param(_without("channel", "container"), id="no-channel"),
        pytest.param(_action_without("value"), id="no-value"),
        pytest.param(_action_value(""), id="empty-value"),
        pytest.param(_action_value(None), id="null-value"),
        pytest.param(_action_value("x" * 5000), id="huge-value"),
    ],
)
def test_a_click_with_a_missing_or_broken_field_does_nothing(
    harness: Harness, breakage: Callable[[dict[str, Any]], None]
) -> None:
    h = harness
    request_id = _previewed(h)
    payload = _click_payload(request_id)
    breakage(payload)
    response = h.sender.post(_form(payload))
    _assert_no_5xx(response)
    _assert_nothing_executed(h)
    # The click named a real request of the real requester: only the breakage stops it.
    assert h.request(request_id).state is RequestState.PREVIEWED
    _assert_still_serving(h)


def test_an_unknown_action_id_is_not_handled(harness: Harness) -> None:
    h = harness
    request_id = _previewed(h)
    for action_id in ("reboot_everything", "reboot_confirm ", "REBOOT_CONFIRM", ""):
        response = h.sender.click(
            action_id, request_id, user_id=OPERATOR, channel_id=CHANNEL, message_ts="1.1"
        )
        assert 400 <= response.status_code < 500, (action_id, response.status_code)
    _assert_nothing_executed(h)
    assert h.request(request_id).state is RequestState.PREVIEWED
    _assert_still_serving(h)


# --- button values that are not this channel's request ------------------------------------


def test_another_requests_id_clicked_from_another_channel_is_refused(harness: Harness) -> None:
    h = harness
    theirs = _previewed(h)
    mine = _previewed(h, user=OTHER_OPERATOR, channel=OTHER_CHANNEL, skip=1)
    # A button in OTHER_CHANNEL whose value was swapped for a request of CHANNEL.
    response = h.click(ACTION_CONFIRM, theirs, user=OTHER_OPERATOR, channel=OTHER_CHANNEL)
    assert response.status_code == 200
    _assert_nothing_executed(h)
    assert any("another channel" in text for text in h.ephemerals(OTHER_OPERATOR))
    assert h.request(theirs).state is RequestState.PREVIEWED
    assert h.request(mine).state is RequestState.PREVIEWED
    assert "confirm" not in h.audit_actions(theirs)


def test_a_click_on_a_request_from_another_channel_is_refused(harness: Harness) -> None:
    h = harness
    # Its own instance: this test reboots it at the end.
    request_id = _previewed(h, skip=5)
    for action_id in (ACTION_CONFIRM, ACTION_CANCEL):
        h.click(action_id, request_id, channel=OTHER_CHANNEL)
    _assert_nothing_executed(h)
    refusals = [text for text in h.ephemerals(OPERATOR) if "another channel" in text]
    assert len(refusals) == 2
    assert h.request(request_id).state is RequestState.PREVIEWED
    # The same click from the request's own channel still works.
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    assert h.request(request_id).state is RequestState.EXECUTING
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 1


@pytest.mark.parametrize(
    "value",
    [
        "not-a-request",
        "0" * 12,
        "../../etc/passwd",
        "' OR '1'='1",
        "%00%ff",
        "i-bp1abcdefgh00",
        "😀 ünïcode",
    ],
)
def test_a_value_that_is_not_a_request_id_gets_no_such_request(
    harness: Harness, value: str
) -> None:
    h = harness
    request_id = _previewed(h)
    response = h.click(ACTION_CONFIRM, value)
    assert response.status_code == 200
    _assert_nothing_executed(h)
    assert any(text.startswith("No request") for text in h.ephemerals(OPERATOR))
    assert h.request(request_id).state is RequestState.PREVIEWED
    _assert_still_serving(h)


def test_a_forged_value_is_not_echoed_as_a_mention(harness: Harness) -> None:
    h = harness
    h.click(ACTION_CONFIRM, "<!channel> <@U999>")
    h.settle()
    _assert_nothing_executed(h)
    [answer] = h.ephemerals(OPERATOR)
    assert "<!channel>" not in answer
    assert "<@U999>" not in answer


# --- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_a_command_with_no_text_opens_the_form(harness: Harness, text: str) -> None:
    h = harness
    response = h.command(text)
    assert response.status_code == 200
    h.settle()
    assert [v["callback_id"] for v in h.slack.views.values()] == ["reboot_form"]
    # Nothing is previewed, dry-run or rebooted by opening a form.
    assert h.sim.calls.count("RebootInstances") == 0
    assert h.previews() == []
    _assert_still_serving(h)


def test_help_is_still_the_help(harness: Harness) -> None:
    response = harness.command("help")
    assert "/ecs-reboot" in response.json()["text"]
    assert "TARGETS" in response.json()["text"]


def test_a_command_with_no_user_is_refused(harness: Harness) -> None:
    h = harness
    body = urlencode({"command": "/ecs-reboot", "text": h.sim.fleet.ids(REGION)[0]}).encode()
    response = h.sender.post(body)
    assert response.status_code == 200
    assert "no role" in response.json()["text"].lower()
    h.settle()
    assert len(h.sim.calls) == 0
    assert h.previews() == []


def _huge_garbage() -> str:
    # ~200 KB of distinct words that are neither flags nor ids: every one is a problem.
    return " ".join(f"web{n:06d}" for n in range(20_000))


def _huge_ids() -> str:
    # ~200 KB of valid ids: far more than ECSBOT_MAX_INSTANCES.
    return "\n".join(f"i-bp1abcdefgh{n:06d}" for n in range(11_000))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(_huge_garbage(), "is neither an option nor an instance id", id="garbage"),
        pytest.param(_huge_ids(), "Too many instances", id="too-many-ids"),
    ],
)
def test_a_huge_command_is_refused_without_any_ecs_call(
    harness: Harness, text: str, problem: str
) -> None:
    h = harness
    assert len(text.encode()) > 190_000
    response = h.command(text)
    assert response.status_code == 200
    assert problem in response.json()["text"]
    h.settle()
    assert len(h.sim.calls) == 0
    assert h.previews() == []
    _assert_still_serving(h)


def test_a_huge_command_gets_an_answer_slack_can_show(harness: Harness) -> None:
    h = harness
    reply = h.command(_huge_garbage()).json()["text"]
    assert len(reply) <= SLACK_TEXT_LIMIT, f"the answer is {len(reply)} characters long"


# --- bodies that are not form-encoded -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"hello world", "text/plain", id="plain-text"),
        pytest.param(b"<xml><a>1</a></xml>", "application/xml", id="xml"),
        pytest.param(
            b'--xx\r\nContent-Disposition: form-data; name="text"\r\n\r\nhelp\r\n--xx--\r\n',
            "multipart/form-data; boundary=xx",
            id="multipart",
        ),
        pytest.param(
            b"[1, 2, 3]",
            "application/json",
            id="json-array",
        ),
        pytest.param(
            b"{command=/ecs-reboot&text=help",
            "application/x-www-form-urlencoded",
            id="form-starting-with-a-brace",
        ),
        pytest.param(
            bytes(range(256)) * 4,
            "application/x-www-form-urlencoded",
            id="not-utf8",
        ),
    ],
)
def test_a_body_that_is_not_form_encoded_gets_a_4xx(
    harness: Harness, body: bytes, content_type: str
) -> None:
    h = harness
    request_id = _previewed(h)
    response = h.sender.post(body, extra_headers={"Content-Type": content_type})
    _assert_refused(response)
    _assert_nothing_executed(h)
    assert h.request(request_id).state is RequestState.PREVIEWED
    _assert_still_serving(h)


def test_a_json_click_body_is_checked_like_a_form_one(harness: Harness) -> None:
    h = harness
    request_id = _previewed(h)
    payload = _click_payload(request_id, user=STRANGER)
    response = h.sender.post(
        json.dumps(payload).encode(), extra_headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    _assert_nothing_executed(h)
    assert h.request(request_id).state is RequestState.PREVIEWED
    assert any("Only" in text for text in h.ephemerals(STRANGER))


def test_a_command_that_mentions_payload_is_still_a_command(harness: Harness) -> None:
    h = harness
    # A line pasted from the console: the id, then the instance's name and status.
    response = h.command(f"{h.sim.fleet.ids(REGION)[0]} payload-worker Running")
    assert response.status_code == 200
    assert "Checking 1 instance" in response.json()["text"]


# --- someone with no role -------------------------------------------------------------------


def test_a_click_from_a_user_with_no_role_is_refused(harness: Harness) -> None:
    h = harness
    request_id = _previewed(h)
    for action_id in (ACTION_CONFIRM, ACTION_CANCEL):
        assert h.click(action_id, request_id, user=STRANGER).status_code == 200
    _assert_nothing_executed(h)
    refusals = h.ephemerals(STRANGER)
    assert len(refusals) == 2
    assert all(f"<@{OPERATOR}>" in text for text in refusals), refusals
    request = h.request(request_id)
    assert request.state is RequestState.PREVIEWED
    assert request.confirmed_by is None
    assert request.cancelled_by is None
    _assert_still_serving(h)

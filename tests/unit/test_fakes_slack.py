"""Proof that the Slack fakes behave like Slack, checked with the official slack-sdk and Bolt.

If these pass, a failing end-to-end test points at the bot, not at the fakes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.testing.slack_api import BOT_USER_ID, FakeSlackApi
from bot.testing.slack_requests import (
    SlackRequestSender,
    block_action_body,
    sign,
    slash_command_body,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def fake() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


@pytest.fixture
def client(fake: FakeSlackApi) -> WebClient:
    return WebClient(base_url=fake.url, token="xoxb-test")


# --- the Web API through the real WebClient -----------------------------------------------


def test_post_update_permalink_and_usergroup(fake: FakeSlackApi, client: WebClient) -> None:
    fake.usergroups = {"S123": ["U1", "U2"]}

    posted = client.chat_postMessage(
        channel="C1", text="Reboot 2 instances?", blocks=[{"type": "divider"}]
    )
    updated = client.chat_update(channel="C1", ts=posted["ts"], text="Rebooting", blocks=[])
    link = client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    members = client.usergroups_users_list(usergroup="S123")

    assert posted["ok"]
    assert posted["channel"] == "C1"
    assert posted["message"]["text"] == "Reboot 2 instances?"
    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "Rebooting"
    assert (
        link["permalink"]
        == f"https://example.slack.com/archives/C1/p{posted['ts'].replace('.', '')}"
    )
    assert members["users"] == ["U1", "U2"]

    message = fake.message("C1", posted["ts"])
    assert (message.text, message.blocks, message.edits) == ("Rebooting", [], 1)
    # chat.postMessage goes as JSON, the GET-style methods as a form: both are parsed.
    [post] = fake.calls("chat.postMessage")
    assert post.params["blocks"] == [{"type": "divider"}]
    assert post.token == "xoxb-test"
    assert fake.calls("usergroups.users.list")[0].params == {"usergroup": "S123"}
    assert [c.method for c in fake.calls()] == [
        "chat.postMessage",
        "chat.update",
        "chat.getPermalink",
        "usergroups.users.list",
    ]


def test_ts_is_unique_and_increasing_and_threads_collect_replies(
    fake: FakeSlackApi, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel="C1", text="parent")["ts"]
    other = client.chat_postMessage(channel="C2", text="elsewhere")["ts"]
    first = client.chat_postMessage(channel="C1", text="one", thread_ts=parent)["ts"]
    second = client.chat_postMessage(channel="C1", text="two", thread_ts=parent)["ts"]

    assert [float(t) for t in (parent, other, first, second)] == sorted(
        {float(t) for t in (parent, other, first, second)}
    )
    assert [m.text for m in fake.thread("C1", parent)] == ["one", "two"]
    assert fake.thread("C1", other) == []


def test_answers_like_slack_for_errors(fake: FakeSlackApi, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as no_group:
        client.usergroups_users_list(usergroup="S404")
    with pytest.raises(SlackApiError) as no_message:
        client.chat_update(channel="C1", ts="1.000000", text="x")
    with pytest.raises(SlackApiError) as unknown:
        client.api_call("chat.scheduleMessage", json={"channel": "C1"})
    with pytest.raises(SlackApiError) as unauthenticated:
        WebClient(base_url=fake.url).auth_test()

    assert no_group.value.response["error"] == "no_such_subteam"
    assert no_message.value.response["error"] == "message_not_found"
    assert unknown.value.response["error"] == "unknown_method"
    assert unauthenticated.value.response["error"] == "not_authed"
    with pytest.raises(AssertionError, match="no message"):
        fake.message("C1", "1.000000")


def test_identity_users_and_ephemeral(fake: FakeSlackApi, client: WebClient) -> None:
    fake.users = {"U2": {"is_admin": True}}

    auth = client.auth_test()
    plain = client.users_info(user="U1")["user"]
    admin = client.users_info(user="U2")["user"]
    ephemeral = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    channel = client.conversations_info(channel="C1")["channel"]

    assert (auth["user_id"], auth["team_id"]) == (BOT_USER_ID, "T0TEAM")
    assert auth["bot_id"]
    assert auth["url"].startswith("https://")
    assert (plain["id"], plain["is_admin"], plain["deleted"], plain["is_bot"]) == (
        "U1",
        False,
        False,
        False,
    )
    assert admin["is_admin"] is True
    assert ephemeral["message_ts"]
    assert channel["id"] == "C1"


# --- waiting without sleeping ----------------------------------------------------------------


def test_wait_for_returns_at_once_when_calls_already_arrived(
    fake: FakeSlackApi, client: WebClient
) -> None:
    client.chat_postMessage(channel="C1", text="one")
    client.chat_postMessage(channel="C1", text="two")

    started = time.monotonic()
    calls = fake.wait_for("chat.postMessage", count=2, timeout=5.0)

    assert time.monotonic() - started < 0.5
    assert [c.params["text"] for c in calls] == ["one", "two"]


def test_wait_for_wakes_when_a_call_arrives_from_another_thread(
    fake: FakeSlackApi, client: WebClient
) -> None:
    poster = threading.Thread(target=lambda: client.chat_postMessage(channel="C1", text="hi"))
    poster.start()
    try:
        [call] = fake.wait_for("chat.postMessage", timeout=5.0)
    finally:
        poster.join()
    assert call.params["channel"] == "C1"


def test_wait_for_times_out_naming_what_it_saw(fake: FakeSlackApi, client: WebClient) -> None:
    client.auth_test()

    with pytest.raises(AssertionError, match=r"got 0.*auth\.test"):
        fake.wait_for("chat.postMessage", timeout=0.05)


# --- fault injection --------------------------------------------------------------------------


def test_rate_limit_is_retried_by_the_sdk_handler(fake: FakeSlackApi) -> None:
    client = WebClient(
        base_url=fake.url,
        token="xoxb-test",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)

    response = client.chat_postMessage(channel="C1", text="hi")

    assert response["ok"]
    attempts = fake.calls("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    # The handler honoured Retry-After: it waited at least one second between attempts.
    assert attempts[1].at - attempts[0].at >= 1.0
    assert fake.message("C1", response["ts"]).text == "hi"


def test_rate_limit_without_retry_handler_surfaces_429(
    fake: FakeSlackApi, client: WebClient
) -> None:
    fake.rate_limit("users.info", times=1, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="U1")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert client.users_info(user="U1")["ok"]


def test_fail_answers_ok_false_the_given_number_of_times(
    fake: FakeSlackApi, client: WebClient
) -> None:
    fake.fail("chat.postMessage", error="not_in_channel", times=2)

    errors = []
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel="C1", text="hi")
        errors.append(raised.value.response["error"])

    assert errors == ["not_in_channel", "not_in_channel"]
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]


def test_down_refuses_with_503_until_up(fake: FakeSlackApi, client: WebClient) -> None:
    fake.down()
    with pytest.raises(SlackApiError) as raised:
        client.auth_test()
    fake.up()

    assert raised.value.response.status_code == 503
    assert client.auth_test()["ok"]
    assert [c.status for c in fake.calls("auth.test")] == [503, 200]


def test_latency_delays_only_that_method(fake: FakeSlackApi, client: WebClient) -> None:
    fake.latency("users.info", 0.2)

    started = time.monotonic()
    client.users_info(user="U1")
    slow = time.monotonic() - started
    started = time.monotonic()
    client.auth_test()
    fast = time.monotonic() - started

    assert slow >= 0.2
    assert fast < 0.2


def test_reset_forgets_calls_messages_and_faults(fake: FakeSlackApi, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="hi")["ts"]
    fake.fail("auth.test", times=5)
    fake.usergroups = {"S1": ["U1"]}

    fake.reset()

    assert fake.calls() == []
    assert fake.usergroups == {}
    assert client.auth_test()["ok"]
    assert client.chat_postMessage(channel="C1", text="again")["ts"] > ts
    with pytest.raises(AssertionError):
        fake.message("C1", ts)


def test_response_url_sink_records_the_json_body(fake: FakeSlackApi) -> None:
    url = fake.response_url("cmd-1")

    answer = WebhookClient(url).send(text="Preview", response_type="ephemeral")

    assert (answer.status_code, answer.body) == (200, "ok")
    [call] = fake.wait_for("response_url")
    assert call.params == {"text": "Preview", "response_type": "ephemeral"}
    assert call.path == "/response/cmd-1"


# --- signing ------------------------------------------------------------------------------------


def test_sign_matches_the_sdk_and_verifies() -> None:
    """The builder end to end: a body built and signed here verifies with slack-sdk.

    `sign` itself uses `SignatureVerifier`, so this is no independent check of the
    HMAC; that check is Bolt accepting these requests over HTTP and refusing forged
    or stale ones (tests/e2e/test_serve.py, tests/e2e/test_security.py).
    """
    body = slash_command_body("i-abc")
    headers = sign(body, SECRET)
    verifier = SignatureVerifier(SECRET)

    expected = verifier.generate_signature(
        timestamp=headers["X-Slack-Request-Timestamp"], body=body
    )
    assert headers["X-Slack-Signature"] == expected
    assert verifier.is_valid_request(body, headers)


def test_tampered_body_fails_verification() -> None:
    body = slash_command_body("i-abc")
    headers = sign(body, SECRET)

    assert not SignatureVerifier(SECRET).is_valid_request(body.replace(b"i-abc", b"i-xyz"), headers)


def test_timestamp_older_than_five_minutes_fails_verification() -> None:
    body = slash_command_body("i-abc")
    headers = sign(body, SECRET, timestamp=int(time.time()) - 301)

    assert not SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_slash_command_body_carries_every_field() -> None:
    fields = parse_qs(
        slash_command_body("i-abc now", user_id="U9", response_url="http://x/r").decode()
    )

    expected = {"token", "team_id", "channel_id", "user_id", "user_name", "command", "text"}
    expected |= {"response_url", "trigger_id", "api_app_id"}
    assert expected <= fields.keys()
    assert fields["text"] == ["i-abc now"]
    assert fields["user_id"] == ["U9"]
    assert fields["command"] == ["/ecs-reboot"]
    assert fields["response_url"] == ["http://x/r"]


def test_block_action_body_carries_every_field() -> None:
    body = block_action_body(
        "confirm", "req-1", user_id="U9", channel_id="C9", message_ts="1700000000.000100"
    )
    [raw] = parse_qs(body.decode())["payload"]
    payload: dict[str, Any] = json.loads(raw)

    assert payload["type"] == "block_actions"
    assert {"api_app_id", "trigger_id", "response_url", "message"} <= payload.keys()
    assert payload["user"]["id"] == "U9"
    assert payload["user"]["username"]
    assert payload["team"]["id"]
    assert payload["team"]["domain"]
    assert payload["channel"]["id"] == "C9"
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C9",
        "is_ephemeral": False,
    }
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("confirm", "req-1", "button")
    assert action["block_id"] == "actions"
    assert action["action_ts"]


# --- the whole loop: signed requests into a real Bolt app, replies into the fake -----------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output for failures


@pytest.fixture
def bolt_url(fake: FakeSlackApi) -> Iterator[str]:
    """A minimal Bolt app over HTTP that acks, responds, and echoes what it parsed."""
    app = App(client=WebClient(base_url=fake.url, token="xoxb-test"), signing_secret=SECRET)

    @app.command("/ecs-reboot")
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(text=f"preview for {command['text']} by {command['user_id']}")

    @app.action("confirm")
    def on_confirm(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        container = body["container"]
        value, text = body["actions"][0]["value"], body["message"]["text"]
        respond(text=f"{value} at {container['message_ts']} on {text}")

    server: WSGIServer = make_server(
        "127.0.0.1", 0, SlackRequestHandler(app), handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_sender_drives_a_real_bolt_app(
    fake: FakeSlackApi, client: WebClient, bolt_url: str
) -> None:
    ts = client.chat_postMessage(channel="C0OPS", text="Reboot i-abc?")["ts"]

    with SlackRequestSender(bolt_url, SECRET) as slack:
        command = slack.command("i-abc", user_id="U7", response_url=fake.response_url("cmd"))
        click = slack.click(
            "confirm",
            "req-1",
            user_id="U7",
            channel_id="C0OPS",
            message_ts=ts,
            message=fake.message("C0OPS", ts).to_slack(),
            response_url=fake.response_url("click"),
        )
        replayed = slack.command("i-abc", timestamp=int(time.time()) - 600)

    assert (command.status_code, click.status_code) == (200, 200)
    assert replayed.status_code == 401
    replies = {c.path: c.params["text"] for c in fake.wait_for("response_url", count=2)}
    assert replies == {
        "/response/cmd": "preview for i-abc by U7",
        "/response/click": f"req-1 at {ts} on Reboot i-abc?",
    }
    # Bolt checked the token against the fake at start-up.
    assert fake.calls("auth.test")

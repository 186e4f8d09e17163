"""Requests built exactly as Slack sends them: signed slash commands and button clicks.

The bodies carry every field Slack sends. End-to-end tests post them over real HTTP
into the running app (`SlackRequestSender`), so Bolt's signature check, body parsing
and ack timing all run as in production; the console hands them to the app in-process
(`dispatch`), through the same signature check:

    with SlackRequestSender(app_url, SIGNING_SECRET) as slack:
        response = slack.command("i-abc123 reason", response_url=fake.response_url("c1"))
        assert response.status_code == 200

`sign` uses slack-sdk's `SignatureVerifier` rather than its own HMAC: the independent
check of the signatures is Bolt accepting them (and refusing forged or stale ones).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NotRequired, Self, TypedDict, Unpack
from urllib.parse import urlencode

import httpx
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.testing.slack_api import BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, Message

API_APP_ID = "A0BOT"
# Slack still sends the deprecated verification token; Bolt ignores it.
VERIFICATION_TOKEN = "verification-token-unused"  # noqa: S105 - not a secret, sent as is
DEFAULT_RESPONSE_URL = f"https://hooks.slack.com/commands/{TEAM_ID}/1/fake-response-url"

_trigger_counter = itertools.count(1)


def sign(body: bytes | str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for `body` (timestamp defaults to now).

    Pass an old `timestamp` to build a replayed request that must be refused.
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    try:
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    except UnicodeDecodeError:
        # slack-sdk decodes the body as UTF-8 first; a test of a body that is not UTF-8
        # still needs Slack's signature, which is over the raw bytes.
        raw = body if isinstance(body, bytes) else body.encode()
        digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
        signature = f"v0={digest.hexdigest()}"
    if signature is None:  # only for a missing timestamp, which cannot happen here
        raise RuntimeError("slack-sdk made no signature")
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def new_trigger_id() -> str:
    """A unique trigger_id shaped like Slack's (`<n>.<n>.<hex>`)."""
    n = next(_trigger_counter)
    return f"{int(time.time())}.{n}.{hashlib.sha256(str(n).encode()).hexdigest()[:32]}"


def slash_command_body(
    text: str,
    *,
    user_id: str = "U0OPER",
    user_name: str = "oper",
    channel_id: str = "C0OPS",
    channel_name: str | None = None,
    command: str = "/ecs-reboot",
    team_id: str = TEAM_ID,
    response_url: str = DEFAULT_RESPONSE_URL,
    trigger_id: str | None = None,
) -> bytes:
    """The form-encoded body Slack posts for a slash command.

    `trigger_id=None` makes a fresh unique one, as each real invocation has;
    `channel_name=None` names the channel after its id.
    """
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name or f"channel-{channel_id.lower()}",
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": API_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return urlencode(fields).encode()


def block_action_body(
    action_id: str,
    value: str,
    *,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str = DEFAULT_RESPONSE_URL,
    block_id: str = "actions",
    message: dict[str, Any] | None = None,
    user_name: str = "oper",
    channel_name: str | None = None,
    trigger_id: str | None = None,
    button: dict[str, Any] | None = None,
) -> bytes:
    """The form-encoded `payload=<json>` Slack posts when a button is clicked.

    `message` is the message that held the button (with its blocks); by default a bare
    bot message at `message_ts`. Pass `fake.message(channel, ts).to_slack()` to send
    the message as the bot last left it, buttons included. `button` (the element that
    was clicked) adds its `text` and `style` to the action, as Slack does.
    """
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if button is not None:
        action["text"] = button.get("text")
        if button.get("style"):
            action["style"] = button["style"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "token": VERIFICATION_TOKEN,
        "api_app_id": API_APP_ID,
        "trigger_id": trigger_id or new_trigger_id(),
        "response_url": response_url,
        "is_enterprise_install": False,
        "enterprise": None,
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN, "enterprise_id": None},
        "channel": {"id": channel_id, "name": channel_name or f"channel-{channel_id.lower()}"},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "message": message
        if message is not None
        else {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
            "ts": message_ts,
            "text": "",
            "blocks": [],
        },
        "state": {"values": {}},
        "actions": [action],
    }
    # Slack's JSON is compact; the exact bytes matter only because they are signed.
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def click_body(
    message: Message,
    block_id: str,
    button: dict[str, Any],
    *,
    user: str,
    channel_name: str,
    response_url: str = DEFAULT_RESPONSE_URL,
) -> bytes:
    """The body Slack posts when `user` clicks `button` (of `block_id`) on `message`."""
    return block_action_body(
        str(button.get("action_id") or ""),
        str(button.get("value") or ""),
        user_id=user,
        user_name=user.lower(),
        channel_id=message.channel,
        channel_name=channel_name,
        message_ts=message.ts,
        block_id=block_id,
        message=message.to_slack(),
        button=button,
        response_url=response_url,
    )


def dispatch(app: App, body: bytes | str, secret: str) -> str | None:
    """Sign `body` and run it through the app in-process; the ack's text, if it had one.

    Raises `RuntimeError` when the app refuses the request (a signature got wrong
    would be a bug worth seeing, not something to hide).
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    headers: dict[str, str | Sequence[str]] = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(text, secret),
    }
    response = app.dispatch(BoltRequest(body=text, headers=headers))
    if response.status != 200:
        raise RuntimeError(f"the app answered HTTP {response.status}: {response.body}")
    if not response.body:
        return None
    try:
        answer = json.loads(response.body)
    except ValueError:
        return str(response.body)
    said = answer.get("text") if isinstance(answer, dict) else None
    return str(said) if said else None


class CommandFields(TypedDict):
    """Keyword arguments of `slash_command_body` (for typed `SlackRequestSender.command`)."""

    user_id: NotRequired[str]
    user_name: NotRequired[str]
    channel_id: NotRequired[str]
    channel_name: NotRequired[str | None]
    command: NotRequired[str]
    team_id: NotRequired[str]
    response_url: NotRequired[str]
    trigger_id: NotRequired[str | None]


class ClickFields(TypedDict):
    """Keyword arguments of `block_action_body` (for typed `SlackRequestSender.click`)."""

    user_id: str
    channel_id: str
    message_ts: str
    response_url: NotRequired[str]
    block_id: NotRequired[str]
    message: NotRequired[dict[str, Any] | None]
    user_name: NotRequired[str]
    channel_name: NotRequired[str | None]
    trigger_id: NotRequired[str | None]
    button: NotRequired[dict[str, Any] | None]


class SlackRequestSender:
    """Posts signed Slack requests to `{base_url}/slack/events` over real HTTP.

    Use as a context manager (or call `close()`): it keeps one httpx client open.
    """

    def __init__(self, base_url: str, secret: str, *, timeout: float = 10.0) -> None:
        self.events_url = f"{base_url.rstrip('/')}/slack/events"
        self._secret = secret
        self._http = httpx.Client(timeout=timeout)

    def command(
        self, text: str, *, timestamp: int | None = None, **fields: Unpack[CommandFields]
    ) -> httpx.Response:
        """Invoke the slash command with `text`, as a user typing it would."""
        return self.post(slash_command_body(text, **fields), timestamp=timestamp)

    def click(
        self,
        action_id: str,
        value: str,
        *,
        timestamp: int | None = None,
        **fields: Unpack[ClickFields],
    ) -> httpx.Response:
        """Click the button `action_id` carrying `value` on a message."""
        return self.post(block_action_body(action_id, value, **fields), timestamp=timestamp)

    def post(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Post `body` signed with `timestamp`; `extra_headers` can override the signature."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(body, self._secret, timestamp),
            **(extra_headers or {}),
        }
        return self._http.post(self.events_url, content=body, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "API_APP_ID",
    "DEFAULT_RESPONSE_URL",
    "ClickFields",
    "CommandFields",
    "SlackRequestSender",
    "block_action_body",
    "click_body",
    "dispatch",
    "new_trigger_id",
    "sign",
    "slash_command_body",
]

"""What the person types, turned into the requests Slack would send, signed.

The bodies carry every field Slack sends (reference/slack-notes.md, "Payloads"), so
the app sees in the console exactly what it sees in production; they go through
Bolt's signature check by ``app.dispatch`` (no HTTP hop is needed for that).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot.console.terminal_slack import TEAM_DOMAIN, TEAM_ID, Message

API_APP_ID = "ACONSOLE"
# Slack still sends the deprecated verification token; Bolt ignores it.
VERIFICATION_TOKEN = "console-verification-token-unused"  # noqa: S105

_counter = itertools.count(1)


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's signing headers: HMAC-SHA256 of ``v0:{ts}:{body}``, hex, ``v0=``."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def _trigger_id() -> str:
    return f"{int(time.time())}.{next(_counter)}.{secrets.token_hex(16)}"


def _response_url(kind: str) -> str:
    # Nothing in the bot posts to response_url (it acks and uses chat.postEphemeral);
    # the field is there because Slack always sends it.
    return f"https://hooks.slack.local/{kind}/{TEAM_ID}/{next(_counter)}/{secrets.token_hex(8)}"


def slash_command_body(command: str, text: str, *, user: str, channel: Channel) -> str:
    """The form-encoded body Slack posts for ``{command} {text}``."""
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel.id,
            "channel_name": channel.name,
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": _response_url("commands"),
            "trigger_id": _trigger_id(),
        }
    )


def block_actions_body(
    message: Message, block_id: str, button: dict[str, Any], *, user: str, channel: Channel
) -> str:
    """The form-encoded ``payload=<json>`` Slack posts when ``button`` is clicked."""
    action: dict[str, Any] = {
        "action_id": button.get("action_id"),
        "block_id": block_id,
        "text": button.get("text"),
        "value": button.get("value"),
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if button.get("style"):
        action["style"] = button["style"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "token": VERIFICATION_TOKEN,
        "api_app_id": API_APP_ID,
        "trigger_id": _trigger_id(),
        "response_url": _response_url("actions"),
        "is_enterprise_install": False,
        "enterprise": None,
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN, "enterprise_id": None},
        "channel": {"id": channel.id, "name": channel.name},
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel.id,
            "is_ephemeral": False,
        },
        "message": message.to_slack(),
        "state": {"values": {}},
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def dispatch(app: App, body: str, secret: str) -> str | None:
    """Sign ``body`` and run it through the app; the ack's text, if it carried one.

    Raises ``RuntimeError`` when the app refuses the request (a signature the console
    got wrong would be a bug worth seeing, not something to hide).
    """
    headers: dict[str, str | Sequence[str]] = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(body, secret),
    }
    response = app.dispatch(BoltRequest(body=body, headers=headers))
    if response.status != 200:
        raise RuntimeError(f"the app answered HTTP {response.status}: {response.body}")
    if not response.body:
        return None
    try:
        answer = json.loads(response.body)
    except ValueError:
        return str(response.body)
    text = answer.get("text") if isinstance(answer, dict) else None
    return str(text) if text else None


__all__ = ["Channel", "block_actions_body", "dispatch", "sign", "slash_command_body"]

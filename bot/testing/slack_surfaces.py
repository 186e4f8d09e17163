"""Slack's requests for the surfaces beyond commands and buttons (docs/PRODUCT.md §5.14),
built as Slack sends them: the global and message shortcuts, a modal's submission, an
external select's options request, and the App Home event.

Each returns the body; :func:`post_event` and ``SlackRequestSender.post`` sign and send
it over HTTP, ``dispatch`` in-process (the console).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot.testing.slack_api import TEAM_DOMAIN, TEAM_ID
from bot.testing.slack_requests import (
    API_APP_ID,
    DEFAULT_RESPONSE_URL,
    VERIFICATION_TOKEN,
    SlackRequestSender,
    new_trigger_id,
    sign,
)


def _user(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID}


def _team() -> dict[str, Any]:
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def _form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def global_shortcut_body(callback_id: str, *, user_id: str, trigger_id: str | None = None) -> bytes:
    """The global shortcut ``callback_id`` chosen from Slack's shortcut menu (no channel)."""
    return _form(
        {
            "type": "shortcut",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{time.time():.6f}",
            "team": _team(),
            "user": _user(user_id),
            "callback_id": callback_id,
            "trigger_id": trigger_id or new_trigger_id(),
            "is_enterprise_install": False,
        }
    )


def message_shortcut_body(
    callback_id: str,
    *,
    user_id: str,
    channel_id: str,
    message: dict[str, Any],
    trigger_id: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
) -> bytes:
    """The message shortcut ``callback_id`` used on ``message`` (its ``ts``, ``text``,
    ``blocks``, ``attachments``) in ``channel_id``."""
    return _form(
        {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{time.time():.6f}",
            "team": _team(),
            "user": _user(user_id),
            "channel": {"id": channel_id, "name": f"channel-{channel_id.lower()}"},
            "callback_id": callback_id,
            "trigger_id": trigger_id or new_trigger_id(),
            "message_ts": message.get("ts"),
            "message": message,
            "response_url": response_url,
            "is_enterprise_install": False,
        }
    )


def view_submission_body(
    view: dict[str, Any], values: dict[str, dict[str, Any]], *, user_id: str
) -> bytes:
    """``view`` (as ``views.open`` answered it) submitted by ``user_id`` with ``values``
    (``{block_id: {action_id: element state}}``, as Slack puts them in ``state``)."""
    submitted = {**view, "state": {"values": values}}
    return _form(
        {
            "type": "view_submission",
            "token": VERIFICATION_TOKEN,
            "team": _team(),
            "user": _user(user_id),
            "api_app_id": API_APP_ID,
            "trigger_id": new_trigger_id(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
        }
    )


def block_suggestion_body(
    action_id: str, value: str, *, user_id: str, view: dict[str, Any], block_id: str
) -> bytes:
    """What Slack sends the options load URL while ``user_id`` types ``value`` into the
    external select ``action_id`` of ``view``."""
    return _form(
        {
            "type": "block_suggestion",
            "token": VERIFICATION_TOKEN,
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "api_app_id": API_APP_ID,
            "team": _team(),
            "user": _user(user_id),
            "container": {"type": "view", "view_id": view.get("id")},
            "view": view,
            "is_enterprise_install": False,
        }
    )


def home_opened_event(user_id: str, *, tab: str = "home") -> dict[str, Any]:
    """The ``event_callback`` body of ``app_home_opened`` (JSON, not a form)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": API_APP_ID,
        "type": "event_callback",
        "event_id": f"Ev{time.time_ns()}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": f"D{user_id[1:]}",
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        },
        "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}],
    }


def dispatch_answer(
    app: App, body: bytes, secret: str, *, content_type: str = "application/x-www-form-urlencoded"
) -> dict[str, Any]:
    """Sign ``body`` and run it through the app in-process (the console); the ack's JSON
    body (``{}`` when it was empty), e.g. a submission's ``response_action``."""
    text = body.decode("utf-8")
    headers: dict[str, str | Sequence[str]] = {"Content-Type": content_type, **sign(text, secret)}
    response = app.dispatch(BoltRequest(body=text, headers=headers))
    if response.status != 200:
        raise RuntimeError(f"the app answered HTTP {response.status}: {response.body}")
    if not response.body:
        return {}
    loaded = json.loads(response.body)
    return loaded if isinstance(loaded, dict) else {}


def post_event(sender: SlackRequestSender, event: dict[str, Any], secret: str) -> httpx.Response:
    """Post an Events API body (JSON) signed as Slack signs it."""
    body = json.dumps(event, separators=(",", ":")).encode()
    return sender.post(
        body, extra_headers={"Content-Type": "application/json", **sign(body, secret)}
    )


__all__ = [
    "DEFAULT_RESPONSE_URL",
    "block_suggestion_body",
    "dispatch_answer",
    "global_shortcut_body",
    "home_opened_event",
    "message_shortcut_body",
    "post_event",
    "view_submission_body",
]

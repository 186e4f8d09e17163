"""Socket Mode wiring (docs/PRODUCT.md §2 ``socket``): the handler is bound to our Bolt app, a
frame Slack would push over the WebSocket reaches our listeners and is acknowledged on
the same socket, and a missing app-level token stops start-up with one line.

No WebSocket is opened: the handler's client is built (as ``run_socket_mode`` builds
it) but its ``send_message``, the one call that writes to the socket, is recorded
instead. Slack's Web API and the ECS endpoint point at closed ports: nothing here may
call them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.bootstrap import Bot, build_bot
from bot.settings import Settings, SettingsError, load_settings
from bot.slack.socket_mode import socket_mode_handler

APP_TOKEN = "xapp-1-A0BOT-1234-SECRETVALUE"
BOT_TOKEN = "xoxb-SECRETVALUE"
CLOSED = "http://127.0.0.1:1"
_ENV_PREFIXES = ("SLACK_", "ECSBOT_", "ALIBABA_CLOUD_")


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) and not name.startswith("ECSBOT_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test passes counts (Bolt itself falls back to
    ``SLACK_SIGNING_SECRET`` from the environment)."""
    _clean(monkeypatch)


def socket_settings(tmp_path: Path, **overrides: str) -> Settings:
    return load_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=f"{CLOSED}/api/",
        ECSBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        ECSBOT_ECS_ENDPOINT=CLOSED,
        ALIBABA_CLOUD_ACCESS_KEY_ID="LTAIunit",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="unit-SECRETVALUE",
        ECSBOT_ADMINS="U0ADMIN",
        **overrides,
    )


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    # One bot and one handler for the module: closing a socket-mode client takes a
    # second (its message thread waits on its queue with a one-second timeout).
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean(monkeypatch)
        settings = socket_settings(tmp_path_factory.mktemp("socket"), SLACK_APP_TOKEN=APP_TOKEN)
        built = build_bot(settings, socket_mode=True)
    try:
        yield built
    finally:
        built.close()


class SentFrames:
    """What the handler wrote back on the WebSocket, by envelope id."""

    def __init__(self) -> None:
        self._frames: dict[str, dict[str, Any]] = {}
        self._arrived = threading.Condition()

    def send_message(self, message: str) -> None:
        frame = json.loads(message)
        with self._arrived:
            self._frames[frame["envelope_id"]] = frame
            self._arrived.notify_all()

    def wait(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        with self._arrived:
            found = self._arrived.wait_for(lambda: envelope_id in self._frames, timeout=timeout)
            assert found, f"no acknowledgement for {envelope_id}; sent: {self._frames}"
            return self._frames[envelope_id]


@pytest.fixture(scope="module")
def handler(bot: Bot) -> Iterator[tuple[SocketModeHandler, SentFrames]]:
    built = socket_mode_handler(bot.app, APP_TOKEN)
    sent = SentFrames()
    # The one write to the WebSocket; the client is discarded with the module.
    built.client.send_message = sent.send_message  # type: ignore[method-assign]
    try:
        yield built, sent
    finally:
        built.close()  # type: ignore[no-untyped-call]


def slash_command_frame(envelope_id: str, text: str, user: str) -> str:
    """A ``slash_commands`` envelope as Slack pushes it over the WebSocket."""
    return json.dumps(
        {
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "token": "unused",
                "team_id": "T0TEAM",
                "team_domain": "example",
                "channel_id": "C0OPS",
                "channel_name": "ops",
                "user_id": user,
                "user_name": "someone",
                "command": "/ecs-reboot",
                "text": text,
                "api_app_id": "A0BOT",
                "is_enterprise_install": "false",
                "response_url": f"{CLOSED}/response",
                "trigger_id": "1.2.3",
            },
        }
    )


def test_the_handler_is_bound_to_our_app_and_not_connected(
    bot: Bot, handler: tuple[SocketModeHandler, SentFrames]
) -> None:
    socket, _ = handler

    assert isinstance(socket, SocketModeHandler)
    assert socket.app is bot.app
    assert socket.app_token == APP_TOKEN
    assert socket.client.app_token == APP_TOKEN
    # The client opens the socket through the same Web API base URL as the bot.
    assert socket.client.web_client.base_url == bot.settings.slack_api_url
    assert socket.client.socket_mode_request_listeners == [socket.handle]
    assert socket.client.is_connected() is False


def test_a_slash_command_frame_reaches_our_listener_and_is_acked_on_the_socket(
    handler: tuple[SocketModeHandler, SentFrames],
) -> None:
    socket, sent = handler

    socket.client.enqueue_message(slash_command_frame("env-help", "help", "U0SOMEONE"))

    frame = sent.wait("env-help")
    assert frame["payload"]["response_type"] == "ephemeral"
    assert "/ecs-reboot" in frame["payload"]["text"]
    assert "--force" in frame["payload"]["text"]


def test_authorization_applies_over_socket_mode_too(
    handler: tuple[SocketModeHandler, SentFrames],
) -> None:
    socket, sent = handler

    socket.client.enqueue_message(
        slash_command_frame("env-deny", "cn-hangzhou/i-bp1abcdefgh1", "U0NOBODY")
    )

    text = sent.wait("env-deny")["payload"]["text"]
    assert text.startswith(":no_entry:")
    assert "no role" in text


def test_socket_mode_needs_no_signing_secret(bot: Bot) -> None:
    assert bot.settings.slack_signing_secret is None
    assert bot.app is not None


def test_socket_mode_without_the_app_token_stops_with_one_line(tmp_path: Path) -> None:
    settings = socket_settings(tmp_path, SLACK_SIGNING_SECRET="signing-SECRETVALUE")

    with pytest.raises(SettingsError) as refused:
        build_bot(settings, socket_mode=True)

    message = str(refused.value)
    assert message == "SLACK_APP_TOKEN is required for this command but is not set"
    assert "\n" not in message
    assert "SECRETVALUE" not in message
    assert not (tmp_path / "bot.db").exists(), "nothing starts before the settings are good"


def test_an_empty_app_token_counts_as_missing(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^SLACK_APP_TOKEN is required"):
        build_bot(socket_settings(tmp_path, SLACK_APP_TOKEN=""), socket_mode=True)


def test_http_mode_still_requires_the_signing_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET is required"):
        build_bot(socket_settings(tmp_path, SLACK_APP_TOKEN=APP_TOKEN))

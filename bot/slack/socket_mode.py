"""Socket Mode: the same app over a WebSocket that the bot opens to Slack, for
workspaces with no public URL. slack-bolt's handler reconnects on its own."""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler


def socket_mode_handler(app: App, app_token: str) -> SocketModeHandler:
    """The handler, not yet connected (tests inspect its wiring)."""
    return SocketModeHandler(app, app_token=app_token)


def run_socket_mode(app: App, app_token: str) -> None:
    """Connect and serve until the process is stopped."""
    socket_mode_handler(app, app_token).start()  # type: ignore[no-untyped-call]

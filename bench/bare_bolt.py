"""The floor for acks: a bare Bolt app on the same server as ``serve``.

A slash command and a button whose listeners only ``ack()``, Bolt verifying the
signature itself (``signing_secret``), the WSGI adapter Bolt ships, and waitress with the
bot's thread count (``bot.server.HttpServer``'s default). ``process_before_response``
is on, as in the bot (``bot.slack.app.build_app``): Bolt's default runs the listener on
a pool of its own and polls for the ack every 10 ms, which would make the floor slower
than it has to be. Authorization is a fixed result, as in the bot, so no
``auth.test`` is ever called.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from waitress.server import BaseWSGIServer, create_server

from bot.slack.blocks import ACTION_CONFIRM

THREADS = 16  # bot.server.HttpServer's default


def bare_app(signing_secret: str) -> App:
    def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token="xoxb-bare")

    app = App(
        signing_secret=signing_secret,
        authorize=authorize,
        process_before_response=True,
    )

    @app.command(re.compile(r"^/.+"))
    def on_command(ack: Ack) -> None:
        ack()

    @app.action(ACTION_CONFIRM)
    def on_click(ack: Ack) -> None:
        ack()

    return app


@contextmanager
def bare_bolt_server(signing_secret: str) -> Iterator[str]:
    """The bare app served on a loopback port; yields its ``/slack/events`` base URL."""
    server = create_server(
        SlackRequestHandler(bare_app(signing_secret)),
        host="127.0.0.1",
        port=0,
        threads=THREADS,
        ident="bare-bolt",
    )
    assert isinstance(server, BaseWSGIServer)
    thread = threading.Thread(target=server.run, name="bare-bolt-http", daemon=True)
    thread.start()
    assert server.socket is not None
    host, port = server.socket.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.close()
        thread.join(timeout=5)

"""The terminal Slack: a small Web API server on loopback for the bot's ``WebClient``.

The bot runs unchanged (``SLACK_API_URL`` points here), so the console exercises the
same transport as production: form and JSON bodies, the Bearer token, retries. Every
message the bot sends is kept (the buttons of a message are needed to click them) and
handed to ``on_event`` as it arrives, which is how the transcript shows it live.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_USER_ID = "UCONSOLEBOT"
BOT_ID = "BCONSOLEBOT"
TEAM_ID = "TCONSOLE"
TEAM_DOMAIN = "console"
WORKSPACE_URL = f"https://{TEAM_DOMAIN}.slack.local/"

# slack-sdk sends these as JSON strings inside form bodies, as lists in JSON bodies.
_STRUCTURED_FIELDS = ("blocks", "attachments", "metadata")


@dataclass(frozen=True)
class Message:
    """A message as the channel shows it now (a snapshot; an edit makes a new one)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    number: int = 0  # the session's own count of top-level messages: "msg 3"
    edits: int = 0

    def buttons(self) -> list[tuple[str, dict[str, Any]]]:
        """Every button with the block id of its actions block, in display order."""
        return [
            (str(block.get("block_id", "")), element)
            for block in self.blocks
            if block.get("type") == "actions"
            for element in block.get("elements") or []
            if element.get("type") == "button"
        ]

    def to_slack(self) -> dict[str, Any]:
        """The message object as Slack puts it in a ``block_actions`` payload."""
        shown: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            shown["thread_ts"] = self.thread_ts
        return shown


@dataclass(frozen=True)
class Posted:
    message: Message
    parent: Message | None = None  # set for a thread reply


@dataclass(frozen=True)
class Updated:
    message: Message


@dataclass(frozen=True)
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


Event = Posted | Updated | Ephemeral


class TerminalSlack:
    """Plays the Slack Web API methods the bot calls; reports each message it gets.

    ``on_event`` runs on the server's request threads, before the bot gets its answer,
    so a message is on screen by the time the bot's call returns.
    """

    def __init__(self, on_event: Callable[[Event], None]) -> None:
        self._on_event = on_event
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._messages: dict[tuple[str, str], Message] = {}
        self._order: list[tuple[str, str]] = []
        self._top_level = 0
        self._last_micros = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "usergroups.users.list": self._usergroup_members,
            "users.info": self._user_info,
        }

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a random loopback port; returns the base URL for ``SLACK_API_URL``."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # Join request threads on close so no socket outlives the console.
        server.daemon_threads = False
        server.block_on_close = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="terminal-slack",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the terminal Slack is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    # --- what the channel holds ------------------------------------------------------------

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return self._messages.get((channel, ts))

    def messages(self) -> list[Message]:
        """Every message in the order posted (each in its latest state)."""
        with self._lock:
            return [self._messages[key] for key in self._order]

    def wait_for_change(self, timeout: float) -> None:
        """Sleep until the next message arrives or changes, or ``timeout`` passes."""
        with self._changed:
            self._changed.wait(timeout)

    # --- the Web API methods ------------------------------------------------------------

    def _new_ts(self) -> str:
        # Slack's ts is "<seconds>.<6 digits>", unique and increasing in a channel.
        with self._lock:
            micros = max(int(time.time() * 1_000_000), self._last_micros + 1)
            self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return _ok(
            url=WORKSPACE_URL,
            team="Console",
            user="ecs-reboot-bot",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return _error("channel_not_found")
        if not params.get("text") and not params.get("blocks"):
            return _error("no_text")
        thread_ts = str(params.get("thread_ts") or "") or None
        ts = self._new_ts()
        with self._changed:
            parent = self._messages.get((channel, thread_ts)) if thread_ts else None
            if thread_ts is None:
                self._top_level += 1
            message = Message(
                channel=channel,
                ts=ts,
                text=str(params.get("text") or ""),
                blocks=list(params.get("blocks") or []),
                thread_ts=thread_ts,
                number=self._top_level if thread_ts is None else 0,
            )
            self._messages[(channel, ts)] = message
            self._order.append((channel, ts))
        self._report(Posted(message, parent))
        return _ok(channel=channel, ts=ts, message=message.to_slack())

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel") or ""), str(params.get("ts") or ""))
        with self._changed:
            current = self._messages.get(key)
            if current is None:
                return _error("message_not_found")
            # As in Slack, a field left out keeps its value; an empty list clears blocks.
            updated = replace(
                current,
                text=str(params["text"]) if "text" in params else current.text,
                blocks=list(params["blocks"] or []) if "blocks" in params else current.blocks,
                edits=current.edits + 1,
            )
            self._messages[key] = updated
        self._report(Updated(updated))
        return _ok(channel=updated.channel, ts=updated.ts, text=updated.text)

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, user = str(params.get("channel") or ""), str(params.get("user") or "")
        if not channel:
            return _error("channel_not_found")
        if not user:
            return _error("user_not_found")
        text = str(params.get("text") or "")
        self._report(Ephemeral(channel, user, text, list(params.get("blocks") or [])))
        return _ok(message_ts=self._new_ts())

    def _permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel") or ""), str(params.get("message_ts") or "")
        if not channel or not ts:
            return _error("invalid_arguments")
        return _ok(
            channel=channel, permalink=f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        )

    def _usergroup_members(self, params: dict[str, Any]) -> dict[str, Any]:
        # The console has no user groups: every group is empty.
        return _ok(users=[])

    def _user_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user") or "")
        if not user:
            return _error("user_not_found")
        name = user.lower()
        return _ok(
            user={
                "id": user,
                "team_id": TEAM_ID,
                "name": name,
                "real_name": name,
                "deleted": False,
                "is_admin": False,
                "is_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": False,
                "profile": {"real_name": name, "display_name": name},
            }
        )

    def _report(self, event: Event) -> None:
        try:
            self._on_event(event)
        finally:
            with self._changed:
                self._changed.notify_all()

    def answer(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        """The JSON answer to one Web API call (called on the server's threads)."""
        handler = self._methods.get(method)
        if handler is None:
            return _error("unknown_method")
        if not token:
            return _error("not_authed")
        return handler(params)


def _ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


def _error(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """A Web API call's params from a form or JSON body, JSON-in-form fields decoded."""
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        loaded = json.loads(raw)
        return dict(loaded) if isinstance(loaded, Mapping) else {}
    params: dict[str, Any] = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    for name in _STRUCTURED_FIELDS:
        value = params.get(name)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            params[name] = json.loads(value)
    return params


def _handler_for(slack: TerminalSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # One request per connection: no idle keep-alive socket can hold up stop().
        protocol_version = "HTTP/1.0"
        timeout = 10

        def do_POST(self) -> None:
            self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def do_GET(self) -> None:
            self._serve(b"")

        def _serve(self, raw: bytes) -> None:
            parts = urlsplit(self.path)
            params: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
            try:
                params.update(parse_body(self.headers.get("Content-Type") or "", raw))
            except (ValueError, UnicodeDecodeError):
                self._send(_error("invalid_form_data"))
                return
            method = parts.path.removeprefix("/").removeprefix("api/")
            self._send(slack.answer(method, params, self._token(params)))

        def _token(self, params: dict[str, Any]) -> str | None:
            authorization = self.headers.get("Authorization") or ""
            if authorization.startswith("Bearer "):
                return authorization.removeprefix("Bearer ")
            token = params.get("token")
            return str(token) if token else None

        def _send(self, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            # The transcript shows the messages; access logs would only clutter it.
            pass

    return Handler


__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "Ephemeral",
    "Event",
    "Message",
    "Posted",
    "TerminalSlack",
    "Updated",
    "parse_body",
]

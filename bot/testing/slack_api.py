"""A fake Slack Web API on loopback: the one the tests, the benchmarks and the console use.

Why a real HTTP server rather than a patched client: the bot talks to Slack through
`slack_sdk.WebClient` (and Bolt's `respond()` through `WebhookClient`), and what we
want to prove includes the transport — form vs JSON bodies, the Bearer token, HTTP 429
with `Retry-After`, retry handlers, timeouts. Pointing `WebClient(base_url=fake.url)`
at this server exercises all of it, the way slack-bolt's own test suite does.

Use:

    with FakeSlackApi() as fake:
        client = WebClient(base_url=fake.url, token="xoxb-test")
        client.chat_postMessage(channel="C1", text="hi")
        [call] = fake.wait_for("chat.postMessage")

The server also plays `response_url` (any POST to `/response/<name>`), so Bolt's
`respond()` lands here too, recorded under the method name `"response_url"`.

Two kinds of hooks: tests read what happened (`calls`, `wait_for`, `message`, `posted`,
`thread`) and inject faults (`rate_limit`, `fail`, `fail_channel`, `latency`, `down`);
the console passes `on_event` and is told of each message as it arrives (`Posted`,
`Updated`, `Ephemeral`, `ViewShown`), which is how its transcript shows them live.

Why one long file (about 800 lines): the fake is one server whose every Web API method
reads and writes the same messages, views and faults under one lock; split across
modules its methods would only reach into each other's state.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

RESPONSE_URL_METHOD = "response_url"
"""The method name under which POSTs to a `response_url` are recorded."""

BOT_USER_ID = "UBOT"
BOT_ID = "B0BOT"
TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "example"
WORKSPACE_URL = f"https://{TEAM_DOMAIN}.slack.com/"

# Slack's message ts is "<unix seconds>.<6 digits>"; start here and count up so every
# ts is unique and strictly increasing across channels, like a single clock.
_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100
# slack-sdk sends these as JSON strings inside form bodies, as lists in JSON bodies.
_STRUCTURED_FIELDS = ("blocks", "attachments", "metadata", "view")
# Slack's trigger_id is good for one views.open within three seconds of the interaction.
TRIGGER_TTL_SECONDS = 3.0


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request the fake received, in arrival order.

    `status` is the HTTP status the fake answered with (429 for a rate-limited
    attempt, 503 while down), so retried attempts can be told apart from the one that
    succeeded. `path` is the request path; it names the `response_url` that was used.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    status: int = 200
    path: str = ""


@dataclass(frozen=True)
class Message:
    """A message as the channel shows it now (a snapshot; an edit makes a new one).

    `number` counts the fake's top-level messages from 1 ("msg 3" in the console);
    thread replies have 0.
    """

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    number: int = 0
    user: str = BOT_USER_ID
    edits: int = 0
    attachments: list[dict[str, Any]] = field(default_factory=list)

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
        """The message object as Slack shows it (API echoes, `block_actions` payloads)."""
        shown: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            shown["thread_ts"] = self.thread_ts
        if self.attachments:
            shown["attachments"] = self.attachments
        if self.user != BOT_USER_ID:
            del shown["bot_id"]
        return shown


@dataclass(frozen=True)
class Posted:
    """A new message; `parent` is set for a thread reply (when the parent is known)."""

    message: Message
    parent: Message | None = None


@dataclass(frozen=True)
class Updated:
    """A message edited by `chat.update` (its new state)."""

    message: Message


@dataclass(frozen=True)
class Ephemeral:
    """A `chat.postEphemeral`: shown to `user` only, never stored."""

    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ViewShown:
    """A modal opened or updated (``views.open``/``views.update``), or a user's App Home
    published (``views.publish``): ``kind`` is ``modal`` or ``home``."""

    kind: str
    view_id: str
    view: dict[str, Any]
    user: str | None = None


Event = Posted | Updated | Ephemeral | ViewShown
"""What `on_event` is told about, in the order the fake answered the calls."""


@dataclass
class _Faults:
    """Pending fault injections; counters are consumed by the calls they hit."""

    rate_limits: dict[str, list[int]] = field(default_factory=dict)  # method -> [times, after]
    failures: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # -> [(error, n)]
    latency: dict[str, float] = field(default_factory=dict)
    failing_channels: dict[str, str] = field(default_factory=dict)  # channel -> error
    down: bool = False


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlackApi:
    """A threaded loopback HTTP server that answers like the Slack Web API.

    Configure directory data through the public dicts `usergroups`
    (`{"S123": ["U1", "U2"]}`) and `users` (`{"U1": {"is_admin": True}}`, merged into
    the default profile). Inject faults with `rate_limit`, `fail`, `latency`, `down`.

    `on_event` runs on the server's request threads, before the bot gets its answer,
    so a message is on screen by the time the bot's call returns.
    """

    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self._on_event = on_event
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        # One condition over the same lock: `wait_for` sleeps on it and each recorded
        # call wakes it, so tests never poll.
        self._arrived = threading.Condition(self._lock)
        self._calls: list[RecordedCall] = []
        self._messages: dict[tuple[str, str], Message] = {}
        self._order: list[tuple[str, str]] = []
        self._top_level = 0
        self._faults = _Faults()
        self._next_ts = _FIRST_TS_MICROS
        # Set on stop() so an injected latency ends at once instead of holding up
        # shutdown (stop joins the handler threads).
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], _Answer]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }
        # Modals by view id, and each user's published App Home.
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}
        self._used_triggers: set[str] = set()
        self._next_view = 1

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a random loopback port and serve on a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeSlackApi is already running")
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        # Join request threads on close, so no socket outlives the fake (ResourceWarning
        # is an error in this suite).
        server.daemon_threads = False
        server.block_on_close = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-slack-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wait for in-flight requests, and close the socket."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for `WebClient(base_url=...)`; ends with a slash as slack-sdk expects."""
        if self._server is None:
            raise RuntimeError("FakeSlackApi is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def response_url(self, name: str) -> str:
        """A `response_url` served by this fake; POSTs to it are recorded as `response_url`."""
        return f"{self.url}response/{name}"

    # --- what happened --------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Every call so far (or only those of `method`), in arrival order."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until at least `count` calls of `method` arrived; return all of them so far.

        Use it instead of sleeping when the bot calls Slack from another thread (Bolt
        listeners, lazy listeners, the poller). Raises AssertionError on timeout, naming
        what did arrive.
        """
        with self._arrived:
            matched = self._arrived.wait_for(
                lambda: sum(c.method == method for c in self._calls) >= count, timeout=timeout
            )
            seen = list(self._calls)
        if not matched:
            got = [c for c in seen if c.method == method]
            raise AssertionError(
                f"waited {timeout}s for {count} call(s) of {method}, got {len(got)}; "
                f"all calls seen: {[(c.method, c.status) for c in seen]}"
            )
        return [c for c in seen if c.method == method]

    def find(self, channel: str, ts: str) -> Message | None:
        """The latest state of a posted message, or None."""
        with self._lock:
            return self._messages.get((channel, ts))

    def messages(self) -> list[Message]:
        """Every message (threads included) in the order posted, each in its latest state."""
        with self._lock:
            return [self._messages[key] for key in self._order]

    def wait_for_change(self, timeout: float) -> None:
        """Sleep until the next message arrives or changes, or `timeout` passes."""
        with self._arrived:
            self._arrived.wait(timeout)

    def message(self, channel: str, ts: str) -> Message:
        """The latest state of a posted message; AssertionError if there is none."""
        with self._lock:
            found = self._messages.get((channel, ts))
            known = sorted(t for c, t in self._messages if c == channel)
        if found is None:
            raise AssertionError(f"no message {ts} in {channel}; messages there: {known}")
        return found

    def posted(self, channel: str) -> list[Message]:
        """Messages that made it into `channel` (threads left out), oldest first."""
        with self._lock:
            found = [m for m in self._messages.values() if m.channel == channel and not m.thread_ts]
        return sorted(found, key=lambda m: m.ts)

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies in the thread under `thread_ts` (the parent excluded), oldest first."""
        with self._lock:
            replies = [
                m
                for m in self._messages.values()
                if m.channel == channel and m.thread_ts == thread_ts and m.ts != thread_ts
            ]
        return sorted(replies, key=lambda m: m.ts)

    def reset(self) -> None:
        """Forget calls, messages, faults and directory data: a fresh fake on the same port.

        The ts clock and the message numbers keep counting so a ts from an earlier test
        never matches a new one.
        """
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._order.clear()
            self._faults = _Faults()
            self.usergroups = {}
            self.users = {}
            self.views = {}
            self.homes = {}

    # --- fault injection -------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and `Retry-After`."""
        with self._lock:
            self._faults.rate_limits[method] = [times, retry_after]

    def fail(self, method: str, error: str = "channel_not_found", times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `{"ok": false, "error": error}`."""
        with self._lock:
            self._faults.failures.setdefault(method, []).append((error, times))

    def fail_channel(self, channel: str, error: str = "internal_error") -> None:
        """Answer every call naming `channel` with `{"ok": false, "error": error}` until
        `heal_channel(channel)`."""
        with self._lock:
            self._faults.failing_channels[channel] = error

    def heal_channel(self, channel: str) -> None:
        with self._lock:
            self._faults.failing_channels.pop(channel, None)

    def heal(self, method: str) -> None:
        """Forget the failures and rate limits still pending for `method`."""
        with self._lock:
            self._faults.failures.pop(method, None)
            self._faults.rate_limits.pop(method, None)

    def latency(self, method: str, seconds: float) -> None:
        """Delay every answer to `method` by `seconds` (0 removes the delay)."""
        with self._lock:
            if seconds > 0:
                self._faults.latency[method] = seconds
            else:
                self._faults.latency.pop(method, None)

    def down(self) -> None:
        """Answer every request with HTTP 503 until `up()`."""
        with self._lock:
            self._faults.down = True

    def up(self) -> None:
        with self._lock:
            self._faults.down = False

    # --- request handling (called on the server's threads) --------------------------

    def _handle(self, method: str, params: dict[str, Any], token: str | None, path: str) -> _Answer:
        with self._lock:
            delay = self._faults.latency.get(method, 0.0)
        if delay:
            self._stopping.wait(delay)
        with self._lock:
            answer = self._injected_fault(method, str(params.get("channel", "")))
        if answer is None:
            answer = self._answer(method, params, token)
        with self._arrived:
            self._calls.append(
                RecordedCall(method, params, token, time.time(), answer.status, path)
            )
            self._arrived.notify_all()
        return answer

    def _injected_fault(self, method: str, channel: str) -> _Answer | None:
        """Consume one pending fault for `method`, if any. Caller holds the lock."""
        faults = self._faults
        if faults.down:
            return _Answer(HTTPStatus.SERVICE_UNAVAILABLE, _error("service_unavailable"))
        if channel in faults.failing_channels:
            return _Answer(HTTPStatus.OK, _error(faults.failing_channels[channel]))
        pending = faults.rate_limits.get(method)
        if pending is not None:
            pending[0] -= 1
            if pending[0] <= 0:
                del faults.rate_limits[method]
            return _Answer(
                HTTPStatus.TOO_MANY_REQUESTS,
                _error("ratelimited"),
                {"Retry-After": str(pending[1])},
            )
        queue = faults.failures.get(method)
        if queue:
            error, times = queue[0]
            if times <= 1:
                queue.pop(0)
            else:
                queue[0] = (error, times - 1)
            return _Answer(HTTPStatus.OK, _error(error))
        return None

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> _Answer:
        if method == RESPONSE_URL_METHOD:
            # Slack's response_url answers a bare "ok", not JSON.
            return _Answer(HTTPStatus.OK, "ok")
        handler = self._handlers.get(method)
        if handler is None:
            return _Answer(HTTPStatus.OK, _error("unknown_method"))
        if not token:
            return _Answer(HTTPStatus.OK, _error("not_authed"))
        return handler(params)

    def _new_ts(self) -> str:
        with self._lock:
            micros = self._next_ts
            self._next_ts += _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # --- the methods -----------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> _Answer:
        return _ok(
            url=WORKSPACE_URL,
            team="Example",
            user="ecs-reboot-bot",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    def _chat_post_message(self, params: dict[str, Any]) -> _Answer:
        channel = params.get("channel")
        if not channel:
            return _Answer(HTTPStatus.OK, _error("channel_not_found"))
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return _Answer(HTTPStatus.OK, _error("no_text"))
        thread_ts = str(params.get("thread_ts") or "") or None
        ts = self._new_ts()
        with self._lock:
            parent = self._messages.get((str(channel), thread_ts)) if thread_ts else None
            if thread_ts is None:
                self._top_level += 1
            message = Message(
                channel=str(channel),
                ts=ts,
                text=str(params.get("text") or ""),
                blocks=list(params.get("blocks") or []),
                thread_ts=thread_ts,
                number=self._top_level if thread_ts is None else 0,
            )
            self._messages[(message.channel, message.ts)] = message
            self._order.append((message.channel, message.ts))
        self._report(Posted(message, parent))
        return _ok(channel=message.channel, ts=message.ts, message=message.to_slack())

    def _chat_update(self, params: dict[str, Any]) -> _Answer:
        key = (str(params.get("channel", "")), str(params.get("ts", "")))
        with self._lock:
            current = self._messages.get(key)
            if current is None:
                return _Answer(HTTPStatus.OK, _error("message_not_found"))
            # Like Slack, a field left out of chat.update keeps its previous value
            # (an empty `blocks` list is how callers remove the buttons).
            updated = replace(
                current,
                text=str(params["text"]) if "text" in params else current.text,
                blocks=list(params["blocks"] or []) if "blocks" in params else current.blocks,
                edits=current.edits + 1,
            )
            self._messages[key] = updated
        self._report(Updated(updated))
        return _ok(
            channel=updated.channel, ts=updated.ts, text=updated.text, message=updated.to_slack()
        )

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> _Answer:
        channel, user = str(params.get("channel") or ""), str(params.get("user") or "")
        if not channel:
            return _Answer(HTTPStatus.OK, _error("channel_not_found"))
        if not user:
            return _Answer(HTTPStatus.OK, _error("user_not_found"))
        # Ephemeral messages are not stored: Slack cannot update or fetch them either.
        text = str(params.get("text") or "")
        self._report(Ephemeral(channel, user, text, list(params.get("blocks") or [])))
        return _ok(message_ts=self._new_ts())

    def post_as_user(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0HUMAN",
        attachments: list[dict[str, Any]] | None = None,
    ) -> Message:
        """A message a person (or another app) posted: what a message shortcut is used
        on. It is not an API call of the bot's, so it is not recorded as one."""
        ts = self._new_ts()
        with self._lock:
            self._top_level += 1
            message = Message(
                channel=channel,
                ts=ts,
                text=text,
                blocks=[],
                number=self._top_level,
                user=user,
                attachments=list(attachments or []),
            )
            self._messages[(channel, ts)] = message
            self._order.append((channel, ts))
        self._report(Posted(message))
        return message

    def _views_open(self, params: dict[str, Any]) -> _Answer:
        trigger = str(params.get("trigger_id") or "")
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            return _Answer(HTTPStatus.OK, _error("invalid_arguments"))
        problem = self._trigger_problem(trigger)
        if problem:
            return _Answer(HTTPStatus.OK, _error(problem))
        with self._lock:
            view_id = f"V{self._next_view:08d}"
            self._next_view += 1
            shown = {**view, "id": view_id, "state": {"values": {}}}
            self.views[view_id] = shown
        self._report(ViewShown("modal", view_id, shown))
        return _ok(view=shown)

    def _trigger_problem(self, trigger: str) -> str | None:
        """Slack's error for a trigger_id that is unusable: malformed, used, or older
        than three seconds (its first part is the moment of the interaction)."""
        issued, _, rest = trigger.partition(".")
        if not issued.isdigit() or not rest:
            return "invalid_trigger_id"
        with self._lock:
            if trigger in self._used_triggers:
                return "exchanged_trigger_id"
            if time.time() - int(issued) > TRIGGER_TTL_SECONDS + 1:
                return "expired_trigger_id"
            self._used_triggers.add(trigger)
        return None

    def _views_update(self, params: dict[str, Any]) -> _Answer:
        view_id = str(params.get("view_id") or "")
        view = params.get("view")
        with self._lock:
            if view_id not in self.views or not isinstance(view, dict):
                return _Answer(HTTPStatus.OK, _error("not_found"))
            shown = {**view, "id": view_id, "state": {"values": {}}}
            self.views[view_id] = shown
        self._report(ViewShown("modal", view_id, shown))
        return _ok(view=shown)

    def _views_publish(self, params: dict[str, Any]) -> _Answer:
        user = str(params.get("user_id") or "")
        view = params.get("view")
        if not user:
            return _Answer(HTTPStatus.OK, _error("user_not_found"))
        if not isinstance(view, dict) or view.get("type") != "home":
            return _Answer(HTTPStatus.OK, _error("invalid_arguments"))
        if len(view.get("blocks") or []) > 100:
            return _Answer(HTTPStatus.OK, _error("invalid_arguments"))
        with self._lock:
            view_id = str(self.homes.get(user, {}).get("id") or f"VH{len(self.homes) + 1:07d}")
            shown = {**view, "id": view_id}
            self.homes[user] = shown
        self._report(ViewShown("home", view_id, shown, user=user))
        return _ok(view=shown)

    def _report(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _chat_get_permalink(self, params: dict[str, Any]) -> _Answer:
        channel = str(params.get("channel", ""))
        message_ts = str(params.get("message_ts", ""))
        if not channel or not message_ts:
            return _Answer(HTTPStatus.OK, _error("invalid_arguments"))
        permalink = f"{WORKSPACE_URL}archives/{channel}/p{message_ts.replace('.', '')}"
        return _ok(channel=channel, permalink=permalink)

    def _users_info(self, params: dict[str, Any]) -> _Answer:
        user_id = str(params.get("user", ""))
        if not user_id:
            return _Answer(HTTPStatus.OK, _error("user_not_found"))
        name = user_id.lower()
        user: dict[str, Any] = {
            "id": user_id,
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
        with self._lock:
            user.update(self.users.get(user_id, {}))
        return _ok(user=user)

    def _usergroups_users_list(self, params: dict[str, Any]) -> _Answer:
        with self._lock:
            members = self.usergroups.get(str(params.get("usergroup", "")))
        if members is None:
            return _Answer(HTTPStatus.OK, _error("no_such_subteam"))
        return _ok(users=list(members))

    def _conversations_info(self, params: dict[str, Any]) -> _Answer:
        channel_id = str(params.get("channel", ""))
        if not channel_id:
            return _Answer(HTTPStatus.OK, _error("channel_not_found"))
        return _ok(
            channel={
                "id": channel_id,
                "name": f"channel-{channel_id.lower()}",
                "is_channel": True,
                "is_private": False,
                "is_im": False,
                "is_member": True,
                "is_archived": False,
            }
        )


# --- helpers ---------------------------------------------------------------------------


def _ok(**fields: Any) -> _Answer:
    return _Answer(HTTPStatus.OK, {"ok": True, **fields})


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


def _make_handler(fake: FakeSlackApi) -> type[BaseHTTPRequestHandler]:
    class _SlackHandler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so no idle keep-alive socket can hold up
        # stop() while it joins the handler threads.
        protocol_version = "HTTP/1.0"
        # A client that connects and sends nothing must not hang shutdown for long.
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
                self._send(_Answer(HTTPStatus.OK, _error("invalid_form_data")))
                return
            path = parts.path
            if path.startswith("/response/"):
                method = RESPONSE_URL_METHOD
            else:
                # WebClient posts to f"{base_url}{method}" ("/chat.postMessage"); also
                # accept the "/api/" prefix real Slack URLs carry.
                method = path.removeprefix("/").removeprefix("api/")
            answer = fake._handle(method, params, self._token(params), path)
            self._send(answer)

        def _token(self, params: dict[str, Any]) -> str | None:
            authorization = self.headers.get("Authorization") or ""
            if authorization.startswith("Bearer "):
                return authorization.removeprefix("Bearer ")
            token = params.get("token")
            return str(token) if token else None

        def _send(self, answer: _Answer) -> None:
            if isinstance(answer.body, str):
                payload, content_type = answer.body.encode(), "text/plain; charset=utf-8"
            else:
                payload = json.dumps(answer.body).encode()
                content_type = "application/json; charset=utf-8"
            self.send_response(answer.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            # Quiet: pytest output should show test failures, not access logs.
            pass

    return _SlackHandler


__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "RESPONSE_URL_METHOD",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "WORKSPACE_URL",
    "Ephemeral",
    "Event",
    "FakeSlackApi",
    "Message",
    "Posted",
    "RecordedCall",
    "Updated",
    "ViewShown",
    "parse_body",
]

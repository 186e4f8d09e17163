"""HTTP plumbing: turn a socket request into an ``HttpRequest``, and a ``Reply`` back
into bytes. What a request means is decided elsewhere (``Simulator.handle_rpc`` for the
ECS endpoint, ``admin.py`` for ``/_sim/``).

``ThreadingHTTPServer`` serves each connection on its own thread; HTTP/1.1 keep-alive
lets a client (the SDK's ``requests`` pool, the bot's ``httpx``) reuse a connection, so
a benchmark is not dominated by connection set-up.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
ADMIN_PREFIX = "/_sim/"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def form(self) -> dict[str, str]:
        """The body's parameters when it is form-encoded (V1 clients may POST them)."""
        if not self.headers.get("content-type", "").startswith(FORM_CONTENT_TYPE):
            return {}
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else {}


@dataclass
class Reply:
    """What to send back; ``drop`` closes the connection without an answer."""

    status: int
    body: dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


Handler = Callable[[HttpRequest], Reply]


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never keeps the process alive
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], rpc: Handler, admin: Handler) -> None:
        self.rpc = rpc
        self.admin = admin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Cut kept-alive connections, so a stopped simulator stops answering at once."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecs-simulator"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    # A reply leaves in one write (response_bytes); Nagle stays off anyway, so that no
    # reply can ever wait for the peer's delayed ACK (~40 ms a call on loopback).
    disable_nagle_algorithm = True
    server: SimulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()  # http.server dispatches on these names

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a benchmark at hundreds of calls a second must not flood stderr."""

    def _serve(self) -> None:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            self._send(
                Reply(411, {"Code": "MissingContentLength", "Message": "Send Content-Length."})
            )
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            path=split.path or "/",
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        handler = self.server.admin if request.path.startswith(ADMIN_PREFIX) else self.server.rpc
        try:
            reply = handler(request)
        except Exception:
            logger.exception("simulator failed on %s %s", self.command, split.path)
            reply = Reply(500, {"Code": "InternalError", "Message": "Simulator bug; see its log."})
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.log_request(reply.status)
        # One buffer, one write: the status line, the headers send_response would have
        # sent (Server, Date) and the body, so that a call costs one system call and
        # never waits on Nagle for a second segment.
        self.wfile.write(response_bytes(reply, self.version_string()))


def response_bytes(reply: Reply, server: str, now: float | None = None) -> bytes:
    """``reply`` as a complete HTTP/1.1 response: status line, headers, JSON body."""
    # orjson: the JSON of a 100-instance page is most of the simulator's work per call.
    payload = orjson.dumps(reply.body) if reply.body is not None else b""
    head = [
        f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
        f"Server: {server}",
        f"Date: {_http_date(int(time.time() if now is None else now))}",
        "Content-Type: application/json;charset=utf-8",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in reply.headers.items()),
    ]
    return "\r\n".join([*head, "", ""]).encode("latin-1") + payload


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


@functools.lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    # The same text BaseHTTPRequestHandler.date_time_string writes, once a second
    # instead of once a call.
    return email.utils.formatdate(second, usegmt=True)

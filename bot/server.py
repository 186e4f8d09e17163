"""HTTP mode: a WSGI app (Slack on ``POST /slack/events``, ``GET /healthz``,
``GET /metrics``, CloudMonitor on ``POST /hooks/cloudmonitor/<token>``) served by
waitress, a production-grade multi-threaded server.

Why waitress rather than gunicorn: it runs in-process (the poller shares the process,
as docs/PRODUCT.md §2 asks), is pure Python, and can be started on a random port in tests.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

from bot import cloudmonitor, metrics
from bot.cloudmonitor import CloudMonitorHook
from bot.domain.alarms import MAX_BODY_BYTES as MAX_ALARM_BYTES
from bot.priority import AckGate
from bot.slack import gate

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            # The schema, not just the server: a database dropped or emptied under a
            # running bot is not healthy either.
            connection.execute(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError as error:
        log.warning("health check: the database did not answer: %s", type(error).__name__)
        return False
    return True


class WebApp:
    """Routes the three paths; everything else is 404."""

    def __init__(
        self,
        app: App,
        *,
        signing_secret: str,
        health: Callable[[], bool],
        cloudmonitor: CloudMonitorHook | None = None,
        gate: AckGate | None = None,
    ) -> None:
        self._app = app
        self._signing_secret = signing_secret
        self._health = health
        self._cloudmonitor = cloudmonitor
        # The after-ack work waits while Slack requests are being answered (acks first).
        self._gate = gate or AckGate()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = self._health()
            body = json.dumps({"status": "ok" if healthy else "unavailable", "database": healthy})
            status = "200 OK" if healthy else "503 Service Unavailable"
            return _reply(start_response, status, "application/json", body.encode())
        if path == "/metrics" and method == "GET":
            return _reply(start_response, "200 OK", CONTENT_TYPE_LATEST, generate_latest())
        if path == SLACK_PATH:
            if method != "POST":
                return _reply(
                    start_response, "405 Method Not Allowed", "text/plain", b"POST only\n"
                )
            started = time.perf_counter()
            try:
                with self._gate.answering():
                    return self._slack(environ, start_response)
            finally:
                # Bolt answers once the listener acked (the slow work runs after), so
                # this is the time Slack waits for us.
                metrics.ACK_SECONDS.observe(time.perf_counter() - started)
        if path.startswith(cloudmonitor.PATH_PREFIX) and method == "POST":
            return self._alarm(path.removeprefix(cloudmonitor.PATH_PREFIX), environ, start_response)
        return _reply(start_response, "404 Not Found", "text/plain", b"Not Found\n")

    def _alarm(
        self, token: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> list[bytes]:
        hook = self._cloudmonitor
        # No hook, a wrong token: the same 404 as any unknown path, nothing read.
        if hook is None or not token or not hook.authentic(token):
            return _reply(start_response, "404 Not Found", "text/plain", b"Not Found\n")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_ALARM_BYTES:
            answer = cloudmonitor.HookAnswer(413, "body over 64 KiB")
        else:
            body = environ["wsgi.input"].read(length) if length else b""
            answer = hook.handle(token, body, str(environ.get("CONTENT_TYPE") or ""))
        status = f"{answer.status} {HTTPStatus(answer.status).phrase}"
        return _reply(start_response, status, "text/plain", f"{answer.text}\n".encode())

    def _slack(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > gate.MAX_BODY_BYTES:
            return _refuse(start_response, gate.Refusal(413, "request body too large"))
        body = environ["wsgi.input"].read(length) if length else b""
        headers: dict[str, str | Sequence[str]] = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        content_type = str(environ.get("CONTENT_TYPE") or "")
        headers["content-type"] = content_type
        refusal = gate.verify(self._signing_secret, body, {k: str(v) for k, v in headers.items()})
        if refusal is not None:
            return _refuse(start_response, refusal)
        parsed = gate.parse(body, content_type)
        if isinstance(parsed, gate.Refusal):
            return _refuse(start_response, parsed)
        # Verified and parsed here, so Bolt gets the object itself (it would parse the
        # raw body its own, laxer way).
        response = self._app.dispatch(
            BoltRequest(
                body=parsed,
                query=str(environ.get("QUERY_STRING") or ""),
                headers=headers,
                mode="socket_mode",
            )
        )
        payload = response.body.encode("utf-8")
        response_headers = [
            (name, value) for name, values in response.headers.items() for value in values
        ]
        if not any(name.lower() == "content-length" for name, _ in response_headers):
            response_headers.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", response_headers)
        return [payload]


# How long the loop waits in select() before it looks at the stop flag again.
_LOOP_SECONDS = 0.5


def _refuse(start_response: StartResponse, refusal: gate.Refusal) -> list[bytes]:
    log.info("refused a Slack request: %s", refusal.reason)
    status = f"{refusal.status} {HTTPStatus(refusal.status).phrase}"
    return _reply(start_response, status, "text/plain", f"{refusal.reason}\n".encode())


def _reply(
    start_response: StartResponse, status: str, content_type: str, body: bytes
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class HttpServer:
    """waitress on ``host:port`` (port 0 picks a free one), started in a thread or run
    in the foreground."""

    def __init__(
        self,
        wsgi_app: WebApp,
        *,
        host: str,
        port: int,
        threads: int = 16,
        answer_grace: float = 10.0,
    ) -> None:
        server = create_server(
            wsgi_app, host=host, port=port, threads=threads, ident="ecs-reboot-bot"
        )
        # One host and port give one listening socket, never waitress's multi-socket server.
        assert isinstance(server, BaseWSGIServer)
        self._server = server
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._answer_grace = answer_grace

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]  # type: ignore[union-attr]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`stop_soon`; then accept nothing more, finish and write every
        answer in flight (up to ``answer_grace`` seconds), and return.

        Why not waitress's own ``run``: on a KeyboardInterrupt it stops its loop and
        gives its threads 5 s, so an answer still being computed, or computed but not yet
        written by the loop, was dropped."""
        server = self._server
        use_poll = server.adj.asyncore_use_poll
        while not self._draining.is_set():
            wasyncore.loop(timeout=_LOOP_SECONDS, map=self._map(), use_poll=use_poll, count=1)
        # The listening socket is no longer read: new connections wait in the backlog
        # and are refused when it closes; the connections in hand are served.
        server.accepting = False
        deadline = time.monotonic() + self._answer_grace
        while self._in_flight() and time.monotonic() < deadline:
            wasyncore.loop(timeout=_LOOP_SECONDS, map=self._map(), use_poll=use_poll, count=1)
        if self._in_flight():
            log.warning("answers still in flight after %.0f s: dropped", self._answer_grace)
        server.task_dispatcher.shutdown(timeout=1)
        for channel in list(self._map().values()):
            if isinstance(channel, HTTPChannel):
                channel.close()  # idle keep-alive connections

    def stop_soon(self) -> None:
        """Ask :meth:`serve_forever` to drain and return (safe from a signal handler)."""
        self._draining.set()
        self._server.pull_trigger()  # wakes the loop's select() at once

    def _map(self) -> dict[int, Any]:
        # waitress's socket map (not in its type stubs): the connections it serves.
        return cast(dict[int, Any], self._server._map)  # type: ignore[attr-defined]

    def _in_flight(self) -> bool:
        dispatcher = self._server.task_dispatcher
        if dispatcher.active_count or dispatcher.queue:
            return True
        return any(
            channel.requests or channel.total_outbufs_len
            for channel in list(self._map().values())
            if isinstance(channel, HTTPChannel)
        )

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._run_until_stopped, name="ecsbot-http", daemon=True
        )
        self._thread.start()
        return self.url

    def _run_until_stopped(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # stop() closes the listening socket under the loop's select(), which then
            # fails on the closed descriptor: that is how the loop ends, not an error.
            if not self._stopping.is_set():
                raise

    def stop(self) -> None:
        self._stopping.set()
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        # The worker threads too: without this each stopped server left its 16 threads
        # waiting for tasks for good (thousands over a test run).
        self._server.task_dispatcher.shutdown(timeout=1)

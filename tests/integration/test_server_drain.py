"""SIGTERM's drain (bot.server.HttpServer.stop_soon): an answer still being computed when
the stop comes is finished and written, even past waitress's own 5 s; new connections
are not served."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpx

from bot.server import HttpServer

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

SLOW_SECONDS = 6.0  # longer than waitress's 5 s shutdown wait


def _slow_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    time.sleep(SLOW_SECONDS)
    body = b"answered\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def test_an_answer_in_flight_at_the_stop_is_written_before_the_server_returns() -> None:
    server = HttpServer(_slow_app, host="127.0.0.1", port=0, answer_grace=30.0)  # type: ignore[arg-type]
    url = server.url
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    answers: list[Any] = []

    def ask() -> None:
        answers.append(httpx.get(f"{url}/slack/events", timeout=30))

    asking = threading.Thread(target=ask)
    asking.start()
    time.sleep(0.5)  # the request is in the app now
    server.stop_soon()
    serving.join(timeout=30)
    asking.join(timeout=30)
    server.stop()

    assert not serving.is_alive()
    [answer] = answers
    assert answer.status_code == 200
    assert answer.text == "answered\n"
    # Nothing new is served once the drain began.
    try:
        refused = httpx.get(f"{url}/healthz", timeout=2).status_code
    except httpx.HTTPError:
        refused = None
    assert refused is None


def _fast_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]


def test_a_stopped_server_leaves_no_worker_thread_behind() -> None:
    before = set(threading.enumerate())
    server = HttpServer(_fast_app, host="127.0.0.1", port=0, threads=4)  # type: ignore[arg-type]
    url = server.start()
    assert httpx.get(f"{url}/healthz", timeout=5).text == "ok\n"
    workers = [
        t for t in threading.enumerate() if t not in before and t.name.startswith("waitress-")
    ]
    assert len(workers) == 4

    server.stop()

    for worker in workers:
        worker.join(timeout=5)
    assert [t.name for t in workers if t.is_alive()] == []

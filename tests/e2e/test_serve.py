"""``ecs-reboot-bot serve`` as a real process (docs/PRODUCT.md §2, §8, §9): ``python -m bot
serve`` against the fake Slack Web API and the ECS simulator on loopback, on a SQLite
file, driven over HTTP the way Slack and a load balancer drive it; and ``/healthz``
answering 503 when the database is gone (in-process, with ``bot.server.WebApp``)."""

from __future__ import annotations

import io
import json
import signal
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from sqlalchemy import text

from bot.db.engine import is_sqlite, make_engine
from bot.server import WebApp, database_answers
from bot.simulator import Simulator
from bot.testing.serve import Served
from bot.testing.serve import serve_process as offline_serve_process
from bot.testing.settings import ADMIN, BOT_TOKEN, CHANNEL, REGION, SIGNING_SECRET, offline_env
from bot.testing.slack_api import FakeSlackApi
from bot.testing.slack_requests import SlackRequestSender


def serve_process(
    workdir: Path, slack: FakeSlackApi, sim: Simulator
) -> AbstractContextManager[Served]:
    """``python -m bot serve`` on a free loopback port, on the offline settings only."""
    values = offline_env(
        slack_url=slack.url,
        sim=sim,
        database_url=f"sqlite:///{workdir / 'bot.db'}",
        overrides={"ECSBOT_POLL_INTERVAL": "0.5", "ECSBOT_NOTIFY_CHANNEL": ""},
    )
    return offline_serve_process(values, workdir)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(regions=(REGION,), instances_per_region=4, seed=11) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, slack: FakeSlackApi, sim: Simulator
) -> Iterator[Served]:
    with serve_process(tmp_path_factory.mktemp("serve"), slack, sim) as running:
        yield running


@pytest.fixture(scope="module")
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def sender(served: Served) -> Iterator[SlackRequestSender]:
    with SlackRequestSender(served.url, SIGNING_SECRET) as slack_sender:
        yield slack_sender


def test_healthz_reports_the_database(http: httpx.Client) -> None:
    response = http.get("/healthz")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": True}


def test_metrics_are_prometheus_text(http: httpx.Client) -> None:
    response = http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE ecsbot_" in response.text
    assert "ecsbot_ecs_calls_total" in response.text


def test_a_signed_help_command_is_answered(sender: SlackRequestSender, slack: FakeSlackApi) -> None:
    response = sender.command("help", user_id="U0SOMEONE", channel_id=CHANNEL)

    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert "/ecs-reboot" in answer["text"]
    assert "--force" in answer["text"]


def test_a_command_reaches_the_ecs_simulator_and_the_slack_api(
    served: Served, sender: SlackRequestSender, slack: FakeSlackApi, sim: Simulator
) -> None:
    """The process took SLACK_API_URL and ECSBOT_ECS_ENDPOINT from its environment."""
    instance_id = sim.fleet.ids(REGION)[0]

    response = sender.command(
        instance_id, user_id=ADMIN, channel_id=CHANNEL, response_url=slack.response_url("c1")
    )

    assert response.status_code == 200
    assert "Checking 1 instance" in response.json()["text"]
    [preview] = [
        call
        for call in slack.wait_for("chat.postMessage", timeout=15)
        if call.params.get("channel") == CHANNEL
    ]
    assert instance_id in json.dumps(preview.params["blocks"])
    assert preview.token == BOT_TOKEN
    assert sim.calls.count("DescribeInstances") >= 1
    assert sim.calls.count("RebootInstances", dry_run=False) == 0


def test_forged_and_stale_signatures_are_refused(
    sender: SlackRequestSender, slack: FakeSlackApi, sim: Simulator
) -> None:
    instance_id = sim.fleet.ids(REGION)[1]
    forged = sender.post(
        f"command=%2Fecs-reboot&text={instance_id}&user_id={ADMIN}&channel_id={CHANNEL}".encode(),
        extra_headers={"X-Slack-Signature": "v0=" + "0" * 64},
    )
    stale = sender.command(
        instance_id, user_id=ADMIN, channel_id=CHANNEL, timestamp=int(time.time()) - 600
    )

    assert (forged.status_code, stale.status_code) == (401, 401)
    # A refused request is answered before any listener runs: nothing was queued.
    assert all(instance_id not in call.ids for call in sim.calls.all())
    assert all(instance_id not in json.dumps(call.params) for call in slack.calls())


def test_get_on_slack_events_is_405(http: httpx.Client) -> None:
    response = http.get("/slack/events")
    assert response.status_code == 405


def test_an_unknown_path_is_404(http: httpx.Client) -> None:
    assert http.get("/nope").status_code == 404
    assert http.post("/healthz/extra", content=b"x").status_code == 404


def test_the_process_logs_no_secret(served: Served, http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200
    output = served.stderr() + "".join(served.stdout_lines)
    assert "listening on" in output
    for secret in (BOT_TOKEN, SIGNING_SECRET, "EcsSimulatorSecret"):
        assert secret not in output


def test_sigterm_stops_serve_with_exit_0(
    tmp_path: Path, slack: FakeSlackApi, sim: Simulator
) -> None:
    with serve_process(tmp_path, slack, sim) as running:
        # Serve traffic first: a signal that lands before waitress's loop starts (right
        # after "listening on") never shows the bug below.
        with httpx.Client(base_url=running.url, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        code = running.process.wait(timeout=10)
        elapsed = time.monotonic() - started
        assert code == 0, running.stderr()
        assert elapsed < 5, f"serve took {elapsed:.1f} s to stop"
        assert "Traceback" not in running.stderr()
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=2) as client:
        client.get(f"{running.url}/healthz")


# --- /healthz when the database is gone (in-process) -------------------------------------


def _bare_app() -> App:
    return App(
        signing_secret=SIGNING_SECRET,
        authorize=lambda **_: AuthorizeResult(
            enterprise_id=None, team_id=None, bot_token="xoxb-unused"
        ),
    )


def _get(app: WebApp, path: str) -> tuple[str, dict[str, str], bytes]:
    """One WSGI GET, no server: (status line, headers, body)."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, dict(headers)
        return lambda _data: None

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_healthz_is_503_when_the_database_does_not_answer() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")
    try:
        app = WebApp(
            _bare_app(), signing_secret=SIGNING_SECRET, health=lambda: database_answers(engine)
        )
        status, headers, body = _get(app, "/healthz")
    finally:
        engine.dispose()

    assert status.startswith("503")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"status": "unavailable", "database": False}


def test_healthz_follows_the_database_answering_again() -> None:
    answers = iter([False, True])
    app = WebApp(_bare_app(), signing_secret=SIGNING_SECRET, health=lambda: next(answers))

    assert _get(app, "/healthz")[0].startswith("503")
    assert _get(app, "/healthz")[0].startswith("200")


def test_healthz_is_503_when_the_database_was_removed(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        assert database_answers(engine)
        if is_sqlite(migrated_url):
            engine.dispose()  # no pooled connection keeps the unlinked file alive
            Path(engine.url.database or "").unlink()
        else:
            schema = engine.url.query["options"]
            name = str(schema).removeprefix("-csearch_path=")
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
                connection.execute(text(f'CREATE SCHEMA "{name}"'))  # for the fixture's DROP
        app = WebApp(
            _bare_app(), signing_secret=SIGNING_SECRET, health=lambda: database_answers(engine)
        )
        status, _, _ = _get(app, "/healthz")
    finally:
        engine.dispose()
    assert status.startswith("503")

"""Shared wiring for the benchmarks: the whole bot against the fakes on loopback.

``running_stack`` mirrors ``tests/e2e/harness.py``: the fake Slack Web API, the ECS
simulator, the bot built by ``bootstrap.build_bot`` on a migrated SQLite file, and the
real HTTP server (waitress) that signed Slack requests are posted to. Benchmarks drive
it through HTTP and ``poll_once`` only, like the end-to-end tests.

Every script prints its figures with ``report``; besides a line for people, it prints
one ``RESULT`` line (tab-separated) that ``bench.run_all`` collects into RESULTS.md.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, event

from bot.bootstrap import Bot, build_bot
from bot.domain.model import RequestState, Role
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.server import HttpServer, WebApp, database_answers
from bot.services import roles as roles_service
from bot.services.poller import PollReport, poll_once
from bot.settings import load_settings
from bot.simulator import ManualClock, Simulator
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.slack_api import FakeSlackApi
from bot.testing.slack_requests import SlackRequestSender

SIGNING_SECRET = "bench-signing-secret-0000000000"
BOT_TOKEN = "xoxb-bench-token-0000"
CHANNEL = "C0OPS"
NOTIFY = "C0NOTIFY"
OPERATOR = "U0OPER"
ADMIN = "U0ADMIN"
REGIONS = ("cn-hangzhou", "cn-shanghai")
RESULT_PREFIX = "RESULT\t"
T = TypeVar("T")
# Bounded waits: a benchmark that hangs is a failure, not a figure.
SETTLE_SECONDS = 120.0


# --- reporting -----------------------------------------------------------------------------


def report(name: str, figure: str, target: str, passed: bool | None) -> None:
    """Print one figure for people and one ``RESULT`` line for ``run_all``.

    ``passed=None`` is an informational figure with no target.
    """
    verdict = "" if passed is None else ("PASS" if passed else "MISS")
    shown = f"  {name}: {figure}"
    if target:
        shown += f"  (target {target})"
    print(f"{shown}  {verdict}".rstrip(), flush=True)
    print(f"{RESULT_PREFIX}{name}\t{figure}\t{target}\t{verdict}", flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def quiet_logs() -> None:
    """The bot logs every Slack and ECS hiccup; a benchmark shows only its figures."""
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)


# --- counting database statements -------------------------------------------------------------


@dataclass
class StatementCounter:
    """Counts statements sent to the database (SQLAlchemy ``before_cursor_execute``)."""

    count: int = 0

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def detach(self, engine: Engine) -> None:
        event.remove(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_args: Any) -> None:
        self.count += 1


# --- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """The running bot, its fakes and a signed-request sender (like the e2e Harness)."""

    slack: FakeSlackApi
    sim: Simulator
    clock: ManualClock
    bot: Bot
    server: HttpServer
    sender: SlackRequestSender
    workdir: Path
    request_ids: list[str] = field(default_factory=list)

    def command(self, text: str, *, user: str = OPERATOR) -> httpx.Response:
        return self.sender.command(
            text, user_id=user, channel_id=CHANNEL, response_url=self.slack.response_url("cmd")
        )

    def click(self, request_id: str, *, user: str = OPERATOR) -> httpx.Response:
        return self.sender.click(
            ACTION_CONFIRM,
            request_id,
            user_id=user,
            channel_id=CHANNEL,
            message_ts="1700000000.000100",
            response_url=self.slack.response_url("click"),
        )

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until every job started after an ack has finished."""
        if not self.bot.jobs.wait_idle(timeout=timeout):
            raise RuntimeError(f"bot jobs did not finish within {timeout:.0f} s")

    def tick(self) -> PollReport:
        return poll_once(self.bot.ctx, self.clock.now())

    def grant(self, subject: str, role: Role) -> None:
        roles_service.grant(
            self.bot.ctx.uow, Binding(subject, role, "", "", ""), actor="bench", now=self.clock()
        )

    def request(self, request_id: str) -> RebootRequest:
        with self.bot.ctx.uow() as uow:
            request = uow.requests.get(request_id)
        if request is None:
            raise RuntimeError(f"request {request_id} is not in the database")
        return request

    def preview_ids(self) -> list[str]:
        """Request ids of every preview posted in the channel so far, oldest first."""
        return [
            request_id_of(call.params.get("blocks") or [])
            for call in self.slack.calls("chat.postMessage")
            if call.params.get("channel") == CHANNEL and not call.params.get("thread_ts")
        ]

    def run(self, refs: Sequence[str], *, user: str = OPERATOR) -> str:
        """Preview and confirm one request over signed HTTP; returns its id once the
        reboot calls are sent."""
        before = set(self.preview_ids())
        self.command(" ".join(refs), user=user).raise_for_status()
        self.settle()
        new = [rid for rid in self.preview_ids() if rid not in before]
        if len(new) != 1:
            raise RuntimeError(f"expected one new preview, got {new}")
        request_id = new[0]
        self.click(request_id, user=user).raise_for_status()
        self.settle()
        state = self.request(request_id).state
        if state is not RequestState.EXECUTING and not state.is_final:
            raise RuntimeError(f"request {request_id} is {state.value} after the click")
        return request_id


def request_id_of(blocks: list[dict[str, Any]]) -> str:
    """The request id shown in a preview's blocks (as the e2e harness reads it)."""
    text = json.dumps(blocks)
    marker = "*Request*\\n`"
    start = text.index(marker) + len(marker)
    return text[start : text.index("`", start)]


def refs(sim: Simulator, per_region: Sequence[int], *, offset: int = 0) -> list[str]:
    """``REGION/i-…`` references: ``per_region[k]`` ids of the simulator's k-th region."""
    result: list[str] = []
    for region, count in zip(sim.fleet.regions, per_region, strict=False):
        ids = sim.fleet.ids(region)[offset : offset + count]
        if len(ids) < count:
            raise ValueError(f"{region} holds {len(ids)} instances, {count} asked")
        result.extend(f"{region}/{instance_id}" for instance_id in ids)
    return result


@contextmanager
def running_stack(
    *,
    instances: int = 10,
    regions: Sequence[str] = REGIONS[:1],
    env: dict[str, str] | None = None,
    clock: ManualClock | None = None,
    stop_seconds: float = 2.0,
    start_seconds: float = 3.0,
    job_workers: int = 16,
) -> Iterator[Stack]:
    """The whole bot as ``serve`` wires it, on loopback, on a throw-away SQLite file.

    The simulator and the bot share ``clock`` (a ``ManualClock`` unless given), so
    instance state changes happen when the benchmark moves time, not while it waits.
    """
    quiet_logs()
    manual = clock or ManualClock()
    with (
        tempfile.TemporaryDirectory(prefix="ecsbot-bench-") as tmp,
        FakeSlackApi() as slack,
        Simulator(
            regions=tuple(regions),
            instances_per_region=instances,
            seed=7,
            clock=manual,
            stop_seconds=stop_seconds,
            start_seconds=start_seconds,
        ) as sim,
    ):
        workdir = Path(tmp)
        overrides = {
            **stack_env(slack, sim, f"sqlite:///{workdir / 'bench.db'}"),
            **(env or {}),
        }
        bot = build_bot(
            load_settings(**overrides), clock=manual.now, migrate=True, job_workers=job_workers
        )
        server = HttpServer(
            WebApp(
                bot.app,
                signing_secret=bot.signing_secret,
                health=lambda: database_answers(bot.engine),
            ),
            host="127.0.0.1",
            port=0,
        )
        server.start()
        sender = SlackRequestSender(server.url, SIGNING_SECRET, timeout=30.0)
        try:
            yield Stack(slack, sim, manual, bot, server, sender, workdir)
        finally:
            sender.close()
            server.stop()
            bot.close()


def stack_env(slack: FakeSlackApi, sim: Simulator, database_url: str) -> dict[str, str]:
    """The environment ``serve`` needs to run against the fakes (names from DESIGN §3)."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "ECSBOT_DATABASE_URL": database_url,
        "ECSBOT_ECS_ENDPOINT": sim.endpoint,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ECSBOT_DEFAULT_REGION": sim.fleet.regions[0],
        "ECSBOT_ADMINS": ADMIN,
        "ECSBOT_NOTIFY_CHANNEL": NOTIFY,
    }


def in_flight(stack: Stack, requests: int, per_request: int) -> list[str]:
    """``requests`` confirmed requests of ``per_request`` instances each, every one sent
    and rebooting (make the simulator slow to bring them back). Returns their ids."""
    region = stack.sim.fleet.regions[0]
    ids = stack.sim.fleet.ids(region)
    if len(ids) < requests * per_request:
        raise ValueError("the simulator holds too few instances")
    request_ids = []
    for number in range(requests):
        chunk = ids[number * per_request : (number + 1) * per_request]
        request_ids.append(stack.run([f"{region}/{instance_id}" for instance_id in chunk]))
    return request_ids


def timed(work: Callable[[], T]) -> tuple[float, float, T]:
    """(wall seconds, this thread's CPU seconds, result) of ``work()``."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = work()
    return time.perf_counter() - wall, time.thread_time() - cpu, result

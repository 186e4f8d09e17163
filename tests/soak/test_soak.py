"""The soak (docs/PRODUCT.md §5.4, §5.7, §9): 200 reboot requests driven through ``serve`` as a
real process while ECS fails 30 % of calls, Slack answers 429 in bursts, and the
process is SIGKILLed at random moments and restarted on the same database.

Out of process pieces talk over loopback HTTP: this test runs the fake Slack Web API
and the ECS simulator (real clock, 0.2 s stop and start), starts ``python -m bot serve``
and plays Slack against it (signed commands and confirm clicks). When every confirmed
request is final, or the time is up, it checks what must hold whatever happened:

* every confirmed request ends ``succeeded``, ``partially_failed`` or ``failed``, and
  at most 0.5 % of them other than ``succeeded`` (every instance is healthy, so any such
  end is the faults' doing: a lost answer no longer fails a reboot by itself, §5.4);
* no instance was rebooted twice for one request, and none the bot calls back was not
  rebooted at all;
* no request was lost: each confirmed preview is in the database, in a final state;
* every request's thread has its final summary ("Done:"), its message shows how it
  ended, and the notify channel heard how it ended.

``SOAK_DB_RESTARTS=N`` runs it on a PostgreSQL server of its own (tests/private_postgres.py)
and restarts that server N times while requests are in flight, each time down for a few
seconds: ``/healthz`` must say 503 while it is down, a command and a click made then must
be told so (never a 500, never silence), and the poller must go on within two poll
intervals of the server answering again.

The last line it prints holds its figures, machine-readable:
``SOAK requests=N failed_by_faults_pct=X double_reboots=N lost_requests=N kills=N``.

The one test in the suite that waits on real time; every wait is a bounded loop.
Run it with ``make soak`` (PostgreSQL when ``ECSBOT_TEST_POSTGRES_URL`` is set).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import OperationalError

from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import InstanceOutcome, RequestState
from bot.domain.request import RebootRequest
from bot.simulator import Simulator
from bot.simulator.faults import Faults, Mode, Plan
from bot.slack.blocks import ACTION_CONFIRM
from bot.slack.outcomes import outcome_sentence as said
from bot.testing.serve import ServeDidNotStart, read_listening_url, start_serve
from bot.testing.settings import offline_env
from bot.testing.slack_api import FakeSlackApi, Message, RecordedCall
from bot.testing.slack_requests import SlackRequestSender
from tests.fixtures_db import POSTGRES_URL_ENV, migrated_database
from tests.private_postgres import PrivatePostgres, private_postgres

pytestmark = pytest.mark.soak

SEED = 20240501
# Fewer for a quick look while changing the soak itself; the figures count at 200.
REQUESTS = int(os.environ.get("SOAK_REQUESTS", "200"))
INSTANCES_PER_REQUEST = 3
FAULT_RATE = 0.30
TOTAL_SECONDS = 8 * 60
# Kills come at random moments this far apart, from the first command until a minute
# after the last confirm: previews, acks, confirms, reboot calls, polls and summaries
# all get hit. Slack's 429 bursts come this far apart, all along.
# SOAK_KILL_GAP="3,12" SOAK_BURST_GAP="1,4" run it harsher.
KILL_GAP = tuple(float(v) for v in os.environ.get("SOAK_KILL_GAP", "4,16").split(",", 1))
KILLS_AFTER_CONFIRMS = 60.0
BURST_GAP = tuple(float(v) for v in os.environ.get("SOAK_BURST_GAP", "3,10").split(",", 1))
BURST_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
# New commands at this pace, so the kills land while requests are at every stage.
COMMAND_GAP = 0.6
IN_FLIGHT = 25  # requests commanded but not yet confirmed, at most
RECOMMAND_AFTER = 25.0  # seconds without a preview before the command is sent again
RECLICK_AFTER = 15.0  # seconds a confirmed preview may stay "previewed"
STARTUP_SECONDS = 30.0

SIGNING_SECRET = "soak-signing-secret-0001"
BOT_TOKEN = "xoxb-soak-token"
USER = "U0SOAK"
REGION = "cn-hangzhou"
NOTIFY = "C0SOAKNOTE"
# Every soak instance is healthy (Running, back in 0.4 s), so a request that ends failed
# or partially failed does so because of the ECS faults and the kills. With a lost answer
# no longer failing a reboot by itself (docs/PRODUCT.md §5.4: calls past the in-flight
# bound, with doubling gaps), at most this share of the requests may end so. Waited out,
# as before the lost-answer rule, about a fifth did; with two calls at most, about p² ≈ 5 %.
MAX_FAILED_BY_FAULTS = 0.005
# SOAK_AFTER_EFFECT=0.5 makes that share of the lost answers happen after ECS applied the
# call (as a timeout can, in life), which the look after the loss finds rebooted.
AFTER_EFFECT = float(os.environ.get("SOAK_AFTER_EFFECT", "0"))
POLL_INTERVAL = 0.2
# The simulator applies every call it accepts at once (this soak injects no in_flight
# fault), so no call can act 2 s after it was sent: ten poll intervals.
INFLIGHT_BOUND = 2.0
# Three leases: a request whose process was SIGKILLed is taken over after the 30 s its
# lease has left, and may be hit again; the timeout must outlast that, or a kill alone
# would time an instance out.
REBOOT_TIMEOUT = 90
# SOAK_DB_RESTARTS=N: the PostgreSQL server restarted N times, spread over the busy part
# of the run, each time down for DB_DOWN_SECONDS.
DB_RESTARTS = int(os.environ.get("SOAK_DB_RESTARTS", "0"))
DB_DOWN_SECONDS = 4.0
DB_RESTARTS_FROM = 10.0
DB_RESTARTS_OVER = 0.8 * REQUESTS * COMMAND_GAP  # while new requests keep coming
# Once the server answers again the poller goes on within two poll intervals, and every
# request due by then is advanced within this (far below a lease: none waits one out).
DB_ALL_RESUMED_WITHIN = 5.0
PROBE_CHANNEL = "C0SOAKPROBE"
DB_DOWN_TEXT = "database is not answering"
FINAL = {RequestState.SUCCEEDED, RequestState.PARTIALLY_FAILED, RequestState.FAILED}


# --- the failing world ---------------------------------------------------------------------


class RandomFaults(Faults):
    """The simulator's fault registry, adding one transient fault (through its own API)
    before a random ``rate`` share of calls: throttling, ServiceUnavailable or a
    dropped connection, one third each; an ``after_effect`` share of the last two
    applies the call before its answer is lost."""

    def __init__(self, rng: random.Random, rate: float, after_effect: float = 0.0) -> None:
        super().__init__()
        self._rng = rng
        self._rate = rate
        self._after_effect = after_effect
        self._draw = threading.Lock()
        self.injected: Counter[str] = Counter()

    def for_call(self, action: str) -> Plan:
        with self._draw:
            hit = self._rng.random() < self._rate
            kind = self._rng.choice(("throttle", "unavailable", "drop"))
            if hit and kind != "throttle" and self._rng.random() < self._after_effect:
                kind = f"{kind} after effect"
            if hit:
                self.injected[kind] += 1
        if hit and kind.endswith(" after effect"):
            mode: Mode = "error" if kind.startswith("unavailable") else "drop"
            self.timeout_after_apply(action, times=1, mode=mode, seconds=0.0)
        elif hit and kind == "throttle":
            self.throttle(action, times=1, code="Throttling.User")
        elif hit and kind == "unavailable":
            self.fail(action, times=1, code="ServiceUnavailable")
        elif hit:
            self.drop_connection(action, times=1)
        return super().for_call(action)


def soak_database(tmp_path: Path) -> AbstractContextManager[str]:
    """A migrated database: PostgreSQL (a schema of its own) when configured, else a
    SQLite file."""
    kind = "postgres" if os.environ.get(POSTGRES_URL_ENV) else "sqlite"
    return migrated_database(kind, tmp_path)


class ServeProcess:
    """``python -m bot serve`` that can be SIGKILLed and started again on the same
    database, from another thread than the one sending it requests. Its log (all
    generations) goes to one file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self._env = env
        self._workdir = workdir
        self.log_path = workdir / "serve.log"
        self._log: IO[str] = self.log_path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._url = ""
        self.starts = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []

    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def url(self) -> str | None:
        """Where it listens, or None while it is down."""
        with self._lock:
            return self._url if self._process is not None else None

    def start(self) -> None:
        with self._lock:
            self._log.write(f"\n===== start {self.starts + 1} =====\n")
            self._log.flush()
            process = start_serve(self._env, self._workdir, stderr=self._log)
            self.starts += 1
            try:
                self._url, _ = read_listening_url(process, STARTUP_SECONDS)
            except ServeDidNotStart:
                process.kill()
                self._reap(process)
                raise AssertionError(f"serve did not start; log:\n{self.log_tail()}") from None
            self._process = process

    def exited_by_itself(self) -> bool:
        """True (once) when the process ended without being killed: a crash, a bug."""
        with self._lock:
            process = self._process
            if process is None or process.poll() is None:
                return False
            self.unexpected_exits.append(process.returncode)
            self._process = None
            self._reap(process)
            return True

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever the process was doing."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                if process.poll() is None:
                    process.kill()
                    self.kills += 1
                self._reap(process)

    @staticmethod
    def _reap(process: subprocess.Popen[str]) -> None:
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                process.terminate()
                self._reap(process)
            self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Chaos(threading.Thread):
    """Kills and restarts the bot at random moments, makes Slack answer 429 in bursts,
    and (``database``) restarts the PostgreSQL server, while the test plays Slack on its
    own thread. One thread for all of it, so a kill never lands in a database restart."""

    def __init__(
        self,
        serve: ServeProcess,
        slack: FakeSlackApi,
        rng: random.Random,
        database: DatabaseChaos | None = None,
    ) -> None:
        super().__init__(name="soak-chaos", daemon=True)
        self.serve = serve
        self.slack = slack
        self.rng = rng
        self.database = database
        self.calm = threading.Event()  # set: no more kills (429 bursts go on)
        self.stopped = threading.Event()
        self.bursts = 0
        self._bursts: dict[str, int] = {}  # method -> its count of 429s when over
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # handed to the test thread, which fails with it
            self.error = error

    def _run(self) -> None:
        started = time.monotonic()
        next_kill = started + self.rng.uniform(*KILL_GAP)
        next_burst = started + self.rng.uniform(*BURST_GAP)
        restarts = [
            started + DB_RESTARTS_FROM + DB_RESTARTS_OVER * (n + 0.5) / max(1, DB_RESTARTS)
            for n in range(DB_RESTARTS if self.database is not None else 0)
        ]
        while not self.stopped.wait(0.05):
            now = time.monotonic()
            if self.serve.exited_by_itself():
                self.serve.start()
            if self.database is not None and restarts and now >= restarts[0]:
                restarts.pop(0)
                self.database.restart(self.serve, mode="immediate" if len(restarts) % 2 else "fast")
                # A moment of calm after it: the resumption is the bot's, not a new start's.
                next_kill = max(next_kill, time.monotonic() + 5.0)
                continue
            if restarts and restarts[0] - now < 5.0:
                # No kill just before a database restart: what follows it is measured.
                next_kill = max(next_kill, restarts[0] + 5.0)
            if not self.calm.is_set() and now >= next_kill:
                self.serve.kill()
                # Down for a moment, as a crashed container is before its restart.
                self.stopped.wait(self.rng.uniform(0.0, 1.0))
                self.serve.start()
                next_kill = time.monotonic() + self.rng.uniform(*KILL_GAP)
            ready = [m for m in BURST_METHODS if self._burst_is_over(m)]
            if now >= next_burst and ready:
                method = self.rng.choice(ready)
                times = self.rng.randint(2, 4)
                self._bursts[method] = self._limited(method) + times
                self.slack.rate_limit(method, times=times, retry_after=1)
                self.bursts += 1
                next_burst = now + self.rng.uniform(*BURST_GAP)

    def _limited(self, method: str) -> int:
        return sum(1 for call in self.slack.calls(method) if call.status == 429)

    def _burst_is_over(self, method: str) -> bool:
        """A method's bursts never run into each other: the next one waits until the
        last burst's 429s were all answered and a call of the method then got through.
        One call then sees at most 4 429s in a row, within the bot's 5 retries. Without
        the call that got through, a lone caller at the end of a harsh run met burst
        after burst (4 + 2 429s) and lost its message. Longer runs lose messages:
        tests/e2e/test_crash_windows.py pins that."""
        until = self._bursts.get(method)
        # Once the burst's 429s were answered, the method has calls: the last one counts.
        return until is None or (
            self._limited(method) >= until and self.slack.calls(method)[-1].status != 429
        )

    def stop(self) -> None:
        self.stopped.set()
        if self.ident is not None:  # started
            self.join(timeout=60)


@dataclass
class DatabaseRestart:
    """What one restart of the PostgreSQL server showed."""

    mode: str
    down_seconds: float
    health_codes: list[int] = field(default_factory=list)
    command_reply: str = ""
    command_status: int = 0
    click_status: int = 0
    click_request: str = ""
    # Seconds from the server answering again to the first request advanced, and to the
    # last one due by then; None when nothing was in flight to watch.
    resumed_after: float | None = None
    all_resumed_after: float | None = None
    never_resumed: list[str] = field(default_factory=list)


def _mark(poll_at: object, owner: object, expires: object) -> str:
    return f"{poll_at}|{owner}|{expires}"


class DatabaseChaos:
    """Restarts the soak's own PostgreSQL server and checks what the bot does meanwhile:
    ``/healthz``, a command and a click while it is down, and how soon the poller goes
    on once it answers (from the requests' lease and next poll, which every claim and
    release changes)."""

    def __init__(
        self, server: PrivatePostgres, db: Engine, slack: FakeSlackApi, planned: list[Planned]
    ) -> None:
        self.server = server
        self.db = db
        self.slack = slack
        self.planned = planned
        self.restarts: list[DatabaseRestart] = []

    def restart(self, serve: ServeProcess, *, mode: str) -> None:
        before = self._in_flight(serve.pid())
        self.server.stop(mode)
        down_at = time.monotonic()
        record = DatabaseRestart(mode=mode, down_seconds=DB_DOWN_SECONDS)
        self.restarts.append(record)
        url = serve.url()
        if url is not None:
            self._probe(url, record)
        time.sleep(max(0.0, DB_DOWN_SECONDS - (time.monotonic() - down_at)))
        self.server.start()
        self.server.restarts += 1
        self._watch_resumption(before, time.time(), record)

    def _in_flight(self, serve_pid: int | None) -> dict[str, tuple[str, float]]:
        """Running requests: their lease mark (``_marks``) and when they are next due
        (epoch): their
        next poll, or the end of a lease a SIGKILLed process left (no restart of the
        database changes that wait)."""
        with self.db.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, next_poll_at, lease_owner, lease_expires_at "
                    "FROM reboot_requests WHERE state IN ('executing', 'paused')"
                )
            ).all()
        in_flight = {}
        for request_id, poll_at, owner, expires in rows:
            due = poll_at.timestamp() if poll_at is not None else 0.0
            # Owners are "host:pid:suffix[/worker]" (bot.services.context.Context.owner).
            if owner and expires is not None and str(owner).split(":")[1] != str(serve_pid):
                due = max(due, expires.timestamp())
            in_flight[str(request_id)] = (_mark(poll_at, owner, expires), due)
        return in_flight

    def _probe(self, url: str, record: DatabaseRestart) -> None:
        """While it is down: the health check, a command and a confirm click."""
        with SlackRequestSender(url, SIGNING_SECRET, timeout=10) as sender:
            for _ in range(3):
                record.health_codes.append(httpx.get(f"{url}/healthz", timeout=10).status_code)
            instance = self.planned[0].instances[0]
            command = sender.command(
                instance,
                user_id=USER,
                channel_id=PROBE_CHANNEL,
                response_url=self.slack.response_url(PROBE_CHANNEL),
            )
            record.command_status = command.status_code
            if command.status_code == 200:
                record.command_reply = str(command.json().get("text", ""))
            known = [p.request_id for p in self.planned if p.request_id]
            if known:
                record.click_request = str(known[-1])
                click = sender.click(
                    ACTION_CONFIRM,
                    record.click_request,
                    user_id=USER,
                    channel_id=PROBE_CHANNEL,
                    message_ts="1700000000.000100",
                    response_url=self.slack.response_url(PROBE_CHANNEL),
                )
                record.click_status = click.status_code
            record.health_codes.append(httpx.get(f"{url}/healthz", timeout=10).status_code)

    def _watch_resumption(
        self, before: dict[str, tuple[str, float]], up_at: float, record: DatabaseRestart
    ) -> None:
        """Watch every request that was running until each due one was claimed again."""
        due = {
            request_id: max(up_at, poll_at)
            for request_id, (_, poll_at) in before.items()
            if poll_at < up_at + DB_ALL_RESUMED_WITHIN
        }
        if not due:
            return
        resumed: dict[str, float] = {}
        deadline = up_at + DB_ALL_RESUMED_WITHIN + 5.0
        while len(resumed) < len(due) and time.time() < deadline:
            try:
                now_marks = self._marks(list(due))
            except OperationalError:
                now_marks = {}
            seen = time.time()
            for request_id, mark in now_marks.items():
                if request_id not in resumed and mark != before[request_id][0]:
                    resumed[request_id] = seen
            time.sleep(0.02)
        if resumed:
            record.resumed_after = min(resumed.values()) - up_at
            record.all_resumed_after = max(resumed[r] - due[r] for r in resumed)
        record.never_resumed = sorted(set(due) - set(resumed))

    def _marks(self, request_ids: list[str]) -> dict[str, str]:
        """Each request's lease mark: a claim sets a new lease end, a release clears it
        and sets the next poll, so the mark changes whenever the request was taken."""
        with self.db.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, next_poll_at, lease_owner, lease_expires_at "
                    "FROM reboot_requests WHERE id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": request_ids},
            ).all()
        return {str(row[0]): _mark(*row[1:]) for row in rows}

    def problems(self) -> list[str]:
        problems = []
        told = [
            str(call.params.get("text", ""))
            for call in self.slack.calls("chat.postEphemeral")
            if call.params.get("channel") == PROBE_CHANNEL and call.status == 200
        ]
        for n, record in enumerate(self.restarts, start=1):
            where = f"database restart {n} ({record.mode})"
            if not record.health_codes or any(code != 503 for code in record.health_codes):
                problems.append(f"{where}: /healthz answered {record.health_codes}, not 503")
            if record.command_status != 200 or DB_DOWN_TEXT not in record.command_reply:
                problems.append(
                    f"{where}: a command got {record.command_status} {record.command_reply!r}"
                )
            if record.click_request and record.click_status != 200:
                problems.append(f"{where}: a click got {record.click_status}")
            if record.resumed_after is not None and record.resumed_after > 2 * POLL_INTERVAL:
                problems.append(
                    f"{where}: the poller went on {record.resumed_after:.2f} s after the "
                    f"server answered, over two poll intervals ({2 * POLL_INTERVAL:.1f} s)"
                )
            if record.all_resumed_after is not None and (
                record.all_resumed_after > DB_ALL_RESUMED_WITHIN
            ):
                problems.append(
                    f"{where}: a due request waited {record.all_resumed_after:.1f} s after the "
                    "server answered"
                )
            if record.never_resumed:
                problems.append(f"{where}: never advanced again: {record.never_resumed[:5]}")
        clicks = sum(1 for r in self.restarts if r.click_request)
        if sum(DB_DOWN_TEXT in t for t in told) < clicks:
            problems.append(
                f"{clicks} clicks made while the database was down, but only "
                f"{sum(DB_DOWN_TEXT in t for t in told)} told so: {told[:3]}"
            )
        return problems

    def figures(self) -> str:
        resumed = [r.resumed_after for r in self.restarts if r.resumed_after is not None]
        every = [r.all_resumed_after for r in self.restarts if r.all_resumed_after is not None]
        return (
            f" db_restarts={len(self.restarts)}"
            f" db_resumed_s={max(resumed, default=0.0):.2f}"
            f" db_all_resumed_s={max(every, default=0.0):.2f}"
        )


# --- playing Slack ------------------------------------------------------------------------


@dataclass
class Planned:
    """One request as the person sees it: their own channel, their instances."""

    index: int
    instances: list[str]
    channel: str
    commands: int = 0
    commanded_at: float = 0.0
    request_id: str | None = None
    clicks: int = 0
    clicked_at: float = 0.0
    confirmed: bool = False  # a confirm click was answered 200

    @property
    def command_text(self) -> str:
        return " ".join(self.instances)


@dataclass
class Report:
    commands: int = 0
    recommands: int = 0
    clicks: int = 0
    reclicks: int = 0
    refused_connections: int = 0
    told_db_down: int = 0
    bursts: int = 0
    extra_previews: list[str] = field(default_factory=list)

    def line(self, serve: ServeProcess, faults: RandomFaults, seconds: float) -> str:
        """The soak's figures, one line."""
        return (
            f"soak: {REQUESTS} requests x {INSTANCES_PER_REQUEST} instances in {seconds:.0f} s; "
            f"{serve.kills} SIGKILLs, {serve.starts} starts; {self.commands} commands "
            f"({self.recommands} again), {self.clicks} confirm clicks ({self.reclicks} again); "
            f"ECS faults injected {dict(faults.injected)}; Slack 429 bursts {self.bursts}; "
            f"requests to a dead bot {self.refused_connections}; commands and clicks told the "
            f"database was down {self.told_db_down}"
        )


class Driver:
    """Plays the people: command, wait for the preview, confirm, confirm again if the
    click was lost with the process."""

    def __init__(
        self, slack: FakeSlackApi, serve: ServeProcess, db: Engine, planned: list[Planned]
    ) -> None:
        self.slack = slack
        self.serve = serve
        self.db = db
        self.planned = planned
        self.by_channel = {p.channel: p for p in planned}
        self.report = Report()
        self._seen_calls = 0
        self._sender: SlackRequestSender | None = None
        self._sender_url = ""
        self._next_new_command = 0.0

    def sender(self, url: str) -> SlackRequestSender:
        if self._sender is None or self._sender_url != url:
            self.close()
            self._sender = SlackRequestSender(url, SIGNING_SECRET, timeout=10)
            self._sender_url = url
        return self._sender

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def step(self, now: float) -> None:
        self._read_slack()
        states = self._states()
        for planned in self.planned:
            if planned.confirmed:
                state = states.get(planned.request_id or "")
                if state == RequestState.PREVIEWED.value and now - planned.clicked_at > (
                    RECLICK_AFTER
                ):
                    self.report.reclicks += 1
                    self._click(planned, now)
            elif planned.request_id is not None:
                self._click(planned, now)
        in_flight = sum(1 for p in self.planned if p.commands and not p.confirmed)
        if now < self._next_new_command:
            in_flight = IN_FLIGHT  # no new request yet; commands sent again still go
        for planned in self.planned:
            if planned.confirmed or planned.request_id is not None:
                continue
            if planned.commands and now - planned.commanded_at < RECOMMAND_AFTER:
                continue
            if not planned.commands and in_flight >= IN_FLIGHT:
                continue
            if planned.commands:
                self.report.recommands += 1
            else:
                in_flight = IN_FLIGHT  # one new request per COMMAND_GAP
                self._next_new_command = now + COMMAND_GAP
            self._command(planned, now)

    def all_confirmed(self) -> bool:
        return all(p.confirmed for p in self.planned)

    def _command(self, planned: Planned, now: float) -> None:
        response = self._post(
            lambda s: s.command(
                planned.command_text,
                user_id=USER,
                channel_id=planned.channel,
                response_url=self.slack.response_url(planned.channel),
            )
        )
        if response is not None and response.status_code == 200:
            planned.commands += 1
            planned.commanded_at = now
            self.report.commands += 1
            if DB_DOWN_TEXT in str(response.json().get("text", "")):
                # Told the database is away: the person tries again a little later.
                self.report.told_db_down += 1
                planned.commanded_at = now - RECOMMAND_AFTER + 2.0

    def _click(self, planned: Planned, now: float) -> None:
        assert planned.request_id is not None
        request_id = planned.request_id
        # As Slack clicks: on the preview's real ts, with the message as the bot left it
        # (a crash-window click adopts that ts as the request's message).
        shown = self._preview(planned.channel, request_id)
        if shown is None:
            return
        response = self._post(
            lambda s: s.click(
                ACTION_CONFIRM,
                request_id,
                user_id=USER,
                channel_id=planned.channel,
                message_ts=shown.ts,
                message=shown.to_slack(),
                response_url=self.slack.response_url(planned.channel),
            )
        )
        if response is not None and response.status_code == 200:
            planned.confirmed = True
            planned.clicks += 1
            planned.clicked_at = now
            self.report.clicks += 1

    def _preview(self, channel: str, request_id: str) -> Message | None:
        """The message in the fake Slack that carries the request's confirm button, as
        the bot last left it (the person's channel holds their previews only)."""
        for message in reversed(self.slack.messages()):
            if message.channel == channel and any(
                b.get("action_id") == ACTION_CONFIRM and b.get("value") == request_id
                for _, b in message.buttons()
            ):
                return message
        return None

    def _post(self, send: Any) -> httpx.Response | None:
        url = self.serve.url()
        if url is None:
            return None
        try:
            response: httpx.Response = send(self.sender(url))
        except httpx.TransportError:
            # Killed before or while answering: Slack would show the person an error,
            # and they would try again; so do we, later.
            self.report.refused_connections += 1
            return None
        assert response.status_code < 500, (response.status_code, response.text)
        return response

    def _read_slack(self) -> None:
        """Take in the previews (and ECS failures told to the person) since last time."""
        calls = self.slack.calls()
        for call in calls[self._seen_calls :]:
            channel = str(call.params.get("channel", ""))
            planned = self.by_channel.get(channel)
            if planned is None or call.status != 200:
                continue
            if call.method == "chat.postMessage" and not call.params.get("thread_ts"):
                self._take_preview(planned, call)
            elif call.method == "chat.postEphemeral" and planned.request_id is None:
                # "Could not look the instances up" and the like: ask again at once.
                planned.commanded_at = 0.0
            elif call.method == "chat.postEphemeral" and DB_DOWN_TEXT in str(
                call.params.get("text", "")
            ):
                # A click told the database was away (nothing done): click again soon.
                self.report.told_db_down += 1
                planned.clicked_at = time.monotonic() - RECLICK_AFTER + 2.0
        self._seen_calls = len(calls)

    def _take_preview(self, planned: Planned, call: RecordedCall) -> None:
        blocks = _blocks(call)
        confirm = [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]
        values = [e["value"] for e in confirm if e.get("action_id") == ACTION_CONFIRM]
        if planned.request_id is not None or not values:
            # A second preview (the first was slow, not lost): left to expire unclicked,
            # so each person's instances are rebooted by one request only.
            self.report.extra_previews.extend(values)
            if not values and planned.request_id is None:
                planned.commanded_at = 0.0
            return
        planned.request_id = str(values[0])

    def _states(self) -> dict[str, str]:
        with self.db.connect() as connection:
            rows = connection.execute(text("SELECT id, state FROM reboot_requests")).all()
        return {str(row[0]): str(row[1]) for row in rows}


def _blocks(call: RecordedCall) -> list[dict[str, Any]]:
    blocks = call.params.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return list(blocks)


# --- the soak ----------------------------------------------------------------------------


def _serve_env(slack: FakeSlackApi, sim: Simulator, url: str) -> dict[str, str]:
    return offline_env(
        slack_url=slack.url,
        sim=sim,
        database_url=url,
        overrides={
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "ECSBOT_ADMINS": USER,
            "ECSBOT_NOTIFY_CHANNEL": NOTIFY,
            "ECSBOT_POLL_INTERVAL": str(POLL_INTERVAL),
            "ECSBOT_REBOOT_TIMEOUT": str(REBOOT_TIMEOUT),
            "ECSBOT_INFLIGHT_BOUND": str(INFLIGHT_BOUND),
        },
    )


def _load(db: Engine, request_ids: list[str]) -> dict[str, RebootRequest | None]:
    with UnitOfWork(make_session_factory(db)) as uow:
        return {request_id: uow.requests.get(request_id) for request_id in request_ids}


@contextmanager
def _soak_database(tmp_path: Path) -> Iterator[tuple[str, PrivatePostgres | None]]:
    """With SOAK_DB_RESTARTS, a PostgreSQL server of the soak's own (it restarts it);
    else :func:`soak_database`."""
    if DB_RESTARTS:
        with private_postgres() as server:
            upgrade_to_head(server.url)
            yield server.url, server
        return
    with soak_database(tmp_path) as url:
        yield url, None


def test_soak_200_requests_through_faults_429s_and_kills(tmp_path: Path) -> None:
    faults = RandomFaults(random.Random(SEED + 1), FAULT_RATE, AFTER_EFFECT)
    with (
        _soak_database(tmp_path) as (url, server),
        FakeSlackApi() as slack,
        Simulator(
            instances_per_region=REQUESTS * INSTANCES_PER_REQUEST,
            seed=SEED,
            stop_seconds=0.2,
            start_seconds=0.2,
        ) as sim,
    ):
        sim.faults = faults
        ids = sim.fleet.ids(REGION)
        planned = [
            Planned(
                index=n,
                instances=ids[n * INSTANCES_PER_REQUEST : (n + 1) * INSTANCES_PER_REQUEST],
                channel=f"C0SOAK{n:03d}",
            )
            for n in range(REQUESTS)
        ]
        db = make_engine(url)
        serve = ServeProcess(_serve_env(slack, sim, url), tmp_path)
        driver = Driver(slack, serve, db, planned)
        database = None if server is None else DatabaseChaos(server, db, slack, planned)
        chaos = Chaos(serve, slack, random.Random(SEED + 2), database)
        started = time.monotonic()
        try:
            serve.start()
            chaos.start()
            _drive(driver, chaos, started)
            chaos.stop()
            driver.report.bursts = chaos.bursts
            elapsed = time.monotonic() - started
            _check(driver, serve, sim, slack, db, elapsed, faults, database)
        finally:
            chaos.stop()
            driver.close()
            serve.close()
            db.dispose()


def _drive(driver: Driver, chaos: Chaos, started: float) -> None:
    """Play Slack until every confirmed request is final, or the time is up. Kills stop
    KILLS_AFTER_CONFIRMS seconds after the last confirm, so that what the dead processes
    held (a lease of half a minute each) can finish within the time. While the database
    is down (SOAK_DB_RESTARTS) the people wait, as they would."""
    deadline = started + TOTAL_SECONDS
    all_confirmed_at: float | None = None
    while (now := time.monotonic()) < deadline:
        if chaos.error is not None:
            raise chaos.error
        try:
            driver.step(now)
            if driver.all_confirmed():
                all_confirmed_at = all_confirmed_at or now
                if now - all_confirmed_at > KILLS_AFTER_CONFIRMS:
                    chaos.calm.set()
                if _all_final(driver) and _all_drawn(driver):
                    return
        except OperationalError:
            pass  # the database restarting: look again shortly
        time.sleep(0.1)


def _all_final(driver: Driver) -> bool:
    states = driver._states()
    return all(states.get(p.request_id or "") in {s.value for s in FINAL} for p in driver.planned)


def _all_drawn(driver: Driver) -> bool:
    """No final message is still waiting for a redraw Slack refused (the poller tries
    again on later ticks, after the 429 bursts)."""
    with driver.db.connect() as connection:
        waiting = connection.execute(
            text("SELECT COUNT(*) FROM reboot_requests WHERE message_redraw_due OR notify_end_due")
        ).scalar_one()
    return int(waiting) == 0


def _check(
    driver: Driver,
    serve: ServeProcess,
    sim: Simulator,
    slack: FakeSlackApi,
    db: Engine,
    elapsed: float,
    faults: RandomFaults,
    database: DatabaseChaos | None = None,
) -> None:
    summary = driver.report.line(serve, faults, elapsed)
    problems: list[str] = []
    unconfirmed = [p.index for p in driver.planned if not p.confirmed]
    if unconfirmed:
        problems.append(f"never got a preview to confirm: {unconfirmed[:20]}")
    confirmed = [p for p in driver.planned if p.confirmed and p.request_id]
    requests = _load(db, [p.request_id for p in confirmed if p.request_id])

    # 0 lost: every confirmed preview is in the database, in a final state.
    lost = doubles = 0
    for planned in confirmed:
        request = requests[str(planned.request_id)]
        if request is None or request.state not in FINAL:
            lost += 1
        if request is None:
            problems.append(f"request {planned.request_id} (#{planned.index}) is not in the db")
        elif request.state not in FINAL:
            problems.append(
                f"request {request.id} (#{planned.index}) is {request.state.value}: "
                f"{[(i.ref.instance_id, i.outcome.value) for i in request.instances]}"
            )

    # 0 double reboots; and nothing called back that never went down.
    for planned in confirmed:
        request = requests[str(planned.request_id)]
        for instance_id in planned.instances:
            count = sim.fleet.reboot_count(REGION, instance_id)
            if count > 1:
                doubles += 1
                problems.append(f"{instance_id} (request {planned.request_id}) rebooted {count}x")
            outcome = None
            if request is not None:
                outcome = next(
                    i.outcome for i in request.instances if i.ref.instance_id == instance_id
                )
            if outcome is InstanceOutcome.SUCCEEDED and count != 1:
                problems.append(f"{instance_id} is 'succeeded' but was rebooted {count}x")

    # Every thread has its final summary.
    summaries = Counter(
        (str(call.params.get("channel")), str(call.params.get("thread_ts")))
        for call in slack.calls("chat.postMessage")
        if call.status == 200
        and call.params.get("thread_ts")
        and "Done:" in str(call.params.get("text", ""))
    )
    for planned in confirmed:
        request = requests[str(planned.request_id)]
        if request is None or request.state not in FINAL:
            continue
        if not request.message_ts:
            # Killed between posting the preview and recording its ts: the click
            # must adopt its message (tests/e2e/test_crash_windows.py pins it).
            problems.append(f"request {request.id}: preview posted, its ts never recorded")
        elif summaries[(request.channel, request.message_ts)] == 0:
            problems.append(f"request {request.id}: no 'Done:' summary in its thread")

    # The notify channel heard how every request ended (once, but for a crash between
    # posting the notice and recording it).
    ended = Counter(
        request.id
        for message in slack.posted(NOTIFY)
        if " started: " not in message.text
        for request in requests.values()
        if request is not None and f"(request `{request.id}`)" in message.text
    )
    for planned in confirmed:
        request = requests[str(planned.request_id)]
        if request is not None and request.state in FINAL and ended[request.id] == 0:
            problems.append(f"request {request.id}: the notify channel never heard how it ended")

    # Every request message shows how it ended: no buttons, no "rebooting" left.
    for planned in confirmed:
        request = requests[str(planned.request_id)]
        if request is None or request.state not in FINAL or not request.message_ts:
            continue
        shown = json.dumps(slack.message(request.channel, request.message_ts).blocks)
        if '"actions"' in shown or ":arrows_counterclockwise: rebooting" in shown:
            problems.append(f"request {request.id}: its message does not show it ended")

    # Nothing ran that nobody confirmed (previews recorded but never posted, or posted
    # twice after a command sent again).
    clicked = {p.request_id for p in confirmed}
    with db.connect() as connection:
        rows = connection.execute(text("SELECT id, state, confirmed_by FROM reboot_requests")).all()
    for request_id, state, confirmed_by in rows:
        if request_id not in clicked and (confirmed_by or state not in ("previewed", "expired")):
            problems.append(f"request {request_id} was never confirmed but is {state}")

    if serve.unexpected_exits:
        problems.append(f"serve exited by itself: exit codes {serve.unexpected_exits}")

    outcomes = Counter(r.state.value for r in requests.values() if r is not None)
    calls = Counter(i.reboot_calls for r in requests.values() if r is not None for i in r.instances)
    repeated = sum(1 for n in summaries.values() if n > 1)
    failed = [
        r
        for r in requests.values()
        if r is not None and r.state in (RequestState.FAILED, RequestState.PARTIALLY_FAILED)
    ]
    total = max(1, len(confirmed))
    failed_pct = 100.0 * len(failed) / total
    if len(failed) / total > MAX_FAILED_BY_FAULTS:
        problems.append(
            f"{len(failed)}/{len(confirmed)} requests ended failed or partially failed "
            f"({failed_pct:.2f} %), above {MAX_FAILED_BY_FAULTS:.1%}"
        )
    if database is not None:
        problems.extend(database.problems())
    detail = (
        f"{summary}\nfinal states: {dict(outcomes)}; failed because of faults: "
        f"{len(failed)}/{len(confirmed)} ({failed_pct:.2f} %); reboot calls per instance: "
        f"{dict(sorted(calls.items()))}; double reboots: {doubles}; lost requests: {lost}; "
        f"threads with a repeated summary: {repeated}; previews left unclicked: "
        f"{len(driver.report.extra_previews)}"
    )
    if database is not None:
        detail += "".join(f"\n  {record}" for record in database.restarts)
    for request in failed[:5]:
        detail += f"\n  failed: {request.id}: " + "; ".join(
            f"{i.ref.instance_id} {i.outcome.value} after {i.reboot_calls} call(s), rebooted "
            f"{sim.fleet.reboot_count(i.ref.region, i.ref.instance_id)}x: {said(i)}"
            for i in request.instances
            if i.outcome is not InstanceOutcome.SUCCEEDED
        )
        # What the simulator saw of them: whether each call arrived, and its answer.
        named = {i.ref.instance_id for i in request.instances}
        detail += "\n    RebootInstances as ECS saw it: " + ", ".join(
            f"{call.at:%H:%M:%S.%f} {call.code or call.status}"
            for call in sim.calls.of("RebootInstances", dry_run=False)
            if named & set(call.ids)
        )
    figures = (
        f"SOAK requests={len(confirmed)} failed_by_faults_pct={failed_pct:.2f} "
        f"double_reboots={doubles} lost_requests={lost} kills={serve.kills}"
    )
    if database is not None:
        figures += database.figures()
    print(detail)
    print(figures)  # the last line: machine-readable
    assert not problems, (
        f"{detail}\n{len(problems)} problem(s):\n"
        + "\n".join(problems[:40])
        + f"\n--- serve log (tail) ---\n{serve.log_tail()}\n{figures}"
    )

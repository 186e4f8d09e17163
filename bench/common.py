"""Shared wiring for the benchmarks: the whole bot against the fakes on loopback.

``running_stack`` is ``bot.testing``'s offline stack (the one the end-to-end tests
use): the fake Slack Web API, the ECS simulator, the bot built by
``bootstrap.build_bot`` on a migrated SQLite file, and the real HTTP server (waitress)
that signed Slack requests are posted to. Benchmarks drive it through HTTP and
``poll_once`` only, like the end-to-end tests.

Every script prints its figures with ``report``; besides a line for people, it prints
one ``RESULT`` line (tab-separated) that ``bench.run_all`` collects into RESULTS.md.
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event

from bot.collector import tuned_for_service
from bot.domain.model import RequestState
from bot.simulator import ManualClock, Simulator
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.settings import OPERATOR
from bot.testing.stack import Harness, running_bot

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
class Stack(Harness):
    """The e2e ``Harness`` with a work directory and the benchmarks' request driver."""

    workdir: Path = field(default_factory=Path)

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until every job started after an ack has finished."""
        super().settle(timeout)

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
        self.click(ACTION_CONFIRM, request_id, user=user).raise_for_status()
        self.settle()
        state = self.request(request_id).state
        if state is not RequestState.EXECUTING and not state.is_final:
            raise RuntimeError(f"request {request_id} is {state.value} after the click")
        return request_id


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
    """The whole bot as ``serve`` wires it, on loopback, on a throw-away SQLite file,
    with the garbage collector set as ``serve`` sets it (``bot.collector``).

    The simulator and the bot share ``clock`` (a ``ManualClock`` unless given), so
    instance state changes happen when the benchmark moves time, not while it waits.
    """
    quiet_logs()
    # The benchmarks of one request measure it sent all at once unless they ask for
    # waves (bench/rolling.py does): the rollout rule (§5.8) would otherwise split them.
    env = {"ECSBOT_ROLLING_ABOVE": "1000000", **(env or {})}
    with (
        tuned_for_service(),
        tempfile.TemporaryDirectory(prefix="ecsbot-bench-") as tmp,
        running_bot(
            f"sqlite:///{Path(tmp) / 'bench.db'}",
            instances=instances,
            regions=regions,
            env=env,
            clock=clock,
            stop_seconds=stop_seconds,
            start_seconds=start_seconds,
            job_workers=job_workers,
            sender_timeout=30.0,
        ) as h,
    ):
        parts = {f.name: getattr(h, f.name) for f in fields(Harness)}
        yield Stack(**parts, workdir=Path(tmp))


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

"""Memory of a ``serve`` process: idle, and with 10,000 instances in flight.

``python -m bot serve`` runs as a subprocess on ``bot.testing``'s offline settings
(fake Slack Web API and ECS simulator on loopback, a SQLite file), and its resident
set is read from /proc/<pid>/status (``VmRSS``, and the peak ``VmHWM``):

* idle: on an empty database, once it prints that it listens and a second later;
* in flight: on a database holding 100 confirmed requests of 100 instances each (all
  still rebooting: the simulator's stop phase lasts a day), once its in-process poller
  has polled every request at least once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import Stack, in_flight, report, running_stack
from bot.domain.model import Role
from bot.testing.serve import serve_process
from bot.testing.settings import OPERATOR, offline_env

REQUESTS = 100
PER_REQUEST = 100
STARTUP_SECONDS = 30.0
POLL_WAIT_SECONDS = 60.0
TARGET_IDLE_MB = 120.0


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB (MiB)."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@contextmanager
def serve(stack: Stack, database_url: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m bot serve`` on a free loopback port against the stack's fakes."""
    values = offline_env(
        slack_url=stack.slack.url,
        sim=stack.sim,
        database_url=database_url,
        overrides={"ECSBOT_POLL_INTERVAL": "0.5"},
    )
    with serve_process(values, stack.workdir, timeout=STARTUP_SECONDS) as served:
        yield served.process


def _wait_polled(stack: Stack, since: int) -> int:
    """Wait until serve's poller made a DescribeInstances call per request; bounded."""
    deadline = time.monotonic() + POLL_WAIT_SECONDS
    while time.monotonic() < deadline:
        polled = stack.sim.calls.count("DescribeInstances") - since
        if polled >= REQUESTS:
            return polled
        time.sleep(0.2)
    raise RuntimeError("serve's poller did not poll every request in time")


def main() -> int:
    print("RSS of `python -m bot serve`")
    with running_stack(
        instances=REQUESTS * PER_REQUEST, stop_seconds=86_400.0, job_workers=4
    ) as stack:
        with serve(stack, f"sqlite:///{stack.workdir / 'idle.db'}") as process:
            at_listen, _ = memory_mb(process.pid)
            time.sleep(1.0)
            idle, _ = memory_mb(process.pid)
        print(f"    idle: {at_listen:.0f} MB when it listens, {idle:.0f} MB a second later")
        report(
            "serve RSS idle",
            f"{max(at_listen, idle):.0f} MB",
            f"< {TARGET_IDLE_MB:.0f} MB",
            max(at_listen, idle) < TARGET_IDLE_MB,
        )

        stack.grant(OPERATOR, Role.OPERATOR)
        in_flight(stack, REQUESTS, PER_REQUEST)
        database_url = str(stack.bot.settings.database_url)
        before = stack.sim.calls.count("DescribeInstances")
        with serve(stack, database_url) as process:
            polled = _wait_polled(stack, before)
            rss, peak = memory_mb(process.pid)
        print(f"    in flight: {polled} DescribeInstances calls made by serve's poller")
        report(
            f"serve RSS with {REQUESTS * PER_REQUEST} instances in flight (peak)",
            f"{rss:.0f} MB ({peak:.0f} MB)",
            "",
            None,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

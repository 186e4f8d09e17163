"""``make bench``: run every benchmark script in its own process (with a timeout), show
what each prints, and write the ``RESULT`` lines they print to ``bench/RESULTS.md``
with the machine they ran on.

A script that fails or times out is listed as such; the others still run.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULT_PREFIX

SCRIPTS = (
    ("ack_latency", 360),
    ("ecs_calls", 120),
    ("slack_messages", 180),
    ("poller_scale", 300),
    ("ecs_client_vs_sdk", 120),
    ("memory", 240),
    ("rolling", 180),
)
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
# The machine-readable ratios the scripts print (``FIGURE name value``), in run order.
FIGURES: list[str] = []
REPO_ROOT = RESULTS.parents[1]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


FIGURE_PREFIX = "FIGURE "


def run(script: str, timeout: int) -> tuple[list[list[str]], str, float]:
    """(result rows, status, seconds) of one script; its ``FIGURE`` lines go to
    ``FIGURES``."""
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and modules
            [sys.executable, "-m", f"bench.{script}"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout if isinstance(expired.stdout, str) else ""
        status = f"timed out after {timeout} s"
    else:
        output = done.stdout
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
    rows = []
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            rows.append(line.removeprefix(RESULT_PREFIX).split("\t"))
        else:
            if line.startswith(FIGURE_PREFIX):
                FIGURES.append(line)
            print(line)
    return rows, status, time.monotonic() - started


def main() -> int:
    table: list[str] = [
        "| benchmark | figure | target | verdict |",
        "| --- | --- | --- | --- |",
    ]
    total = time.monotonic()
    for script, timeout in SCRIPTS:
        print(f"== bench.{script}", flush=True)
        rows, status, seconds = run(script, timeout)
        print(f"   ({status}, {seconds:.0f} s)", flush=True)
        if status != "ok":
            table.append(f"| {script} | {status} | | ERROR |")
        for name, figure, target, verdict in rows:
            table.append(f"| {name} | {figure} | {target} | {verdict or '—'} |")
    elapsed = time.monotonic() - total
    machine = [
        f"* Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"* CPU: {cpu_model()}, nproc {os.cpu_count()}",
        f"* Python: {platform.python_version()} ({platform.python_implementation()})",
        f"* Whole run: {elapsed:.0f} s",
    ]
    RESULTS.write_text(
        "# Benchmark results\n\n"
        "Written by `make bench` (`python -m bench.run_all`); each script's docstring says "
        "what it measures and how. Figures are medians or ratios taken in the same run: "
        "the machine is shared and noisy.\n\n"
        + "\n".join(machine)
        + "\n\n"
        + "Ratios against each floor measured in the same run (targets: "
        + "`ack_p99_vs_bare_bolt` ≤ 1.5, `click_ack_p99_vs_bare_bolt` ≤ 2, "
        + "`poll_tick_cpu_vs_floor` ≤ 3; the p50 ratios beside them):\n\n"
        + "```\n"
        + "\n".join(FIGURES)
        + "\n```\n\n"
        + "\n".join(table)
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Our ECS client against the official SDK (``alibabacloud_ecs20140526``), same run.

The simulator runs in ANOTHER process (``python -m bot.simulator --json --port 0``),
so its CPU is not the clients'. Both clients call ``DescribeInstances`` for the same 50
ids, V3-signed, over loopback keep-alive connections:

* CPU per call: one thread, ``time.process_time`` over a batch of calls, in alternating
  rounds (ours, theirs, ours, …) so that machine noise hits both alike; medians.
* Calls per second: several client threads for a few seconds, each client in turn.
* The simulator: the calls per second it answers when two client processes of several
  threads each load it, and its own CPU per call (utime + stime from /proc/<pid>/stat),
  to show it is not what limits the figures above. The load comes from a bare client
  (``LightCaller``: V3-signed requests written to a socket, answers read by
  Content-Length, never decoded) so that on a two-core machine the load generators
  leave the simulator the CPU it can use; a full client would measure itself.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as SdkClient
from alibabacloud_tea_openapi.models import Config

from bench.common import median, report
from bot.ecs import signing
from bot.ecs.client import API_VERSION, EcsClient
from bot.ecs.credentials import StaticCredentialsProvider

REGION = "cn-hangzhou"
IDS_PER_CALL = 50
CALLS_PER_ROUND = 150
ROUNDS = 3
THREADS = 4
CLIENT_PROCESSES = 2
THROUGHPUT_SECONDS = 3.0
STARTUP_SECONDS = 20.0
TARGET_CPU_RATIO = 0.5
TARGET_SIMULATOR_CALLS_PER_SECOND = 500.0


@dataclass(frozen=True)
class Simulated:
    pid: int
    endpoint: str
    access_key_id: str
    access_key_secret: str
    ids: list[str]

    def cpu_seconds(self) -> float:
        """The simulator process's CPU so far (user + system)."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def simulator_process() -> Iterator[Simulated]:
    command = [
        sys.executable,
        *("-m", "bot.simulator", "--json", "--host", "127.0.0.1", "--port", "0"),
        *("--regions", REGION, "--instances", str(IDS_PER_CALL)),
    ]
    with subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
            if not ready:
                raise RuntimeError("the simulator did not start")
            info: dict[str, Any] = json.loads(process.stdout.readline())
            yield Simulated(
                pid=process.pid,
                endpoint=info["endpoint"],
                access_key_id=info["access_key_id"],
                access_key_secret=info["access_key_secret"],
                ids=info["instances"][REGION][:IDS_PER_CALL],
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def ours(sim: Simulated) -> tuple[Callable[[], int], Callable[[], None]]:
    """(one call returning the instances found, close)."""
    client = EcsClient(
        credentials=StaticCredentialsProvider(sim.access_key_id, sim.access_key_secret),
        endpoint=sim.endpoint,
    )
    return (lambda: len(client.describe_instances(REGION, sim.ids))), client.close


def theirs(sim: Simulated) -> tuple[Callable[[], int], Callable[[], None]]:
    client = SdkClient(
        Config(
            access_key_id=sim.access_key_id,
            access_key_secret=sim.access_key_secret,
            endpoint=sim.endpoint.removeprefix("http://"),
            protocol="HTTP",
            region_id=REGION,
        )
    )
    request = ecs_models.DescribeInstancesRequest(
        region_id=REGION, instance_ids=json.dumps(sim.ids), max_results=100
    )

    def call() -> int:
        return len(client.describe_instances(request).body.instances.instance)

    return call, lambda: None


def cpu_per_call(call: Callable[[], int]) -> float:
    started = time.process_time()
    for _ in range(CALLS_PER_ROUND):
        if call() != IDS_PER_CALL:
            raise RuntimeError("a call did not return every instance")
    return (time.process_time() - started) / CALLS_PER_ROUND


def run_for(seconds: float, calls: Sequence[Callable[[], int]]) -> int:
    """Run each of ``calls`` in a loop on a thread of its own for ``seconds``; the sum
    of what the calls returned."""
    stop = threading.Event()
    totals = [0] * len(calls)

    def worker(slot: int) -> None:
        call = calls[slot]
        while not stop.is_set():
            totals[slot] += call()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(len(calls))]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return sum(totals)


def calls_per_second(call: Callable[[], int], sim: Simulated) -> tuple[float, float]:
    """(calls per second over THREADS threads, simulator CPU seconds per call)."""

    def counted() -> int:
        call()
        return 1

    sim_cpu, started = sim.cpu_seconds(), time.perf_counter()
    total = run_for(THROUGHPUT_SECONDS, [counted] * THREADS)
    elapsed = time.perf_counter() - started
    return total / elapsed, (sim.cpu_seconds() - sim_cpu) / total


class LightCaller:
    """``DescribeInstances`` for the simulator's ids over one keep-alive connection,
    signed like every client's (fresh nonce, V3) but with no HTTP library: the least
    CPU a caller can spend, so that the simulator is what a load test measures."""

    def __init__(self, sim: Simulated) -> None:
        url = urlsplit(sim.endpoint)
        self._sim = sim
        self._host = url.netloc
        self._query = signing.canonical_query(
            {"RegionId": REGION, "InstanceIds": json.dumps(sim.ids), "MaxResults": "100"}
        )
        self._socket = socket.create_connection((url.hostname, url.port))
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._answers = self._socket.makefile("rb")

    def __call__(self) -> int:
        """One call; 1 when it was answered 200, else 0."""
        self._socket.sendall(self._request())
        status = self._answers.readline()
        length = 0
        while (line := self._answers.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self._answers.read(length)
        return 1 if status.startswith(b"HTTP/1.1 200 ") else 0

    def _request(self) -> bytes:
        headers = {
            "host": self._host,
            "x-acs-action": "DescribeInstances",
            "x-acs-version": API_VERSION,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": os.urandom(16).hex(),
            "x-acs-content-sha256": signing.EMPTY_BODY_SHA256,
        }
        headers["authorization"] = signing.v3_authorization_encoded(
            self._sim.access_key_id, self._sim.access_key_secret, "POST", "/", self._query, headers
        )
        lines = [f"POST /?{self._query} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
        return "\r\n".join([*lines, "Content-Length: 0", "", ""]).encode("ascii")

    def close(self) -> None:
        self._answers.close()
        self._socket.close()


def _light_calls_in_process(sim: Simulated) -> int:
    """Run in a helper process: answered calls from THREADS light callers for
    THROUGHPUT_SECONDS (one process's GIL would otherwise cap the load)."""
    callers = [LightCaller(sim) for _ in range(THREADS)]
    try:
        return run_for(THROUGHPUT_SECONDS, callers)
    finally:
        for caller in callers:
            caller.close()


def simulator_load(sim: Simulated) -> tuple[float, float]:
    """(calls per second the simulator answered for CLIENT_PROCESSES light client
    processes, its CPU seconds per call)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=CLIENT_PROCESSES, mp_context=spawn) as pool:
        pool.submit(time.sleep, 0).result(timeout=60)  # start the workers first
        sim_cpu, before = sim.cpu_seconds(), time.perf_counter()
        futures = [pool.submit(_light_calls_in_process, sim) for _ in range(CLIENT_PROCESSES)]
        calls = sum(future.result(timeout=120) for future in futures)
        elapsed = time.perf_counter() - before
    if calls == 0:
        raise RuntimeError("the simulator answered none of the light callers' calls with 200")
    return calls / elapsed, (sim.cpu_seconds() - sim_cpu) / calls


def main() -> int:
    print(f"DescribeInstances ({IDS_PER_CALL} ids), simulator in another process")
    with simulator_process() as sim:
        clients = {"ours": ours(sim), "sdk": theirs(sim)}
        try:
            for call, _ in clients.values():
                for _ in range(20):  # warm-up: connections, imports, caches
                    call()
            cpu: dict[str, list[float]] = {name: [] for name in clients}
            for _ in range(ROUNDS):
                for name, (call, _) in clients.items():
                    cpu[name].append(cpu_per_call(call))
            rates: dict[str, float] = {}
            sim_cpu: list[float] = []
            for name, (call, _) in clients.items():
                rates[name], sim_seconds = calls_per_second(call, sim)
                sim_cpu.append(sim_seconds)
            sim_rate, sim_seconds = simulator_load(sim)
            sim_cpu.append(sim_seconds)
        finally:
            for _, close in clients.values():
                close()

    ours_cpu, sdk_cpu = median(cpu["ours"]), median(cpu["sdk"])
    for name in clients:
        print(
            f"    {name}: CPU {median(cpu[name]) * 1000:.2f} ms/call "
            f"(rounds {', '.join(f'{c * 1000:.2f}' for c in cpu[name])}), "
            f"{rates[name]:.0f} calls/s with {THREADS} threads"
        )
    ratio = ours_cpu / sdk_cpu
    report(
        "ECS client CPU per call, ours / SDK",
        f"{ours_cpu * 1000:.2f} / {sdk_cpu * 1000:.2f} ms = {ratio:.2f}x",
        f"<= {TARGET_CPU_RATIO}x",
        ratio <= TARGET_CPU_RATIO,
    )
    report(
        f"ECS client calls/s, ours / SDK ({THREADS} threads)",
        f"{rates['ours']:.0f} / {rates['sdk']:.0f}",
        "",
        None,
    )
    best = max(*rates.values(), sim_rate)
    capacity = 1 / median(sim_cpu)
    print(
        f"    simulator: {sim_rate:.0f} calls/s for {CLIENT_PROCESSES} light client processes "
        f"x {THREADS} threads; {median(sim_cpu) * 1000:.2f} ms of its CPU per call"
    )
    report(
        "Simulator: best calls/s seen / capacity (1 / its CPU per call)",
        f"{best:.0f} / {capacity:.0f}",
        f">= {TARGET_SIMULATOR_CALLS_PER_SECOND:.0f}",
        best >= TARGET_SIMULATOR_CALLS_PER_SECOND,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

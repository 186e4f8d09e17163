"""``Sender.post`` alone: CPU per 100-id ``DescribeInstances`` on httpx's transport and
on the standard-library fast path (docs/decisions/0016).

The simulator runs in this process on threads of its own; the figure is the calling
thread's CPU (``time.thread_time``) over ``Sender.post`` only: the requests are signed
beforehand (each with its own nonce, as the simulator refuses a replay) and the answers
are not decoded. Rounds alternate the two paths so that machine noise hits both alike;
medians.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from bench.common import median, report
from bot.ecs.client import EcsClient
from bot.ecs.credentials import StaticCredentialsProvider
from bot.ecs.sender import Sender
from bot.simulator import Simulator

REGION = "cn-hangzhou"
IDS = 100
CALLS_PER_ROUND = 300
ROUNDS = 5
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def main() -> int:
    with Simulator(regions=(REGION,), instances_per_region=IDS, seed=0) as sim:
        ids = sim.describe()["instances"][REGION][:IDS]
        signer = EcsClient(
            credentials=StaticCredentialsProvider(sim.access_key_id, sim.access_key_secret),
            endpoint=sim.endpoint,
        )
        params = {"RegionId": REGION, "InstanceIds": json.dumps(ids), "MaxResults": "100"}
        senders = {
            # An injected transport keeps the Sender on httpx: the default one, as the
            # client would build it.
            "httpx": Sender(transport=httpx.HTTPTransport(), timeout=TIMEOUT),
            "stdlib": Sender(transport=None, timeout=TIMEOUT),
        }
        origins = {name: sender.origin(sim.endpoint) for name, sender in senders.items()}
        pool = origins["stdlib"].pool
        assert pool is not None
        assert origins["httpx"].pool is None
        size = 0

        def batch(name: str) -> Callable[[], float]:
            sender, origin = senders[name], origins[name]
            host = origin.host

            def run() -> float:
                nonlocal size
                signed = [
                    signer._sign("DescribeInstances", host, params) for _ in range(CALLS_PER_ROUND)
                ]
                started = time.thread_time()
                for query, headers in signed:
                    response = sender.post(origin, query, headers)
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: HTTP {response.status_code}")
                    size = len(response.content)
                return (time.thread_time() - started) / CALLS_PER_ROUND

            return run

        runs = {name: batch(name) for name in senders}
        per_call: dict[str, list[float]] = {name: [] for name in senders}
        try:
            for run in runs.values():
                run()  # warm-up: connections, imports, caches
            for _ in range(ROUNDS):
                for name, run in runs.items():
                    per_call[name].append(run())
        finally:
            for sender in senders.values():
                sender.close()
            signer.close()
        opened = pool.opened

    print(f"Sender.post, DescribeInstances ({IDS} ids, {size / 1000:.1f} kB answer)")
    for name, figures in per_call.items():
        print(
            f"    {name}: {median(figures) * 1000:.3f} ms CPU/call "
            f"(rounds {', '.join(f'{f * 1000:.3f}' for f in figures)})"
        )
    print(f"    stdlib connections opened: {opened}")
    fast, slow = median(per_call["stdlib"]), median(per_call["httpx"])
    report(
        "Sender.post CPU per call, stdlib / httpx",
        f"{fast * 1000:.3f} / {slow * 1000:.3f} ms = {fast / slow:.2f}x",
        "",
        None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

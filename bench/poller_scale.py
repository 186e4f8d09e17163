"""The poller at scale (docs/PRODUCT.md §5.5): one ``poll_once`` tick with thousands of
instances in flight.

Requests are previewed and confirmed over signed HTTP; the simulator keeps every
instance ``Stopping`` (a stop phase of a day), so each poll sees them all still in
flight: the steady state of a big reboot. Then, round after round, the manual clock
moves 20 s (every request is due again) and one ``poll_once`` tick polls every request
once. Per tick: CPU time of the polling thread (``time.thread_time``; the in-process
simulator and fake Slack run on other threads), wall time, and database statements (a
SQLAlchemy ``before_cursor_execute`` listener).

Shapes: 10×100, 100×100 (requests × instances each), and 10×1000: statements should
grow with requests, not with instances.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.common import (
    StatementCounter,
    in_flight,
    median,
    report,
    running_stack,
    timed,
)
from bot.domain.model import InstanceOutcome, Role
from bot.testing.settings import OPERATOR

SHAPES = ((10, 100), (100, 100), (10, 1000))
TARGET_SHAPE = (100, 100)
ROUNDS = 5
TARGET_TICK_SECONDS = 0.5
STOP_SECONDS = 86_400.0


@dataclass
class Tick:
    requests: int
    cpu: float
    wall: float
    statements: int


def measure(requests: int, per_request: int) -> list[Tick]:
    with running_stack(
        instances=requests * per_request,
        stop_seconds=STOP_SECONDS,
        env={"ECSBOT_MAX_INSTANCES": str(max(per_request, 500))},
    ) as stack:
        stack.grant(OPERATOR, Role.OPERATOR)
        request_ids = in_flight(stack, requests, per_request)
        watching = sum(
            i.outcome is InstanceOutcome.REBOOTING
            for rid in request_ids
            for i in stack.request(rid).instances
        )
        if watching != requests * per_request:
            raise RuntimeError(f"only {watching} instances are in flight")
        counter = StatementCounter()
        counter.attach(stack.bot.engine)
        ticks: list[Tick] = []
        for _ in range(ROUNDS):
            stack.clock.advance(20.0)
            before = counter.count
            wall, cpu, polled = timed(stack.tick)
            if polled.failed or len(polled.advanced) != requests:
                raise RuntimeError(f"a tick did not poll every request: {polled}")
            ticks.append(Tick(len(polled.advanced), cpu, wall, counter.count - before))
        counter.detach(stack.bot.engine)
        return ticks


def main() -> int:
    print("poll_once with instances in flight (one tick polls every request)")
    for requests, per_request in SHAPES:
        ticks = measure(requests, per_request)
        cpu = median(t.cpu for t in ticks)
        wall = median(t.wall for t in ticks)
        statements = median(t.statements for t in ticks)
        instances = requests * per_request
        shape = f"{requests}x{per_request}"
        print(
            f"    {shape}: {len(ticks)} ticks of {requests} requests ({instances} instances): "
            f"CPU {cpu:.3f} s (rounds {', '.join(f'{t.cpu:.3f}' for t in ticks)}), "
            f"wall {wall:.3f} s, {statements:.0f} statements"
        )
        # The target is for 10,000 instances in 100 requests; the other shapes show how
        # the cost scales.
        targeted = (requests, per_request) == TARGET_SHAPE
        report(
            f"poll_once {shape}: CPU / wall per tick ({requests} req, {instances} inst)",
            f"{cpu:.3f} / {wall:.3f} s",
            f"CPU < {TARGET_TICK_SECONDS} s" if targeted else "",
            cpu < TARGET_TICK_SECONDS if targeted else None,
        )
        report(
            f"poll_once {shape}: statements per tick / per request / per instance",
            f"{statements:.0f} / {statements / requests:.1f} / {statements / instances:.3f}",
            "grow with requests",
            None,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

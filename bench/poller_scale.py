"""The poller at scale (DESIGN §5.5): one ``poll_once`` tick with thousands of
instances in flight.

Requests are previewed and confirmed over signed HTTP; the simulator keeps every
instance ``Stopping`` (a stop phase of a day), so each poll sees them all still in
flight: the steady state of a big reboot. Then, round after round, the manual clock
moves 20 s (every request is due again) and ``poll_once`` runs until each request was
polled once more. Per tick: CPU time of the polling thread (``time.thread_time``; the
in-process simulator and fake Slack run on other threads), wall time, and database
statements (a SQLAlchemy ``before_cursor_execute`` listener).

Shapes: 10×100, 100×100 (requests × instances each), and 10×1000: statements should
grow with requests, not with instances.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.common import (
    OPERATOR,
    StatementCounter,
    in_flight,
    median,
    report,
    running_stack,
    timed,
)
from bot.domain.model import InstanceOutcome, Role
from bot.services.poller import MAX_REQUESTS_PER_TICK as BATCH

SHAPES = ((10, 100), (100, 100), (10, 1000))
TARGET_SHAPE = (100, 100)
ROUNDS = 3
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
            polled = 0
            while polled < requests:
                before = counter.count
                wall, cpu, polled_now = timed(stack.tick)
                advanced = len(polled_now.advanced)
                if polled_now.failed or advanced == 0:
                    raise RuntimeError(f"a tick advanced nothing: {polled_now}")
                ticks.append(Tick(advanced, cpu, wall, counter.count - before))
                polled += advanced
        counter.detach(stack.bot.engine)
        return ticks


def main() -> int:
    print(f"poll_once with instances in flight (at most {BATCH} requests per tick)")
    for requests, per_request in SHAPES:
        ticks = measure(requests, per_request)
        full = [t for t in ticks if t.requests == max(t.requests for t in ticks)]
        cpu = median(t.cpu for t in full)
        wall = median(t.wall for t in full)
        statements = median(t.statements for t in full)
        per_tick_requests = full[0].requests
        instances = per_tick_requests * per_request
        shape = f"{requests}x{per_request}"
        print(
            f"    {shape}: {len(ticks)} ticks of {per_tick_requests} requests "
            f"({instances} instances): CPU {cpu:.3f} s, wall {wall:.3f} s, "
            f"{statements:.0f} statements"
        )
        # The target is for 10,000 instances in 100 requests; the other shapes show how
        # the cost scales.
        targeted = (requests, per_request) == TARGET_SHAPE
        report(
            f"poll_once {shape}: CPU / wall per tick ({per_tick_requests} req, {instances} inst)",
            f"{cpu:.3f} / {wall:.3f} s",
            f"CPU < {TARGET_TICK_SECONDS} s" if targeted else "",
            cpu < TARGET_TICK_SECONDS if targeted else None,
        )
        if len(full) < len(ticks) or requests > BATCH:
            whole = median(
                sum(t.cpu for t in ticks[r * len(ticks) // ROUNDS : (r + 1) * len(ticks) // ROUNDS])
                for r in range(ROUNDS)
            )
            print(f"    {shape}: CPU to poll every request once: {whole:.3f} s")
        report(
            f"poll_once {shape}: statements per tick / per request / per instance",
            f"{statements:.0f} / {statements / per_tick_requests:.1f} / "
            f"{statements / instances:.3f}",
            "grow with requests",
            None,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

The floor, measured in the same run on the same database and thread: what a tick cannot
do without. Decode the same DescribeInstances answers (one per 100 instances, as the
simulator gives them, encoded once beforehand) with orjson, read the in-flight rows
(the columns the completion rule needs) with one statement, and write those whose status
changed with one executemany, then commit. ``FIGURE poll_tick_cpu_vs_floor`` is the
median tick's CPU over the median floor's, at 100×100. After one tick left unmeasured
(the first look after the reboot calls, which records every instance leaving Running),
ticks and floors take turns, round after round, so both are measured in the same minutes:
on this shared machine the same tick's CPU varies by half from one minute to the next.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import orjson
from sqlalchemy import bindparam, select, update

from bench.common import (
    Stack,
    StatementCounter,
    in_flight,
    median,
    report,
    running_stack,
    timed,
)
from bot.db.repositories.rows import INSTANCES
from bot.domain.model import InstanceOutcome, Role
from bot.testing.settings import OPERATOR

SHAPES = ((10, 100), (100, 100), (10, 1000))
TARGET_SHAPE = (100, 100)
ROUNDS = 9
TARGET_TICK_SECONDS = 0.5
TARGET_VS_FLOOR = 3.0
STOP_SECONDS = 86_400.0


@dataclass
class Tick:
    requests: int
    cpu: float
    wall: float
    statements: int


# What the completion rule reads of an instance in flight (bot/services/progress.py).
_FLOOR_READ = select(
    INSTANCES.c.request_id,
    INSTANCES.c.region,
    INSTANCES.c.instance_id,
    INSTANCES.c.status,
    INSTANCES.c.seen_leaving_running,
    INSTANCES.c.reboot_sent_at,
    INSTANCES.c.reboot_resent_at,
    INSTANCES.c.reboot_acked_at,
    INSTANCES.c.start_time_before,
).where(INSTANCES.c.outcome == InstanceOutcome.REBOOTING.value)
_FLOOR_WRITE = (
    update(INSTANCES)
    .where(
        INSTANCES.c.request_id == bindparam("match_request_id"),
        INSTANCES.c.region == bindparam("match_region"),
        INSTANCES.c.instance_id == bindparam("match_instance_id"),
    )
    .values(status=bindparam("new_status"))
)


def _answers(stack: Stack, request_ids: list[str]) -> list[bytes]:
    """The DescribeInstances answer the simulator gives for each request's instances
    (≤100 ids a call, as the bot asks), encoded as it sends them."""
    answers = []
    for request_id in request_ids:
        refs = [i.ref for i in stack.request(request_id).instances]
        for start in range(0, len(refs), 100):
            batch = refs[start : start + 100]
            params = {
                "RegionId": batch[0].region,
                "InstanceIds": json.dumps([ref.instance_id for ref in batch]),
                "MaxResults": "100",
            }
            body = stack.sim.api.call("DescribeInstances", params)
            answers.append(orjson.dumps({"RequestId": "floor", **body}))
    return answers


def floor_tick(stack: Stack, answers: list[bytes]) -> tuple[float, int]:
    """(CPU seconds, rows written) of the floor described in the module's docstring."""
    started = time.thread_time()
    seen: dict[tuple[str, str], str] = {}
    for answer in answers:
        body = orjson.loads(answer)
        for item in body["Instances"]["Instance"]:
            seen[(item["RegionId"], item["InstanceId"])] = item["Status"]
    with stack.bot.engine.connect() as connection:
        changed = [
            {
                "match_request_id": row.request_id,
                "match_region": row.region,
                "match_instance_id": row.instance_id,
                "new_status": status,
            }
            for row in connection.execute(_FLOOR_READ)
            if (status := seen.get((row.region, row.instance_id))) is not None
            and status != row.status
        ]
        if changed:
            connection.execute(_FLOOR_WRITE, changed)
        connection.commit()
    return time.thread_time() - started, len(changed)


def measure(requests: int, per_request: int) -> tuple[list[Tick], list[float]]:
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
        answers = _answers(stack, request_ids)
        # One tick unmeasured: the first look at each request after its reboot calls
        # records the instances leaving Running; the steady state is what is measured.
        stack.clock.advance(20.0)
        stack.tick()
        counter = StatementCounter()
        counter.attach(stack.bot.engine)
        ticks: list[Tick] = []
        floors: list[float] = []
        # Tick and floor take turns, so that both see the same minutes of a noisy machine.
        for _ in range(ROUNDS):
            stack.clock.advance(20.0)
            before = counter.count
            wall, cpu, polled = timed(stack.tick)
            if polled.failed or len(polled.advanced) != requests:
                raise RuntimeError(f"a tick did not poll every request: {polled}")
            ticks.append(Tick(len(polled.advanced), cpu, wall, counter.count - before))
            floors.append(floor_tick(stack, answers)[0])
        counter.detach(stack.bot.engine)
        return ticks, floors


def main() -> int:
    print("poll_once with instances in flight (one tick polls every request)")
    for requests, per_request in SHAPES:
        ticks, floors = measure(requests, per_request)
        cpu = median(t.cpu for t in ticks)
        floor = median(floors)
        wall = median(t.wall for t in ticks)
        statements = median(t.statements for t in ticks)
        instances = requests * per_request
        shape = f"{requests}x{per_request}"
        print(
            f"    {shape}: {len(ticks)} ticks of {requests} requests ({instances} instances): "
            f"CPU {cpu:.3f} s (rounds {', '.join(f'{t.cpu:.3f}' for t in ticks)}), "
            f"wall {wall:.3f} s, {statements:.0f} statements; "
            f"floor CPU {floor:.3f} s (rounds {', '.join(f'{f:.3f}' for f in floors)})"
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
        if targeted:
            ratio = cpu / floor
            print(f"FIGURE poll_tick_cpu_vs_floor {ratio:.2f}")
            report(
                f"poll_once {shape}: tick CPU / floor CPU (orjson decode, 1 read, 1 executemany)",
                f"{ratio:.2f} ({cpu:.3f} / {floor:.3f} s)",
                f"≤ {TARGET_VS_FLOOR:.0f}",
                ratio <= TARGET_VS_FLOOR,
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

"""Rolling reboots (docs/PRODUCT.md §5.8): how fast the next wave follows, what a poll asks ECS
during a rollout, and how many Slack messages a large rollout makes.

* Gap: 100 instances in 5 waves (canary 1, then waves of ≤ 25). The simulator's manual
  clock moves in 0.1 s steps and the poller is ticked at every step (it claims the
  request only when it is due). A wave is over when the simulator shows its last
  instance ``Running`` again; the gap runs from then to the next wave's first reboot
  call. Target: median and max ≤ 1 poll interval.
* ECS calls per poll: during the same rollout, every ``DescribeInstances`` of a poll
  against the lower bound ⌈instances in flight / 100⌉ per region, and how many ids of
  waves not sent yet were described (target 0).
* Slack messages: 500 instances in 5 waves (the defaults), every Slack Web API call
  from the command to the summary. Target: < 40.
"""

from __future__ import annotations

import math
from collections import Counter

from bench.common import Stack, median, refs, report, running_stack
from bench.slack_messages import kind
from bot.domain.model import InstanceOutcome, Role
from bot.testing.settings import OPERATOR

POLL_INTERVAL = 2.0
STEP = 0.1
MAX_STEPS = 20_000


def _rollout(stack: Stack, n: int) -> tuple[str, list[float], list[tuple[int, int, int]]]:
    """Run one rollout of ``n`` instances; (request id, gaps in seconds, per poll:
    (DescribeInstances calls, lower bound, ids of unsent waves described))."""
    stack.grant(OPERATOR, Role.OPERATOR)
    region = stack.sim.fleet.regions[0]
    request_id = stack.run(refs(stack.sim, [n]))
    waves = {i.ref.instance_id: i.wave for i in stack.request(request_id).instances}
    count = max(waves.values())
    left: dict[str, bool] = {}  # instance → seen leaving Running in the simulator
    back_at: dict[str, float] = {}
    sent_at: dict[int, float] = {1: 0.0}
    polls: list[tuple[int, int, int]] = []
    elapsed = 0.0
    for _ in range(MAX_STEPS):
        stack.clock.advance(STEP)
        elapsed += STEP
        for instance_id, wave in waves.items():
            if instance_id in back_at or wave not in sent_at:
                continue
            view = stack.sim.fleet.get(region, instance_id)
            if view is None:
                continue
            if view.status != "Running":
                left[instance_id] = True
            elif left.get(instance_id):
                back_at[instance_id] = elapsed
        before = len(stack.sim.calls.of("DescribeInstances"))
        stack.tick()
        describes = stack.sim.calls.of("DescribeInstances")[before:]
        request = stack.request(request_id)
        if describes:
            flying = {
                i.ref.instance_id
                for i in request.instances
                if i.reboot_sent_at is not None and i.outcome is not InstanceOutcome.PENDING
            }
            unsent = {i.ref.instance_id for i in request.instances if i.reboot_sent_at is None}
            asked = {instance_id for call in describes for instance_id in call.ids}
            bound = math.ceil(len(asked & flying) / 100) if asked & flying else 0
            polls.append((len(describes), bound, len(asked & unsent)))
        for wave in range(2, count + 1):
            if wave not in sent_at and any(
                i.wave == wave and i.reboot_sent_at is not None for i in request.instances
            ):
                sent_at[wave] = elapsed
        if request.state.is_final:
            break
    else:
        raise RuntimeError(f"request {request_id} did not finish")
    gaps = []
    for wave in range(2, count + 1):
        over = max(back_at[i] for i, w in waves.items() if w == wave - 1)
        gaps.append(sent_at[wave] - over)
    return request_id, gaps, polls


def gap_and_calls() -> None:
    env = {"ECSBOT_ROLLING_ABOVE": "10", "ECSBOT_POLL_INTERVAL": str(POLL_INTERVAL)}
    with running_stack(instances=100, env=env) as stack:
        request_id, gaps, polls = _rollout(stack, 100)
        waves = stack.request(request_id).rollout_waves
    print(f"    100 instances, {waves} waves; gaps {[round(g, 1) for g in gaps]} s")
    worst = max(gaps)
    report(
        "rolling: next wave after the last is over (median / max)",
        f"{median(gaps):.1f} s / {worst:.1f} s at a {POLL_INTERVAL:g} s interval",
        f"≤ {POLL_INTERVAL:g} s (1 poll interval)",
        median(gaps) <= POLL_INTERVAL and worst <= POLL_INTERVAL,
    )
    over = sum(1 for calls, bound, _ in polls if calls > bound)
    unsent = sum(described for _, _, described in polls)
    report(
        "rolling: DescribeInstances per poll vs ⌈in flight/100⌉",
        f"{len(polls)} polls, {over} above the bound, {unsent} ids of unsent waves described",
        "0 above the bound, 0 unsent described",
        over == 0 and unsent == 0,
    )


def slack_messages() -> None:
    env = {
        "ECSBOT_ROLLING_ABOVE": "10",
        "ECSBOT_MAX_INSTANCES": "500",
        "ECSBOT_POLL_INTERVAL": str(POLL_INTERVAL),
    }
    with running_stack(instances=500, env=env) as stack:
        request_id, _gaps, _polls = _rollout(stack, 500)
        request = stack.request(request_id)
        calls = Counter(kind(c) for c in stack.slack.calls() if c.method != "response_url")
    total = sum(calls.values())
    print(f"    500 instances, {request.rollout_waves} waves, {request.state.value}: {dict(calls)}")
    report(
        "rolling: Slack calls for 500 instances in 5 waves",
        f"{total} ({request.rollout_waves} waves)",
        "< 40",
        total < 40 and request.rollout_waves == 5,
    )


def main() -> None:
    gap_and_calls()
    slack_messages()


if __name__ == "__main__":
    main()

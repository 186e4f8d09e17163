"""ECS calls against the lower bound (docs/PRODUCT.md §5.3–5.5: ≤100 ids a call, per region).

For N = 1, 100, 250 and 1000 instances spread over two regions, one request is
previewed and confirmed over signed HTTP, then polled (``poll_once`` on the simulator's
manual clock) until it finishes. The simulator's call log gives the calls of each action
at preview, at execution and per poll; each count is divided by its lower bound, the sum
over regions of ⌈ids in that region / 100⌉ (for a poll: of the ids still rebooting).
A ratio of 1.00 means no call was wasted.

Next to it, the same instances picked by a tag selector (``--region R1,R2 tag:…``):
the preview's ECS calls are the filtered ``DescribeInstances`` pages (⌈matches/100⌉ per
region, at least one) and the DryRun calls, no describe by id; their sum against that
bound (docs/PRODUCT.md §4).

Then the DryRun's search for refused instances (docs/PRODUCT.md §5.3): 250 instances in
one region of which k = 0, 1, 5 are RAM-denied (spread by a fixed seed); the preview's
DryRun calls against the bound ⌈n/100⌉ + 2·k·⌈log2 100⌉ (``dry_run_call_bound``). At
most 1.00 means the halving kept within it.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

from bench.common import REGIONS, Stack, refs, report, running_stack
from bot.domain.dry_run import dry_run_call_bound
from bot.domain.model import InstanceOutcome, Role, Verdict
from bot.simulator import Call
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.settings import OPERATOR

SIZES = (1, 100, 250, 1000)
REFUSED_AMONG = 250
REFUSED_COUNTS = (0, 1, 5)
MAX_TICKS = 200


def lower_bound(ids_by_region: Counter[str]) -> int:
    return sum(math.ceil(count / 100) for count in ids_by_region.values() if count)


def split(n: int) -> list[int]:
    """N ids over the two regions, as evenly as possible (N = 1: one region only)."""
    return [n - n // 2, n // 2]


def actions(calls: Sequence[Call]) -> Counter[str]:
    names = Counter[str]()
    for call in calls:
        kind = "DryRun" if call.action == "RebootInstances" and call.dry_run else call.action
        names[kind] += 1
    return names


def measure(n: int) -> dict[str, float]:
    """Worst ratio (calls / lower bound) per phase and action for one request of n."""
    per_region = split(n)
    with running_stack(
        instances=max(per_region),
        regions=REGIONS,
        env={"ECSBOT_MAX_INSTANCES": str(max(n, 500))},
    ) as stack:
        stack.grant(OPERATOR, Role.OPERATOR)
        bound = lower_bound(Counter({r: c for r, c in zip(REGIONS, per_region, strict=True)}))
        log = stack.sim.calls

        stack.command(" ".join(refs(stack.sim, per_region))).raise_for_status()
        stack.settle()
        preview = actions(log.all())
        [request_id] = stack.preview_ids()
        mark = len(log)

        stack.click(ACTION_CONFIRM, request_id).raise_for_status()
        stack.settle()
        execution = actions(log.all()[mark:])
        ratios = {
            "preview DescribeInstances": preview["DescribeInstances"] / bound,
            "preview DryRun": preview["DryRun"] / bound,
            "execution RebootInstances": execution["RebootInstances"] / bound,
            "execution other calls": float(sum(execution.values()) - execution["RebootInstances"]),
        }
        ratios["poll DescribeInstances"] = _worst_poll_ratio(stack, request_id)
    return ratios


def measure_selector(n: int) -> tuple[int, int]:
    """(preview ECS calls, their bound) for a tag selector matching the n instances
    the id-list case names, over the two regions."""
    per_region = split(n)
    with running_stack(
        instances=max(per_region),
        regions=REGIONS,
        env={"ECSBOT_MAX_INSTANCES": str(max(n, 500))},
    ) as stack:
        stack.grant(OPERATOR, Role.OPERATOR)
        for ref in refs(stack.sim, per_region):
            region, _, instance_id = ref.partition("/")
            stack.sim.fleet.update(region, instance_id, tags={"bench": "selected"})
        stack.command(f"--region {','.join(REGIONS)} tag:bench=selected").raise_for_status()
        stack.settle()
        [request_id] = stack.preview_ids()
        if len(stack.request(request_id).instances) != n:
            raise RuntimeError(f"the selector matched {len(stack.request(request_id).instances)}")
        calls = actions(stack.sim.calls.all())
        matched = Counter({r: c for r, c in zip(REGIONS, per_region, strict=True)})
        pages = sum(max(1, math.ceil(count / 100)) for count in matched.values())
        return calls["DescribeInstances"] + calls["DryRun"], pages + lower_bound(matched)


def _worst_poll_ratio(stack: Stack, request_id: str) -> float:
    worst = 0.0
    for _ in range(MAX_TICKS):
        request = stack.request(request_id)
        if request.state.is_final:
            return worst
        watching = Counter(
            i.ref.region for i in request.instances if i.outcome is InstanceOutcome.REBOOTING
        )
        mark = len(stack.sim.calls)
        stack.clock.advance(1.0)
        report_ = stack.tick()
        calls = actions(stack.sim.calls.all()[mark:])
        if request_id in report_.advanced and watching:
            worst = max(worst, sum(calls.values()) / lower_bound(watching))
    raise RuntimeError(f"request {request_id} did not finish in {MAX_TICKS} ticks")


def measure_refused(refused: int) -> tuple[int, int]:
    """(DryRun calls, their bound) for a preview of 250 instances, ``refused`` denied."""
    region = REGIONS[0]
    with running_stack(instances=REFUSED_AMONG, regions=(region,)) as stack:
        stack.grant(OPERATOR, Role.OPERATOR)
        ids = stack.sim.fleet.ids(region)
        denied = random.Random(refused).sample(ids, refused)
        for instance_id in denied:
            stack.sim.fleet.update(region, instance_id, ram_denied=True)
        stack.command(" ".join(refs(stack.sim, [REFUSED_AMONG]))).raise_for_status()
        stack.settle()
        [request_id] = stack.preview_ids()
        found = {
            i.ref.instance_id
            for i in stack.request(request_id).instances
            if i.verdict is Verdict.DENIED
        }
        if found != set(denied):
            raise RuntimeError(f"the preview found {sorted(found)} denied, not {sorted(denied)}")
        calls = actions(stack.sim.calls.all())["DryRun"]
    return calls, dry_run_call_bound(REFUSED_AMONG, refused)


def main() -> int:
    print("ECS calls / lower bound (sum over regions of ceil(ids/100)); 2 regions")
    for n in SIZES:
        ratios = measure(n)
        for phase, ratio in ratios.items():
            print(f"    N={n:5d} {phase}: {ratio:.2f}")
        others = ratios.pop("execution other calls")
        figure = " / ".join(f"{ratio:.2f}" for ratio in ratios.values())
        if others:
            figure += f" (+{others:.0f} other calls at execution)"
        passed = others == 0 and all(ratio <= 1.0 for ratio in ratios.values())
        report(
            f"ECS calls/bound N={n} (preview Describe / DryRun / Reboot / poll Describe)",
            figure,
            "1.00 each",
            passed,
        )
    print("Preview ECS calls / bound, a tag selector instead of the id list; 2 regions")
    for n in SIZES:
        calls, bound = measure_selector(n)
        report(
            f"selector preview calls/bound N={n} (filtered pages + DryRun)",
            f"{calls}/{bound} = {calls / bound:.2f}",
            "1.00",
            calls <= bound,
        )
    print(f"DryRun calls / bound with k refused among {REFUSED_AMONG} (one region)")
    for refused in REFUSED_COUNTS:
        calls, bound = measure_refused(refused)
        report(
            f"DryRun calls/bound, k={refused} refused among {REFUSED_AMONG}",
            f"{calls}/{bound} = {calls / bound:.2f}",
            "≤ 1.00",
            calls <= bound,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

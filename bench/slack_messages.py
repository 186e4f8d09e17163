"""Slack messages per request (docs/PRODUCT.md §5.5–5.6: replies coalesced, never one per
instance per poll).

For N = 10, 100 and 1000 instances, one request is previewed and confirmed over signed
HTTP, then polled (``poll_once``, one tick per second of the simulator's manual clock).
Completion is staggered: every instance is marked ``never_returns`` before the click,
and the instances are released in ten cohorts at different times (t = 10 s, 35 s, …
235 s after the click); the last cohort never comes back and times out
(``ECSBOT_REBOOT_TIMEOUT=300``).

The figure is every Slack Web API call the request caused, from the command to the
final summary: the preview, thread replies, updates of the preview, notifications, and
the rest (permalink look-ups, ephemerals).
"""

from __future__ import annotations

from collections import Counter

from bench.common import Stack, refs, report, running_stack
from bot.domain.model import Role
from bot.testing.settings import CHANNEL, NOTIFY, OPERATOR
from bot.testing.slack_api import RecordedCall

SIZES = (10, 100, 1000)
COHORTS = 10
FIRST_RELEASE_SECONDS = 10
RELEASE_EVERY_SECONDS = 25
REBOOT_TIMEOUT_SECONDS = 300
MAX_TICKS = 400
TARGET_FOR_1000 = 30


def kind(call: RecordedCall) -> str:
    if call.method == "chat.postMessage":
        if call.params.get("channel") == NOTIFY:
            return "notifications"
        if call.params.get("channel") == CHANNEL and call.params.get("thread_ts"):
            return "thread replies"
        return "previews"
    if call.method == "chat.update":
        return "updates"
    return call.method


def measure(n: int) -> Counter[str]:
    with running_stack(
        instances=n,
        env={
            "ECSBOT_MAX_INSTANCES": str(max(n, 500)),
            "ECSBOT_REBOOT_TIMEOUT": str(REBOOT_TIMEOUT_SECONDS),
        },
    ) as stack:
        stack.grant(OPERATOR, Role.OPERATOR)
        region = stack.sim.fleet.regions[0]
        ids = stack.sim.fleet.ids(region)
        for instance_id in ids:
            stack.sim.fleet.update(region, instance_id, never_returns=True)
        cohorts = [ids[k::COHORTS] for k in range(COHORTS)]
        request_id = stack.run(refs(stack.sim, [n]))
        for second in range(1, MAX_TICKS + 1):
            stack.clock.advance(1.0)
            _release_due(stack, region, cohorts, second)
            stack.tick()
            if stack.request(request_id).state.is_final:
                break
        else:
            raise RuntimeError(f"request {request_id} did not finish in {MAX_TICKS} ticks")
        outcomes = Counter(i.outcome.value for i in stack.request(request_id).instances)
        print(f"    N={n}: outcomes {dict(outcomes)}, finished after {second} s")
        return Counter(kind(call) for call in stack.slack.calls() if call.method != "response_url")


def _release_due(stack: Stack, region: str, cohorts: list[list[str]], second: int) -> None:
    """Let cohort k come back at its time; the last cohort never does."""
    for k, cohort in enumerate(cohorts[:-1]):
        if second == FIRST_RELEASE_SECONDS + k * RELEASE_EVERY_SECONDS:
            for instance_id in cohort:
                stack.sim.fleet.update(region, instance_id, never_returns=False)


def main() -> int:
    print(f"Slack Web API calls per request, completion staggered over {COHORTS} cohorts")
    for n in SIZES:
        calls = measure(n)
        total = sum(calls.values())
        named = {
            "preview": calls.pop("previews", 0),
            "replies": calls.pop("thread replies", 0),
            "updates": calls.pop("updates", 0),
            "notifications": calls.pop("notifications", 0),
            "other": sum(calls.values()),
        }
        detail = " + ".join(f"{count} {name}" for name, count in named.items())
        print(f"    N={n}: {detail}; other = {dict(calls)}")
        report(
            f"Slack calls per request N={n}",
            f"{total} = {detail}",
            f"< {TARGET_FOR_1000} for 1000" if n == 1000 else "",
            total < TARGET_FOR_1000 if n == 1000 else None,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Ack latency (docs/PRODUCT.md §5.1): Slack must get its HTTP answer within 3 s whatever ECS does.

The bot runs as ``serve`` wires it (``WebApp`` behind waitress's ``HttpServer``) while
the simulator answers every ECS call after 2 s (``faults.latency("*", 2.0)``). Signed
requests are posted over loopback HTTP from a thread pool:

* round 1: 20 concurrent ``/ecs-reboot`` commands of 50 ids each;
* round 2, once the previews are out: 20 concurrent confirm clicks on those requests,
  together with 20 more commands, while the worker pool is busy with slow ECS calls.

The figure is the time from sending a request to its complete HTTP response (p50, p99
over all 60). The slow work runs after the ack, so it must not show here. The requests
are sent from a separate process (as Slack is), so the sender's own CPU and GIL do not
count against the bot.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from bench.common import (
    Stack,
    median,
    percentile,
    refs,
    report,
    running_stack,
)
from bot.domain.model import Role
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.settings import CHANNEL, OPERATOR, SIGNING_SECRET
from bot.testing.slack_requests import SlackRequestSender

COMMANDS = 20
IDS_PER_COMMAND = 50
ECS_LATENCY_SECONDS = 2.0
TARGET_P99_MS = 300.0


# A post to send: ("command", text, "") or ("click", request id, its message's ts).
Post = tuple[str, str, str]


def _timed_posts(url: str, posts: list[Post]) -> list[float]:
    """Run in the sender process: every post at once (a barrier releases them
    together); seconds until each complete response."""
    barrier = threading.Barrier(len(posts))
    with SlackRequestSender(url, SIGNING_SECRET, timeout=30.0) as sender:

        def one(post: Post) -> float:
            kind, value, message_ts = post
            barrier.wait(timeout=30)
            started = time.perf_counter()
            if kind == "command":
                response = sender.command(value, user_id=OPERATOR, channel_id=CHANNEL)
            else:
                response = sender.click(
                    ACTION_CONFIRM,
                    value,
                    user_id=OPERATOR,
                    channel_id=CHANNEL,
                    message_ts=message_ts,
                )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            return elapsed

        with ThreadPoolExecutor(max_workers=len(posts)) as pool:
            return list(pool.map(one, posts))


def _command(stack: Stack, number: int) -> Post:
    return (
        "command",
        " ".join(refs(stack.sim, [IDS_PER_COMMAND], offset=number * IDS_PER_COMMAND)),
        "",
    )


def main() -> int:
    print(
        f"Ack latency: {COMMANDS} concurrent commands ({IDS_PER_COMMAND} ids) and clicks, "
        f"ECS answering after {ECS_LATENCY_SECONDS:.0f} s"
    )
    with running_stack(instances=2 * COMMANDS * IDS_PER_COMMAND) as stack:
        stack.grant(OPERATOR, Role.OPERATOR)
        stack.command("help").raise_for_status()  # warm-up: first-request imports
        stack.sim.faults.latency("*", ECS_LATENCY_SECONDS)

        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as sender:
            url = stack.server.url
            sender.submit(_timed_posts, url, [("command", "help", "")]).result(timeout=60)
            commands = sender.submit(
                _timed_posts, url, [_command(stack, n) for n in range(COMMANDS)]
            ).result(timeout=60)
            stack.settle()
            request_ids = stack.preview_ids()
            if len(request_ids) != COMMANDS:
                raise RuntimeError(f"expected {COMMANDS} previews, got {len(request_ids)}")
            # Each click on its own preview message, as Slack sends it.
            round_two = [("click", rid, str(stack.request(rid).message_ts)) for rid in request_ids]
            round_two += [_command(stack, COMMANDS + n) for n in range(COMMANDS)]
            clicks_and_commands = sender.submit(_timed_posts, url, round_two).result(timeout=60)
        clicks = clicks_and_commands[:COMMANDS]
        commands += clicks_and_commands[COMMANDS:]
        stack.settle()
        rebooted = sum(1 for call in stack.sim.calls.of("RebootInstances", dry_run=False))
        stack.sim.faults.clear()

    every = [seconds * 1000 for seconds in commands + clicks]
    print(f"    commands: p50 {median(commands) * 1000:.0f} ms, max {max(commands) * 1000:.0f} ms")
    print(f"    clicks:   p50 {median(clicks) * 1000:.0f} ms, max {max(clicks) * 1000:.0f} ms")
    print(f"    (the work after the acks made {rebooted} real RebootInstances calls)")
    p50, p99 = median(every), percentile(every, 0.99)
    report(
        f"Ack latency p50 / p99 ({len(every)} requests, ECS +2 s)",
        f"{p50:.0f} / {p99:.0f} ms",
        f"p99 < {TARGET_P99_MS:.0f} ms",
        p99 < TARGET_P99_MS,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

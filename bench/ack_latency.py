"""Ack latency (docs/PRODUCT.md §5.1), against its floor: a bare Bolt app measured in the
same run.

The bot runs as ``serve`` wires it (``WebApp`` behind waitress's ``HttpServer``) while
the simulator answers every ECS call after 2 s (``faults.latency("*", 2.0)``). The
floor is ``bench.bare_bolt``: a Bolt app whose command and button only ack, on the same
server with the same thread count, in the same process. Signed requests are posted over
loopback HTTP from a separate process (as Slack does, so the sender's CPU and GIL do
not count against either app), all of a round at once:

* round 1: 20 concurrent ``/ecs-reboot`` commands of 50 ids each;
* round 2, once the bot's previews are out: 20 concurrent confirm clicks on those
  requests, together with 20 more commands, while the bot's worker pool is busy with
  slow ECS calls.

Each round is posted to the bare app first, then (the very same bodies, signed anew) to
the bot; the whole is repeated ``REPEATS`` times (``ACK_REPEATS``, 5) on fresh instances,
after one more round of both that is not counted: it opens the connections and starts
the threads a fresh process has not yet (the steady state is what is measured). Per kind
(commands, clicks): p50 and p99 of the time from sending a request to its complete
response, and the bot's over the bare app's. A click records before it acks
(docs/decisions/0001), so its target is looser.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from bench.bare_bolt import bare_bolt_server
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
REPEATS = int(os.environ.get("ACK_REPEATS", "5"))
TARGET_COMMAND_RATIO = 1.5
TARGET_CLICK_RATIO = 2.0


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


class Sample:
    """Seconds per kind of post, for one app."""

    def __init__(self) -> None:
        self.commands: list[float] = []
        self.clicks: list[float] = []

    def add(self, posts: list[Post], seconds: list[float]) -> None:
        for (kind, _, _), elapsed in zip(posts, seconds, strict=True):
            (self.commands if kind == "command" else self.clicks).append(elapsed * 1000)


def _ratio_line(kind: str, bot: list[float], bare: list[float], target: float) -> float:
    bot_p50, bot_p99 = median(bot), percentile(bot, 0.99)
    bare_p50, bare_p99 = median(bare), percentile(bare, 0.99)
    p99_ratio, p50_ratio = bot_p99 / bare_p99, bot_p50 / bare_p50
    figure = "ack_p99_vs_bare_bolt" if kind == "commands" else "click_ack_p99_vs_bare_bolt"
    print(f"FIGURE {figure} {p99_ratio:.2f}")
    print(f"FIGURE {figure.replace('p99', 'p50')} {p50_ratio:.2f}")
    report(
        f"Ack {kind} p99 vs bare Bolt (p50 beside; {len(bot)} each, ECS +2 s)",
        f"{p99_ratio:.2f} (p50 {p50_ratio:.2f}); bot p50/p99 {bot_p50:.0f} / {bot_p99:.0f} ms, "
        f"bare {bare_p50:.0f} / {bare_p99:.0f} ms",
        f"p99 ≤ {target:g}×",
        p99_ratio <= target,
    )
    return p99_ratio


def main() -> int:
    print(
        f"Ack latency: {COMMANDS} concurrent commands ({IDS_PER_COMMAND} ids) and clicks, "
        f"ECS answering after {ECS_LATENCY_SECONDS:.0f} s; the bot and a bare Bolt app, "
        f"{REPEATS} times"
    )
    bot, bare = Sample(), Sample()
    rebooted = 0
    per_repeat = 2 * COMMANDS
    with (
        running_stack(instances=(REPEATS + 1) * per_repeat * IDS_PER_COMMAND) as stack,
        bare_bolt_server(SIGNING_SECRET) as bare_url,
    ):
        stack.grant(OPERATOR, Role.OPERATOR)
        stack.command("help").raise_for_status()  # warm-up: first-request imports
        stack.sim.faults.latency("*", ECS_LATENCY_SECONDS)

        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as sender:
            url = stack.server.url

            counted = True

            def both(posts: list[Post]) -> None:
                bare_seconds = sender.submit(_timed_posts, bare_url, posts).result(timeout=60)
                bot_seconds = sender.submit(_timed_posts, url, posts).result(timeout=60)
                if counted:
                    bare.add(posts, bare_seconds)
                    bot.add(posts, bot_seconds)

            for warm_up in (bare_url, url):
                sender.submit(_timed_posts, warm_up, [("command", "help", "")]).result(60)
            for round_number in range(REPEATS + 1):
                counted = round_number > 0  # round 0 warms both up
                first = round_number * per_repeat
                before = set(stack.preview_ids())
                both([_command(stack, first + n) for n in range(COMMANDS)])
                stack.settle()
                request_ids = [rid for rid in stack.preview_ids() if rid not in before]
                if len(request_ids) != COMMANDS:
                    raise RuntimeError(f"expected {COMMANDS} previews, got {len(request_ids)}")
                # Each click on its own preview message, as Slack sends it.
                round_two = [
                    ("click", rid, str(stack.request(rid).message_ts)) for rid in request_ids
                ]
                round_two += [_command(stack, first + COMMANDS + n) for n in range(COMMANDS)]
                both(round_two)
                stack.settle()
        rebooted = sum(1 for call in stack.sim.calls.of("RebootInstances", dry_run=False))
        stack.sim.faults.clear()

    for name, sample in (("bot", bot), ("bare Bolt", bare)):
        print(
            f"    {name}: commands p50 {median(sample.commands):.0f} ms, "
            f"max {max(sample.commands):.0f} ms; clicks p50 {median(sample.clicks):.0f} ms, "
            f"max {max(sample.clicks):.0f} ms"
        )
    print(f"    (the work after the bot's acks made {rebooted} real RebootInstances calls)")
    _ratio_line("commands", bot.commands, bare.commands, TARGET_COMMAND_RATIO)
    _ratio_line("clicks", bot.clicks, bare.clicks, TARGET_CLICK_RATIO)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

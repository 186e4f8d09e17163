"""``ecs-reboot-bot console``: the whole flow offline (docs/PRODUCT.md §1, §2).

A terminal plays Slack for the real bot, against the bundled ECS simulator and a
throw-away SQLite database. Modules, one job each: ``commands`` (the prompt language),
``render`` (mrkdwn and Block Kit as text), ``transcript`` (what an event looks like,
and the shared writer), ``stack`` (starting and stopping every part), ``session``
(running commands), ``run`` (the entry point). The fake Slack the bot talks to and the
signed requests come from ``bot.testing``, the offline stack the tests use too.
"""

from bot.console.run import run_console

__all__ = ["run_console"]

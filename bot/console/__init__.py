"""``ecs-reboot-bot console``: the whole flow offline (DESIGN §1, §2).

A terminal plays Slack for the real bot, against the bundled ECS simulator and a
throw-away SQLite database. Modules, one job each: ``commands`` (the prompt language),
``render`` (mrkdwn and Block Kit as text), ``transcript`` (what an event looks like,
and the shared writer), ``terminal_slack`` (the Web API server the bot talks to),
``signed_requests`` (commands and clicks as Slack sends them), ``stack`` (starting and
stopping every part), ``session`` (running commands), ``run`` (the entry point).
"""

from bot.console.run import run_console

__all__ = ["run_console"]

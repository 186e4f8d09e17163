"""Everything the console runs, started and stopped together: the ECS simulator, a
throw-away SQLite database, the terminal Slack, the real bot and its poller.

The bot is built by ``bootstrap.build_bot`` from settings that name every variable, so
nothing from the person's environment (a production token, an allow-list of channels)
can leak into the offline session.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.bootstrap import Bot, build_bot
from bot.console.terminal_slack import Event, TerminalSlack
from bot.services.poller import Poller
from bot.settings import Settings, load_settings
from bot.simulator import Simulator

REGION = "cn-hangzhou"
CHANNEL_ID, CHANNEL_NAME = "C0OPS", "ops"
NOTIFY_ID, NOTIFY_NAME = "C0NOTIFY", "ops-notify"
CHANNELS = {CHANNEL_ID: CHANNEL_NAME, NOTIFY_ID: NOTIFY_NAME}
BOT_TOKEN = "xoxb-console"  # noqa: S105 - a dummy: the terminal Slack accepts any token
POLL_INTERVAL = 0.5
# Long enough for any simulated reboot at speed 1 (about 5 s), short enough that a
# stuck instance ends the demo in a minute rather than ten.
REBOOT_TIMEOUT = 60
# The simulator's defaults: a reboot spends 2 s stopping and 3 s starting.
STOP_SECONDS, START_SECONDS = 2.0, 3.0
STOPPED_NAME = "batch-01"


def console_overrides(
    *, user: str, slack_url: str, database_url: str, sim: Simulator, signing_secret: str
) -> dict[str, object]:
    """A value for every setting: the defaults, then what the console needs."""
    values: dict[str, object] = {
        str(info.alias): info.default for info in Settings.model_fields.values() if info.alias
    }
    values.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": signing_secret,
            "SLACK_API_URL": slack_url,
            "ECSBOT_DATABASE_URL": database_url,
            "ECSBOT_ECS_ENDPOINT": sim.endpoint,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret,
            # The key pair is given: never wait on an instance-metadata endpoint.
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": True,
            "ECSBOT_DEFAULT_REGION": REGION,
            "ECSBOT_ADMINS": user,
            "ECSBOT_NOTIFY_CHANNEL": NOTIFY_ID,
            "ECSBOT_POLL_INTERVAL": POLL_INTERVAL,
            "ECSBOT_REBOOT_TIMEOUT": REBOOT_TIMEOUT,
        }
    )
    return values


@dataclass
class OfflineStack:
    """The running parts; ``close()`` stops them in reverse order and deletes the
    temporary directory (it is safe to call more than once)."""

    sim: Simulator
    slack: TerminalSlack
    workdir: Path
    signing_secret: str
    stopped_instance: str
    bot: Bot
    poller: Poller
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


def start_stack(
    *, user: str, instances: int, speed: float, on_event: Callable[[Event], None]
) -> OfflineStack:
    """Start every part; if one fails to start, those already running are stopped."""
    closers: list[Callable[[], None]] = []
    try:
        workdir = Path(tempfile.mkdtemp(prefix="ecs-reboot-console-"))
        closers.append(lambda: shutil.rmtree(workdir, ignore_errors=True))

        sim = Simulator(
            regions=(REGION,),
            instances_per_region=instances,
            seed=0,
            stop_seconds=STOP_SECONDS / speed,
            start_seconds=START_SECONDS / speed,
        )
        # One stopped instance, so that a preview shows a verdict other than "will reboot".
        stopped = sim.fleet.add_instance(REGION, name=STOPPED_NAME, status="Stopped")
        sim.start()
        closers.append(sim.stop)

        slack = TerminalSlack(on_event)
        slack_url = slack.start()
        closers.append(slack.stop)

        secret = secrets.token_hex(16)
        settings = load_settings(
            **console_overrides(
                user=user,
                slack_url=slack_url,
                database_url=f"sqlite:///{workdir / 'console.db'}",
                sim=sim,
                signing_secret=secret,
            )
        )
        bot = build_bot(settings, migrate=True)
        closers.append(bot.close)
        poller = bot.poller()
        poller.start()
        closers.append(poller.stop)
    except BaseException:
        while closers:
            closers.pop()()
        raise
    return OfflineStack(
        sim=sim,
        slack=slack,
        workdir=workdir,
        signing_secret=secret,
        stopped_instance=stopped,
        bot=bot,
        poller=poller,
        _closers=closers,
    )


__all__ = [
    "CHANNELS",
    "CHANNEL_ID",
    "CHANNEL_NAME",
    "NOTIFY_ID",
    "REGION",
    "OfflineStack",
    "console_overrides",
    "start_stack",
]

"""Everything the console runs, started and stopped together: the ECS simulator, a
throw-away SQLite database, the fake Slack, the real bot and its poller.

The pieces are ``bot.testing``'s, on the real clock: the bot is built by
``bootstrap.build_bot`` from ``offline_env`` settings that name every variable, so
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
from bot.services.poller import Poller
from bot.simulator import Simulator
from bot.simulator.fleet import Fleet
from bot.testing.settings import CHANNEL, NOTIFY, REGION, offline_env, offline_settings
from bot.testing.slack_api import Event, FakeSlackApi

CHANNEL_ID, CHANNEL_NAME = CHANNEL, "ops"
NOTIFY_ID, NOTIFY_NAME = NOTIFY, "ops-notify"
CHANNELS = {CHANNEL_ID: CHANNEL_NAME, NOTIFY_ID: NOTIFY_NAME}
POLL_INTERVAL = 0.5
# Long enough for any simulated reboot at speed 1 (about 5 s), short enough that a
# stuck instance ends the demo in a minute rather than ten.
REBOOT_TIMEOUT = 60
# The simulator applies a call it accepts at once (unless told to hold one back), so a
# call whose answer was lost can no longer act after a few seconds: a further call
# (docs/PRODUCT.md §5.4) then fits in the demo's timeout.
INFLIGHT_BOUND = 10.0
# The simulator's defaults: a reboot spends 2 s stopping and 3 s starting.
STOP_SECONDS, START_SECONDS = 2.0, 3.0
STOPPED_NAME = "batch-01"
# Twelve web instances in two zones, for trying a rolling reboot (docs/PRODUCT.md §5.8).
ROLLING_FLEET = 12
ROLLING_ZONES = (f"{REGION}-h", f"{REGION}-i")


# The console lets a reboot be scheduled this few seconds ahead (a Slack workspace's
# default is a minute: ECSBOT_SCHEDULE_MIN_LEAD).
SCHEDULE_MIN_LEAD = 3

# The tags of the demo's "pay" instances.
PAY_TAGS = {"app": "pay", "env": "prod", "team": "payments"}
# The accounts the console's bot serves: the first is the default (docs/PRODUCT.md §5.13).
ACCOUNTS = ("prod", "staging")


def console_overrides(
    *, user: str, signing_secret: str, speed: float = 1.0, alert_token: str = ""
) -> dict[str, str]:
    """What the console changes in ``offline_env``: the person is the admin, a fresh
    signing secret, the real-time poller's pace, and a reboot timeout that follows the
    simulator's speed (a canary that never comes back stops a rollout sooner)."""
    return {
        "SLACK_SIGNING_SECRET": signing_secret,
        "ECSBOT_ADMINS": user,
        "ECSBOT_NOTIFY_CHANNEL": NOTIFY_ID,
        "ECSBOT_POLL_INTERVAL": str(POLL_INTERVAL),
        "ECSBOT_REBOOT_TIMEOUT": str(max(10, round(REBOOT_TIMEOUT / speed))),
        "ECSBOT_INFLIGHT_BOUND": str(max(1.0, INFLIGHT_BOUND / speed)),
        # Four eyes on force reboots, so the demo can show an approval.
        "ECSBOT_APPROVALS_FOR_FORCE": "true",
        # Scheduled reboots (docs/PRODUCT.md §5.10) a few seconds ahead, so the demo can show
        # one start by itself on the real clock; and a window to list.
        "ECSBOT_SCHEDULE_MIN_LEAD": str(SCHEDULE_MIN_LEAD),
        "ECSBOT_SCHEDULE_REMIND": "3",
        "ECSBOT_WINDOWS": "nightly=daily 02:00-04:00",
        # CloudMonitor's alarm cards land in #ops, where the console's person sits.
        "ECSBOT_ALERT_TOKEN": alert_token,
        "ECSBOT_ALERTS_CHANNEL": CHANNEL_ID,
        # Alibaba Cloud's own maintenance reboots, looked for every second (§5.11).
        "ECSBOT_EVENTS": "true",
        "ECSBOT_EVENTS_CHANNEL": CHANNEL_ID,
        "ECSBOT_EVENTS_INTERVAL": "1",
    }


@dataclass
class OfflineStack:
    """The running parts; ``close()`` stops them in reverse order and deletes the
    temporary directory (it is safe to call more than once)."""

    sim: Simulator
    slack: FakeSlackApi
    workdir: Path
    signing_secret: str
    stopped_instance: str
    # The secret path segment of the CloudMonitor callback (``alarm`` in the console).
    alert_token: str
    bot: Bot
    poller: Poller
    # The instances of the default account (prod), where the demo's fleet lives; a
    # second account (staging) shows a reboot elsewhere (``--account staging``).
    fleet: Fleet
    staging_fleet: Fleet
    # The web fleet of ROLLING_FLEET instances in ROLLING_ZONES ({web} in a script).
    rolling_instances: tuple[str, ...] = ()
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
            accounts=ACCOUNTS,
        )
        fleet = sim.fleet_of(ACCOUNTS[0])
        # One stopped instance, so that a preview shows a verdict other than "will reboot".
        stopped = fleet.add_instance(REGION, name=STOPPED_NAME, status="Stopped")
        rolling = tuple(
            fleet.add_instance(
                REGION, name=f"web-{n:02d}", zone=ROLLING_ZONES[(n - 1) % len(ROLLING_ZONES)]
            )
            for n in range(1, ROLLING_FLEET + 1)
        )
        # A small "pay" service, so that the demo can pick instances by tag (docs/PRODUCT.md §4).
        for number in range(1, 4):
            fleet.add_instance(REGION, name=f"pay-{number:02d}", tags=PAY_TAGS)
        sim.start()
        closers.append(sim.stop)

        slack = FakeSlackApi(on_event).start()
        closers.append(slack.stop)

        secret = secrets.token_hex(16)
        alert_token = secrets.token_hex(16)
        values = offline_env(
            slack_url=slack.url,
            sim=sim,
            database_url=f"sqlite:///{workdir / 'console.db'}",
            overrides={
                **console_overrides(
                    user=user, signing_secret=secret, speed=speed, alert_token=alert_token
                ),
                # Two accounts, each with the role the bot assumes there (§5.13).
                "ECSBOT_ACCOUNTS": ",".join(f"{a}={sim.role_arn(a)}" for a in ACCOUNTS),
                "ECSBOT_DEFAULT_ACCOUNT": ACCOUNTS[0],
            },
        )
        bot = build_bot(offline_settings(values), migrate=True)
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
        fleet=fleet,
        staging_fleet=sim.fleet_of(ACCOUNTS[1]),
        alert_token=alert_token,
        rolling_instances=rolling,
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

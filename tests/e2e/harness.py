"""The whole bot, as ``serve`` runs it, against the fakes on loopback.

A ``Harness`` holds the fake Slack Web API, the ECS simulator (on a manual clock), the
bot built by ``bootstrap.build_bot`` on a migrated database, and the real HTTP server
(waitress) that Slack's signed requests are sent to. Tests drive it only through HTTP
and the poller's ``tick``; they never call the bot's internals to make it pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.bootstrap import Bot, build_bot
from bot.db.engine import make_session_factory
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import RequestState, Role
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.server import HttpServer, WebApp, database_answers
from bot.services import roles as roles_service
from bot.services.context import Context
from bot.services.poller import PollReport, poll_once
from bot.settings import load_settings
from bot.simulator import ManualClock, Simulator
from bot.slack.blocks import ACTION_CONFIRM
from tests.fakes.slack_api import FakeMessage, FakeSlackApi
from tests.fakes.slack_requests import SlackRequestSender

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token-0000"
CHANNEL = "C0OPS"
NOTIFY = "C0NOTIFY"
OPERATOR = "U0OPER"
ADMIN = "U0ADMIN"
VIEWER = "U0VIEW"
STRANGER = "U0NOBODY"
REGION = "cn-hangzhou"


@dataclass
class Harness:
    slack: FakeSlackApi
    sim: Simulator
    clock: ManualClock
    bot: Bot
    server: HttpServer
    sender: SlackRequestSender

    @property
    def url(self) -> str:
        return self.server.url

    # --- acting as Slack ----------------------------------------------------------------

    def command(self, text: str, *, user: str = OPERATOR, channel: str = CHANNEL) -> httpx.Response:
        return self.sender.command(
            text,
            user_id=user,
            channel_id=channel,
            response_url=self.slack.response_url("cmd"),
        )

    def click(
        self,
        action_id: str,
        request_id: str,
        *,
        user: str = OPERATOR,
        channel: str = CHANNEL,
        message_ts: str = "1700000000.000100",
    ) -> httpx.Response:
        return self.sender.click(
            action_id,
            request_id,
            user_id=user,
            channel_id=channel,
            message_ts=message_ts,
            response_url=self.slack.response_url("click"),
        )

    def settle(self) -> None:
        """Wait until every job the bot started after an ack has finished."""
        assert self.bot.jobs.wait_idle(timeout=30), "bot jobs did not finish"

    def tick(self, ctx: Context | None = None) -> PollReport:
        """One poller step at the bot's clock (the simulator's manual clock), as this
        bot's poller or as ``ctx`` (a replica: the same bot under another lease owner)."""
        return poll_once(ctx or self.bot.ctx, self.clock.now())

    def confirmed(self, count: int = 1, *, skip: int = 0) -> str:
        """A request for ``count`` instances (after the first ``skip``), previewed and
        confirmed by the operator; returns its id."""
        self.command(" ".join(self.sim.fleet.ids(REGION)[skip : skip + count]))
        self.settle()
        request_id, _ = self.last_preview()
        self.click(ACTION_CONFIRM, request_id)
        self.settle()
        assert self.request(request_id).state is RequestState.EXECUTING
        return request_id

    def run_until_final(
        self,
        request_id: str,
        *,
        step: float = 1.0,
        limit: int = 900,
        ctx: Context | None = None,
    ) -> None:
        """Tick, ``step`` seconds apart, until the request is final; at most ``limit``."""
        for _ in range(limit):
            if self.request(request_id).state.is_final:
                return
            self.clock.advance(step)
            self.tick(ctx)
        raise AssertionError(f"request {request_id} did not finish: {self.request(request_id)}")

    # --- looking at what happened ---------------------------------------------------------

    def grant(self, subject: str, role: Role, *, region: str = "", tag: str = "") -> None:
        key, _, value = tag.partition("=")
        roles_service.grant(
            self.bot.ctx.uow,
            Binding(subject, role, region, key, value),
            actor="test",
            now=self.clock.now(),
        )

    def previews(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        """Top-level chat.postMessage calls in ``channel`` (the request messages)."""
        return [
            call.params
            for call in self.slack.calls("chat.postMessage")
            if call.params.get("channel") == channel and not call.params.get("thread_ts")
        ]

    def ephemerals(self, user: str | None = None) -> list[str]:
        return [
            str(call.params.get("text", ""))
            for call in self.slack.calls("chat.postEphemeral")
            if user is None or call.params.get("user") == user
        ]

    def last_preview(self) -> tuple[str, FakeMessage]:
        """The request id and the current state of the latest request message."""
        previews = self.previews()
        assert previews, f"no preview was posted; calls: {self.slack.calls()}"
        request_id = request_id_of(previews[-1]["blocks"])
        request = self.request(request_id)
        assert request.message_ts, "the preview's ts was not recorded"
        return request_id, self.slack.message(CHANNEL, request.message_ts)

    def request(self, request_id: str) -> RebootRequest:
        with self.bot.ctx.uow() as uow:
            request = uow.requests.get(request_id)
        assert request is not None, f"request {request_id} is not in the database"
        return request

    def audit_actions(self, request_id: str) -> list[str]:
        """The audit log's actions for a request, oldest first (read from the table)."""
        with UnitOfWork(make_session_factory(self.bot.engine)) as uow:
            return [entry.action for entry in uow.audit.list(request_id=request_id)]

    def thread(self, request_id: str) -> list[FakeMessage]:
        ts = self.request(request_id).message_ts
        assert ts
        return self.slack.thread(CHANNEL, ts)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        element
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


def request_id_of(blocks: list[dict[str, Any]]) -> str:
    text = json.dumps(blocks)
    marker = "*Request*\\n`"
    start = text.index(marker) + len(marker)
    return text[start : text.index("`", start)]


def text_of(message: FakeMessage) -> str:
    return message.text + "\n" + json.dumps(message.blocks)


@contextmanager
def running_bot(
    database_url: str,
    *,
    instances: int = 10,
    regions: tuple[str, ...] = (REGION,),
    env: dict[str, str] | None = None,
    start: datetime | None = None,
) -> Iterator[Harness]:
    clock = ManualClock(start)
    with (
        FakeSlackApi() as slack,
        Simulator(regions=regions, instances_per_region=instances, seed=7, clock=clock) as sim,
    ):
        overrides = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            "ECSBOT_DATABASE_URL": database_url,
            "ECSBOT_ECS_ENDPOINT": sim.endpoint,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret,
            "ECSBOT_DEFAULT_REGION": regions[0],
            "ECSBOT_ADMINS": ADMIN,
            "ECSBOT_NOTIFY_CHANNEL": NOTIFY,
            **(env or {}),
        }
        settings = load_settings(**overrides)
        bot = build_bot(settings, clock=clock.now, migrate=True)
        server = HttpServer(
            WebApp(
                bot.app, signing_secret=SIGNING_SECRET, health=lambda: database_answers(bot.engine)
            ),
            host="127.0.0.1",
            port=0,
        )
        server.start()
        sender = SlackRequestSender(server.url, SIGNING_SECRET)
        try:
            yield Harness(slack, sim, clock, bot, server, sender)
        finally:
            sender.close()
            server.stop()
            bot.close()

"""The whole bot, as ``serve`` runs it, against the fakes on loopback, in-process.

A :class:`Harness` holds the fake Slack Web API, the ECS simulator (on a manual
clock), the bot built by ``bootstrap.build_bot`` on a migrated database, and the real
HTTP server (waitress) that Slack's signed requests are sent to. Tests and benchmarks
drive it only through HTTP and the poller's ``tick``; they never call the bot's
internals to make it pass:

    with running_bot("sqlite:///bot.db") as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.command("i-abc123")
        h.settle()
        request_id, message = h.last_preview()
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.bootstrap import Bot, build_bot, web_app
from bot.db.engine import make_session_factory
from bot.db.repositories.audit import AuditEntry
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import RequestState, Role
from bot.domain.policy import Binding
from bot.domain.request import RebootRequest
from bot.server import HttpServer
from bot.services import roles as roles_service
from bot.services.context import Context
from bot.services.event_watch import WatchReport, watch_once
from bot.services.poller import PollReport, poll_once
from bot.simulator import ManualClock, Simulator
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.settings import CHANNEL, OPERATOR, REGION, offline_env, offline_settings
from bot.testing.slack_api import FakeSlackApi, Message
from bot.testing.slack_requests import SlackRequestSender

FIRST_TS = "1700000000.000100"
"""The ts of the fake Slack's first message (the default ``message_ts`` of a click)."""


@dataclass
class Harness:
    """The running offline bot and the means to play Slack and the poller against it."""

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
        """``/ecs-reboot {text}`` typed by ``user`` in ``channel``, over signed HTTP."""
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
        message_ts: str | None = None,
    ) -> httpx.Response:
        """A click on the button ``action_id`` of request ``request_id``, made as Slack
        makes it: on the message that carries that button (its real ts, and the message
        as the bot left it), found in the fake Slack. ``message_ts`` forces another ts
        (with a bare message), for clicks Slack would never send."""
        shown = None if message_ts is not None else self._message_with(action_id, request_id)
        if shown is None:
            return self.sender.click(
                action_id,
                request_id,
                user_id=user,
                channel_id=channel,
                message_ts=message_ts or FIRST_TS,
                response_url=self.slack.response_url("click"),
            )
        return self.sender.click(
            action_id,
            request_id,
            user_id=user,
            channel_id=channel,
            message_ts=shown.ts,
            message=shown.to_slack(),
            **_clicked(shown, action_id, request_id),
            response_url=self.slack.response_url("click"),
        )

    def _message_with(self, action_id: str, request_id: str) -> Message | None:
        """The latest message showing the button ``action_id`` of ``request_id``, or else
        the request's recorded message (buttons gone: a late click), or None."""
        for message in reversed(self.slack.messages()):
            if any(
                b.get("action_id") == action_id and b.get("value") == request_id
                for _, b in message.buttons()
            ):
                return message
        with self.bot.ctx.uow() as uow:
            request = uow.requests.get(request_id)
        if request is None or not request.message_ts:
            return None
        return self.slack.find(request.channel, request.message_ts)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every job the bot started after an ack has finished."""
        if not self.bot.jobs.wait_idle(timeout=timeout):
            raise AssertionError(f"bot jobs did not finish within {timeout:.0f} s")

    def tick(self, ctx: Context | None = None) -> PollReport:
        """One poller step at the bot's clock (the simulator's manual clock), as this
        bot's poller or as ``ctx`` (a replica: the same bot under another lease owner)."""
        return poll_once(ctx or self.bot.ctx, self.clock.now())

    def watch(self) -> WatchReport:
        """One pass of the platform event watch at the bot's clock (ECSBOT_EVENTS=true)."""
        if self.bot.event_watch is None:
            raise AssertionError("the bot runs without the event watch: set ECSBOT_EVENTS")
        return watch_once(self.bot.event_watch, self.clock.now())

    def confirmed(self, count: int = 1, *, skip: int = 0) -> str:
        """A request for ``count`` instances (after the first ``skip``), previewed and
        confirmed by the operator; returns its id."""
        self.command(" ".join(self.sim.fleet.ids(REGION)[skip : skip + count]))
        self.settle()
        request_id, _ = self.last_preview()
        self.click(ACTION_CONFIRM, request_id)
        self.settle()
        state = self.request(request_id).state
        if state is not RequestState.EXECUTING:
            raise AssertionError(f"request {request_id} is {state.value} after the confirm")
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

    def grant(
        self, subject: str, role: Role, *, region: str = "", tag: str = "", account: str = ""
    ) -> None:
        """Bind ``role`` to ``subject`` (optionally in ``account``, in ``region``, for
        ``key=value``)."""
        key, _, value = tag.partition("=")
        roles_service.grant(
            self.bot.ctx.uow,
            Binding(subject, role, region, key, value, account),
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

    def preview_ids(self, channel: str = CHANNEL) -> list[str]:
        """Request ids of every preview posted in ``channel`` so far, oldest first."""
        return [request_id_of(params.get("blocks") or []) for params in self.previews(channel)]

    def ephemerals(self, user: str | None = None) -> list[str]:
        """The texts of the ephemeral replies (to ``user``, or to anyone)."""
        return [
            str(call.params.get("text", ""))
            for call in self.slack.calls("chat.postEphemeral")
            if user is None or call.params.get("user") == user
        ]

    def last_preview(self) -> tuple[str, Message]:
        """The request id and the current state of the latest request message."""
        previews = self.previews()
        if not previews:
            raise AssertionError(f"no preview was posted; calls: {self.slack.calls()}")
        request_id = request_id_of(previews[-1]["blocks"])
        request = self.request(request_id)
        if not request.message_ts:
            raise AssertionError("the preview's ts was not recorded")
        return request_id, self.slack.message(CHANNEL, request.message_ts)

    def request(self, request_id: str) -> RebootRequest:
        """The request as the database holds it now."""
        with self.bot.ctx.uow() as uow:
            request = uow.requests.get(request_id)
        if request is None:
            raise AssertionError(f"request {request_id} is not in the database")
        return request

    def audit_actions(self, request_id: str) -> list[str]:
        """The audit log's actions for a request, oldest first (read from the table)."""
        return [entry.action for entry in self.audit_entries(request_id)]

    def audit_entries(self, request_id: str) -> list[AuditEntry]:
        """The audit log's entries for a request, oldest first (read from the table)."""
        with UnitOfWork(make_session_factory(self.bot.engine)) as uow:
            return uow.audit.list(request_id=request_id)

    def thread(self, request_id: str) -> list[Message]:
        """The replies in the request's thread, oldest first."""
        ts = self.request(request_id).message_ts
        if not ts:
            raise AssertionError(f"request {request_id} has no message")
        return self.slack.thread(CHANNEL, ts)


def _clicked(message: Message, action_id: str, request_id: str) -> dict[str, Any]:
    """``block_id`` and ``button`` of the clicked button on ``message``, when shown."""
    for block_id, button in message.buttons():
        if button.get("action_id") == action_id and button.get("value") == request_id:
            return {"block_id": block_id, "button": button}
    return {}


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every element of the actions blocks, in display order."""
    return [
        element
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


def request_id_of(blocks: list[dict[str, Any]]) -> str:
    """The request id a request message shows in its blocks."""
    text = json.dumps(blocks)
    marker = "*Request*\\n`"
    start = text.index(marker) + len(marker)
    return text[start : text.index("`", start)]


def text_of(message: Message) -> str:
    """A message's text and blocks as one string, for ``in`` checks."""
    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)


@contextmanager
def running_bot(
    database_url: str,
    *,
    instances: int = 10,
    regions: Sequence[str] = (REGION,),
    env: Mapping[str, str] | None = None,
    start: datetime | None = None,
    clock: ManualClock | None = None,
    stop_seconds: float = 2.0,
    start_seconds: float = 3.0,
    job_workers: int = 16,
    sender_timeout: float = 10.0,
    accounts: Sequence[str] = (),
) -> Iterator[Harness]:
    """The bot on ``database_url`` against fresh fakes, served on a loopback port.

    The simulator and the bot share ``clock`` (a ``ManualClock`` from ``start`` unless
    given), so instance state changes happen when the caller moves time. ``env``
    overrides settings by their environment names; everything else comes from
    :func:`bot.testing.settings.offline_env`, never from the process environment.
    ``accounts``: member accounts of the simulator (``ECSBOT_ACCOUNTS`` is the caller's
    to set, with ``harness.sim.role_arn(name)``).
    """
    manual = clock or ManualClock(start)
    with (
        FakeSlackApi() as slack,
        Simulator(
            regions=tuple(regions),
            instances_per_region=instances,
            seed=7,
            clock=manual,
            stop_seconds=stop_seconds,
            start_seconds=start_seconds,
            accounts=tuple(accounts),
        ) as sim,
    ):
        values = offline_env(slack_url=slack.url, sim=sim, database_url=database_url, overrides=env)
        bot = build_bot(
            offline_settings(values), clock=manual.now, migrate=True, job_workers=job_workers
        )
        try:
            server = HttpServer(web_app(bot), host="127.0.0.1", port=0)
            server.start()
            try:
                with SlackRequestSender(
                    server.url, bot.signing_secret, timeout=sender_timeout
                ) as sender:
                    yield Harness(slack, sim, manual, bot, server, sender)
            finally:
                server.stop()
        finally:
            bot.close()


__all__ = [
    "FIRST_TS",
    "Harness",
    "buttons",
    "request_id_of",
    "running_bot",
    "text_of",
]

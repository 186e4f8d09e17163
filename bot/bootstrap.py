"""The one place that wires adapters to the use cases.

``build_bot`` takes the settings and optional overrides (a clock, an ECS transport, a
Slack client) so that tests, the console and the benchmarks get the real wiring with
only the edges swapped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import current_revision, head_revision, is_sqlite, upgrade_to_head
from bot.db.unit_of_work import UnitOfWork
from bot.ecs.client import EcsClient
from bot.ecs.credentials import credentials_chain
from bot.services.context import Context, FlowConfig
from bot.settings import Settings, SettingsError
from bot.slack.app import build_app, make_web_client
from bot.slack.groups import CachedGroupDirectory
from bot.slack.jobs import Jobs
from bot.slack.presenter import SlackPresenter

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def flow_config(settings: Settings) -> FlowConfig:
    return FlowConfig(
        confirm_ttl=settings.confirm_ttl,
        reboot_timeout=settings.reboot_timeout,
        poll_interval=settings.poll_interval,
        max_instances=settings.max_instances,
        default_region=settings.default_region,
        admins=tuple(settings.admins),
        allowed_channels=tuple(settings.allowed_channels),
        notify_channel=settings.notify_channel,
    )


def prepare_database(settings: Settings, *, migrate: bool = False) -> Engine:
    """The engine, with the schema at head: SQLite is upgraded automatically; PostgreSQL
    only when asked (``migrate``), otherwise start-up stops with a line saying how."""
    url = settings.database_url
    if is_sqlite(url) or migrate:
        upgrade_to_head(url)
    engine = make_engine(url)
    current, head = current_revision(engine), head_revision()
    if current != head:
        engine.dispose()
        raise SettingsError(
            f"ECSBOT_DATABASE_URL: the database schema is at {current or 'nothing'}, the bot "
            f"needs {head}; run `ecs-reboot-bot migrate` (or `serve --migrate`)"
        )
    return engine


def unit_of_work_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    sessions = make_session_factory(engine)
    return lambda: UnitOfWork(sessions)


def make_ecs_client(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    transport: httpx.BaseTransport | None = None,
) -> EcsClient:
    secret = settings.access_key_secret
    token = settings.security_token
    credentials = credentials_chain(
        access_key_id=settings.access_key_id,
        access_key_secret=secret.get_secret_value() if secret else None,
        security_token=token.get_secret_value() if token else None,
        metadata_role=settings.ecs_metadata_role,
        metadata_disabled=settings.ecs_metadata_disabled,
    )
    return EcsClient(
        credentials=credentials,
        endpoint=settings.ecs_endpoint,
        signature_version=settings.ecs_signature_version,
        clock=clock,
        transport=transport,
    )


@dataclass
class Bot:
    """Everything ``serve`` (and the console and tests) run, built and ready."""

    settings: Settings
    engine: Engine
    ctx: Context
    ecs: EcsClient
    web_client: WebClient
    jobs: Jobs
    app: App
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        self.jobs.wait_idle(timeout=30)
        self.jobs.shutdown()
        self.ecs.close()
        self.engine.dispose()


def build_bot(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = False,
    web_client: WebClient | None = None,
    ecs_transport: httpx.BaseTransport | None = None,
    job_workers: int = 16,
) -> Bot:
    """Wire the whole bot for HTTP mode (``serve``) from settings."""
    settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    assert settings.slack_bot_token is not None
    assert settings.slack_signing_secret is not None
    engine = prepare_database(settings, migrate=migrate)
    client = web_client or make_web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_url
    )
    presenter = SlackPresenter(client, notify_channel=settings.notify_channel)
    ecs = make_ecs_client(settings, clock=clock, transport=ecs_transport)
    ctx = Context(
        uow=unit_of_work_factory(engine),
        ecs=ecs,
        presenter=presenter,
        groups=CachedGroupDirectory(client),
        clock=clock,
        config=flow_config(settings),
    )
    jobs = Jobs(presenter, workers=job_workers)
    app = build_app(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        ctx=ctx,
        jobs=jobs,
    )
    return Bot(
        settings=settings, engine=engine, ctx=ctx, ecs=ecs, web_client=client, jobs=jobs, app=app
    )

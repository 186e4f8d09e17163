"""The one place that wires adapters to the use cases.

``build_bot`` takes the settings and optional overrides (a clock, an ECS transport, a
Slack client) so that tests, the console and the benchmarks get the real wiring with
only the edges swapped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from bot import metrics
from bot.cloudmonitor import CloudMonitorHook
from bot.db.engine import make_engine
from bot.db.migrate import current_revision, head_revision, is_sqlite, upgrade_to_head
from bot.db.unit_of_work import UnitOfWork, UnitOfWorkMaker
from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.approval import ApprovalRules
from bot.domain.events import EventState, PlatformEvent
from bot.domain.model import InstanceRef
from bot.domain.rollout import RolloutDefaults, Size, parse_size
from bot.domain.schedule import ScheduleLimits, ScheduleTimes
from bot.ecs.account_credentials import AccountCredentials
from bot.ecs.client import EcsClient
from bot.ecs.credentials import (
    DEFAULT_SESSION_NAME,
    DEFAULT_STS_ENDPOINT,
    ChainSettings,
    Sources,
    StsTarget,
    credentials_chain,
)
from bot.server import WebApp, database_answers
from bot.services.context import Context, FlowConfig
from bot.services.event_watch import EventConfig, EventWatch
from bot.services.poller import Poller
from bot.services.ports import EcsGateway
from bot.settings import Settings, SettingsError
from bot.slack.app import build_app, make_web_client
from bot.slack.event_cards import SlackEventPresenter
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
        inflight_bound=settings.inflight_bound,
        poll_interval=settings.poll_interval,
        max_instances=settings.max_instances,
        default_region=settings.default_region,
        admins=tuple(settings.admins),
        allowed_channels=tuple(settings.allowed_channels),
        notify_channel=settings.notify_channel,
        rollout=RolloutDefaults(
            rolling_above=settings.rolling_above,
            batch=_size(settings.batch, least=1),
            canary=settings.canary,
            max_errors=_size(settings.max_errors, least=0),
        ),
        health_check_agent=settings.health_check == "cloud-assistant",
        require_reason=settings.require_reason,
        approval_rules=ApprovalRules(
            quorum=settings.approvals,
            for_force=settings.approvals_for_force,
            above=settings.approvals_above,
            for_tags=settings.approval_tags,
            for_accounts=tuple(settings.approvals_for_accounts),
        ),
        approval_ttl=settings.approval_ttl,
        approver_group=settings.approver_group,
        timezone=settings.timezone,
        schedule_limits=ScheduleLimits(
            min_lead=settings.schedule_min_lead, max_ahead=settings.schedule_max_ahead
        ),
        schedule_times=ScheduleTimes(
            remind=settings.schedule_remind, grace=settings.schedule_grace
        ),
        windows=settings.windows,
        accounts=settings.account_names,
        default_account=settings.default_account,
        account_roles=dict(settings.accounts),
    )


def _size(text: str, *, least: int) -> Size:
    size = parse_size(text, least=least)
    if size is None:  # the settings validated it already
        raise SettingsError(f"{text!r} is not a count or a percentage")
    return size


def prepare_database(settings: Settings, *, migrate: bool = False) -> Engine:
    """The engine, with the schema at head: SQLite is upgraded automatically; PostgreSQL
    only when asked (``migrate``), otherwise start-up stops with a line saying how."""
    url = settings.database_url
    try:
        if is_sqlite(url) or migrate:
            upgrade_to_head(url)
        engine = make_engine(url)
        current, head = current_revision(engine), head_revision()
    except (OperationalError, InterfaceError) as error:
        # The error's kind, not its text: the text may hold the URL and its password.
        raise SettingsError(
            f"ECSBOT_DATABASE_URL: the database does not answer ({type(error.orig).__name__})"
        ) from None
    if current != head:
        engine.dispose()
        raise SettingsError(
            f"ECSBOT_DATABASE_URL: the database schema is at {current or 'nothing'}, the bot "
            f"needs {head}; run `ecs-reboot-bot migrate` (or `serve --migrate`)"
        )
    return engine


def unit_of_work_factory(engine: Engine) -> UnitOfWorkMaker:
    def make(*, durable: bool = True) -> UnitOfWork:
        return UnitOfWork(engine, durable=durable)

    return make


def build_context(
    settings: Settings,
    engine: Engine,
    client: WebClient,
    ecs: EcsGateway,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> Context:
    """The use cases' dependencies (shared by the Slack app and the poller)."""
    return Context(
        uow=unit_of_work_factory(engine),
        ecs=ecs,
        presenter=SlackPresenter(client, notify_channel=settings.notify_channel),
        groups=CachedGroupDirectory(client),
        clock=clock,
        config=flow_config(settings),
        pending_events=_pending_events(engine) if settings.events else None,
    )


def _pending_events(engine: Engine) -> Callable[[Sequence[InstanceRef]], list[PlatformEvent]]:
    """The pending platform reboot events of instances, for the preview's note."""

    def pending(refs: Sequence[InstanceRef]) -> list[PlatformEvent]:
        with UnitOfWork(engine) as uow:
            found = uow.events.pending_for_instances((r.region, r.instance_id) for r in refs)
        accounts = {(r.region, r.instance_id): r.account for r in refs}
        return [
            k.event
            for k in found
            if k.event.state is EventState.SCHEDULED
            and accounts.get((k.event.region, k.event.instance_id)) == k.event.account
        ]

    return pending


def chain_settings(settings: Settings) -> ChainSettings:
    """The credentials chain's inputs, secrets unwrapped only here."""
    secret = settings.access_key_secret
    token = settings.security_token
    return ChainSettings(
        access_key_id=settings.access_key_id,
        access_key_secret=secret.get_secret_value() if secret else None,
        security_token=token.get_secret_value() if token else None,
        role_arn=settings.role_arn,
        role_session_name=settings.role_session_name,
        oidc_provider_arn=settings.oidc_provider_arn,
        oidc_token_file=settings.oidc_token_file,
        profile=settings.profile,
        credentials_file=settings.credentials_file,
        metadata_role=settings.ecs_metadata_role,
        metadata_disabled=settings.ecs_metadata_disabled,
        credentials_uri=settings.credentials_uri,
    )


def make_ecs_client(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    transport: httpx.BaseTransport | None = None,
) -> EcsClient:
    sts = StsTarget(
        endpoint=settings.sts_endpoint or DEFAULT_STS_ENDPOINT,
        session_name=settings.role_session_name or DEFAULT_SESSION_NAME,
    )
    own_identity = credentials_chain(
        config=chain_settings(settings), sources=Sources(clock=clock, sts=sts)
    )
    # Each account's role is assumed from the bot's own identity, lazily, per session
    # (§5.13); without ECSBOT_ACCOUNTS this is the own identity alone, as before.
    credentials = AccountCredentials(own_identity, settings.account_roles, target=sts, clock=clock)
    return EcsClient(
        credentials=credentials,
        endpoint=settings.ecs_endpoint,
        signature_version=settings.ecs_signature_version,
        clock=clock,
        transport=transport,
        on_call=metrics.record_ecs_call,
    )


@dataclass
class Runtime:
    """The use cases wired to the database, ECS and the Slack Web API: what the poller
    needs, and what the Slack app adds its listeners to."""

    settings: Settings
    engine: Engine
    ctx: Context
    ecs: EcsClient
    web_client: WebClient
    # The platform event watch (§5.11); None unless ECSBOT_EVENTS=true.
    event_watch: EventWatch | None

    def poller(self) -> Poller:
        return Poller(self.ctx, interval=self.settings.poll_interval, watch=self.event_watch)

    def close(self) -> None:
        self.ecs.close()
        self.engine.dispose()


def build_runtime(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = False,
    web_client: WebClient | None = None,
    ecs_transport: httpx.BaseTransport | None = None,
) -> Runtime:
    settings.require("SLACK_BOT_TOKEN")
    assert settings.slack_bot_token is not None
    # Checked before anything starts, like every other setting.
    events = event_config(settings) if settings.events else None
    engine = prepare_database(settings, migrate=migrate)
    client = web_client or make_web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_url
    )
    ecs = make_ecs_client(settings, clock=clock, transport=ecs_transport)
    ctx = build_context(settings, engine, client, ecs, clock=clock)
    watch = build_event_watch(settings, events, ctx, engine, client, ecs)
    return Runtime(
        settings=settings,
        engine=engine,
        ctx=ctx,
        ecs=ecs,
        web_client=client,
        event_watch=watch,
    )


def event_config(settings: Settings) -> EventConfig:
    """``ECSBOT_EVENTS*`` checked and as plain values (only with ECSBOT_EVENTS=true)."""
    if not settings.watched_regions:
        raise SettingsError(
            "ECSBOT_EVENT_REGIONS is required with ECSBOT_EVENTS=true (or set "
            "ECSBOT_DEFAULT_REGION)"
        )
    channel = settings.events_channel_or_notify
    if channel is None:
        raise SettingsError(
            "ECSBOT_EVENTS_CHANNEL is required with ECSBOT_EVENTS=true (or set "
            "ECSBOT_NOTIFY_CHANNEL)"
        )
    window = settings.events_window
    if window is not None and window.lower() not in settings.windows:
        known = ", ".join(sorted(settings.windows)) or "none is set"
        raise SettingsError(
            f"ECSBOT_EVENTS_WINDOW={window} names no window of ECSBOT_WINDOWS (the windows: "
            f"{known})"
        )
    return EventConfig(
        regions=settings.watched_regions,
        channel=channel,
        interval=settings.events_interval,
        remind=float(settings.events_remind),
        # Every account (§5.13); each read is signed with the role assumed there.
        accounts=tuple(name for name, _ in settings.accounts) or (DEFAULT_ACCOUNT,),
        window=None if window is None else window.lower(),
    )


def build_event_watch(
    settings: Settings,
    config: EventConfig | None,
    ctx: Context,
    engine: Engine,
    client: WebClient,
    ecs: EcsClient,
) -> EventWatch | None:
    if config is None:
        return None
    return EventWatch(
        uow=unit_of_work_factory(engine),
        source=ecs,
        presenter=SlackEventPresenter(
            client,
            notify_channel=settings.notify_channel,
            window=None if config.window is None else settings.windows[config.window],
        ),
        config=config,
        owner=ctx.owner,
        clock=ctx.clock,
    )


@dataclass
class Bot(Runtime):
    """Everything ``serve``, ``socket`` and the console run: the runtime plus the Bolt
    app and its worker pool."""

    jobs: Jobs
    app: App
    # CloudMonitor's callback (docs/PRODUCT.md §5.12); None when ECSBOT_ALERT_TOKEN is unset.
    cloudmonitor: CloudMonitorHook | None = None

    @property
    def signing_secret(self) -> str:
        """What ``serve``'s gate verifies Slack's requests with."""
        secret = self.settings.slack_signing_secret
        return secret.get_secret_value() if secret else ""

    def close(self) -> None:
        self.jobs.wait_idle(timeout=30)
        self.jobs.shutdown()
        super().close()


def build_bot(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = False,
    web_client: WebClient | None = None,
    ecs_transport: httpx.BaseTransport | None = None,
    job_workers: int = 16,
    socket_mode: bool = False,
) -> Bot:
    """Wire the whole bot from settings: HTTP mode (``serve``) verifies Slack's
    signatures; Socket Mode (``socket``) needs the app-level token instead."""
    settings.require(
        "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN" if socket_mode else "SLACK_SIGNING_SECRET"
    )
    runtime = build_runtime(
        settings, clock=clock, migrate=migrate, web_client=web_client, ecs_transport=ecs_transport
    )
    jobs = Jobs(runtime.ctx.presenter, workers=job_workers)
    signing_secret = settings.slack_signing_secret
    app = build_app(
        client=runtime.web_client,
        signing_secret=signing_secret.get_secret_value() if signing_secret else None,
        ctx=runtime.ctx,
        jobs=jobs,
        events=runtime.event_watch,
    )
    return Bot(
        settings=settings,
        engine=runtime.engine,
        ctx=runtime.ctx,
        ecs=runtime.ecs,
        web_client=runtime.web_client,
        event_watch=runtime.event_watch,
        jobs=jobs,
        app=app,
        cloudmonitor=_cloudmonitor_hook(settings, runtime.ctx, jobs),
    )


def _cloudmonitor_hook(settings: Settings, ctx: Context, jobs: Jobs) -> CloudMonitorHook | None:
    if settings.alert_token is None:
        return None
    channel = settings.alarm_channel
    if channel is None:
        raise SettingsError(
            "ECSBOT_ALERT_TOKEN is set but neither ECSBOT_ALERTS_CHANNEL nor "
            "ECSBOT_NOTIFY_CHANNEL says where alarm cards go"
        )
    return CloudMonitorHook(
        ctx, jobs, token=settings.alert_token.get_secret_value(), channel=channel
    )


def web_app(bot: Bot) -> WebApp:
    """``serve``'s WSGI app for ``bot``: Slack, the health check, metrics and the
    CloudMonitor callback."""
    return WebApp(
        bot.app,
        signing_secret=bot.signing_secret,
        health=lambda: database_answers(bot.engine),
        cloudmonitor=bot.cloudmonitor,
        gate=bot.jobs.gate,
    )

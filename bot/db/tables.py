"""The database schema as SQLAlchemy declarative models (docs/PRODUCT.md §5–7).

Rows are an implementation detail of ``bot.db``: repositories turn them into the
domain's frozen snapshots, so nothing outside this package imports these classes
(``migrations/env.py`` imports :data:`metadata` only).

State-like columns (``state``, ``verdict``, ``outcome``, ``role``) are plain strings
holding the domain enums' values, without CHECK constraints: adding a state later
(two-person approval, canary, docs/PRODUCT.md §10) should not need a table rebuild on SQLite.
Optional scope columns of a role binding are ``""`` rather than NULL so the unique
constraint behaves the same on SQLite and PostgreSQL (NULLs never collide).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.db.types import UtcDateTime

# Stable constraint names, so Alembic can find (and later drop or alter) them by name
# on every database, and batch mode on SQLite can recreate them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Widths: Slack ids are short but undocumented in length; ECS names and tag keys and
# values are at most 128 characters.
_SLACK_ID = 64
_ACTOR = 128
_REGION = 64
_INSTANCE_ID = 64
_STATE = 20
_NAME = 255
_ACCOUNT = 31  # [a-z0-9][a-z0-9-]{0,30}
_TAG = 128


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RebootRequestRow(Base):
    """One ``/ecs-reboot`` request: previewed, then cancelled, expired or executed."""

    __tablename__ = "reboot_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(_STATE), index=True)
    force: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    requester: Mapped[str] = mapped_column(String(_SLACK_ID))
    channel: Mapped[str] = mapped_column(String(_SLACK_ID))
    command_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Indexed for ``history`` and ``list_recent`` (newest first).
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(_SLACK_ID))
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(_SLACK_ID))
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The preview message's ts in ``channel``; null until it has been posted.
    message_ts: Mapped[str | None] = mapped_column(String(32))
    notify_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(512))
    # The last progress shown, so an unchanged line is not sent to Slack again.
    progress_text: Mapped[str | None] = mapped_column(String(_NAME))
    # Set by every move to a final state, cleared once the message shows it: a redraw
    # Slack refused (429s beyond the retries, an outage) is tried again by the poller.
    message_redraw_due: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), index=True
    )
    # Set when an executed request finishes and a notify channel is configured, cleared
    # once the "how it ended" notification is posted; the poller posts what is left.
    notify_end_due: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), index=True
    )
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The ``tag:``/``name:`` selectors as typed (a JSON list, empty without any); what
    # they matched is frozen in the instance rows.
    selectors: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    next_poll_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # One poller at a time; a dead poller's lease simply runs out.
    lease_owner: Mapped[str | None] = mapped_column(String(_NAME))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Bumped by every write of the request's own fields (not by the leases, which
    # change every poll); with ``instances_token`` the key of the instances a process
    # read already (docs/decisions/0015).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set anew, at random, by every write of the request's instance rows (migration 0014).
    instances_token: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The rollout (docs/PRODUCT.md §5.8), fixed at preview; one wave for all at once.
    rollout_waves: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    rollout_canary: Mapped[int | None] = mapped_column(Integer)
    rollout_batch: Mapped[int | None] = mapped_column(Integer)
    rollout_max_errors: Mapped[int | None] = mapped_column(Integer)
    # Pause once this wave is over (--pause-after-canary); cleared by the pause.
    pause_after_wave: Mapped[int | None] = mapped_column(Integer)
    # Set when no further wave may be sent (bot.domain.model.StopReason).
    stop_reason: Mapped[str | None] = mapped_column(String(_STATE))
    stopped_by: Mapped[str | None] = mapped_column(String(_SLACK_ID))
    paused_by: Mapped[str | None] = mapped_column(String(_SLACK_ID))
    # Four-eyes approval and retries (docs/PRODUCT.md §6.1, §6.2; migration 0005).
    reason: Mapped[str | None] = mapped_column(Text)
    approvals_needed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    approval_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rejected_by: Mapped[str | None] = mapped_column(String(_SLACK_ID))
    rejected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retry_of: Mapped[str | None] = mapped_column(String(32))
    # Set once, by a conditional update, when Retry opens a request from this one: a
    # second click (or replica) finds it set and opens nothing.
    retried_by_request: Mapped[str | None] = mapped_column(String(32))
    # Scheduled reboots and maintenance windows (docs/PRODUCT.md §5.10; migration 0010).
    scheduled_for: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window: Mapped[str | None] = mapped_column(String(64))
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_reopens_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What opened it (docs/PRODUCT.md §7 ``source``): a command, a Retry, an alarm card, …
    source: Mapped[str] = mapped_column(String(_STATE), default="command", server_default="command")
    # The thread the preview was posted in (a message shortcut), else null.
    thread_ts: Mapped[str | None] = mapped_column(String(32))

    instances: Mapped[list[RebootInstanceRow]] = relationship(
        back_populates="request",
        order_by="RebootInstanceRow.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class RebootInstanceRow(Base):
    """One instance of a request: what the preview found and how the reboot ended."""

    __tablename__ = "reboot_instances"
    __table_args__ = (UniqueConstraint("request_id", "region", "instance_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("reboot_requests.id", ondelete="CASCADE"), index=True
    )
    region: Mapped[str] = mapped_column(String(_REGION))
    instance_id: Mapped[str] = mapped_column(String(_INSTANCE_ID))
    # The account it belongs to (§5.13); "default" with one account. Instance ids are
    # unique across accounts, so the unique key above needs no account.
    account: Mapped[str] = mapped_column(
        String(_ACCOUNT), default="default", server_default="default"
    )
    # The order the user gave, so every message lists the instances the same way.
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(_NAME))
    zone: Mapped[str | None] = mapped_column(String(_REGION))
    status: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    verdict: Mapped[str] = mapped_column(String(_STATE))
    verdict_code: Mapped[str | None] = mapped_column(String(_NAME))
    verdict_message: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(
        String(_STATE), default="pending", server_default="pending"
    )
    code: Mapped[str | None] = mapped_column(String(_NAME))
    message: Mapped[str | None] = mapped_column(Text)
    api_request_id: Mapped[str | None] = mapped_column(String(_INSTANCE_ID))
    # Written and committed BEFORE the reboot call goes out: a process that dies
    # mid-call must not send it again on restart (docs/PRODUCT.md §5.7).
    reboot_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reboot_acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    start_time_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    seen_leaving_running: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The last outcome already posted to the thread, so replies are coalesced.
    reported_outcome: Mapped[str | None] = mapped_column(String(_STATE))
    # The rollout wave this instance reboots in, 1-based (docs/PRODUCT.md §5.8).
    wave: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The health gate's finding (§5.9): "online", "absent", or null (no gate).
    agent: Mapped[str | None] = mapped_column(String(_STATE))
    # Real reboot calls recorded as sent, each BEFORE its call: the second only after a
    # lost answer, any further one only past ECSBOT_INFLIGHT_BOUND (docs/decisions/0003).
    reboot_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the latest call after the first was recorded (once its answer was lost: when
    # the client gave up on it); the reboot timeout and the in-flight bound count from it.
    reboot_resent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the first call was first refused before reaching ECS (it is tried again).
    unsent_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What happened to its reboot (bot.domain.model.Happened); null: nothing yet, or a
    # row from before migration 0011, whose ``message`` holds the words of its time.
    happened: Mapped[str | None] = mapped_column(String(32))

    request: Mapped[RebootRequestRow] = relationship(back_populates="instances")


class ApprovalRow(Base):
    """One approver's yes to a request awaiting approval. Unique per person, so a double
    click (or a Slack retry) records one approval."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("reboot_requests.id", ondelete="CASCADE"), index=True
    )
    user: Mapped[str] = mapped_column(String(_SLACK_ID))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class RoleBindingRow(Base):
    """A role granted to a Slack user or user group, optionally scoped."""

    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint("subject", "role", "region", "tag_key", "tag_value", "account"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(_SLACK_ID))
    role: Mapped[str] = mapped_column(String(_STATE))
    region: Mapped[str] = mapped_column(String(_REGION), default="", server_default="")
    tag_key: Mapped[str] = mapped_column(String(_TAG), default="", server_default="")
    tag_value: Mapped[str] = mapped_column(String(_TAG), default="", server_default="")
    # "" = every account (§5.13, §6).
    account: Mapped[str] = mapped_column(String(_ACCOUNT), default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(_ACTOR))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditLogRow(Base):
    """Append-only record of every grant, revoke, preview, confirm, cancel, expiry
    and outcome. ``request_id`` has no foreign key so the trail outlives any cleanup."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(_ACTOR))
    action: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))


class PlatformEventRow(Base):
    """A platform maintenance event the watch announced (docs/PRODUCT.md §5.11), with
    its state as ECS last reported it. Keyed by ECS's event id: a second replica or a
    restarted process finds it here and never announces it again."""

    __tablename__ = "platform_events"

    event_id: Mapped[str] = mapped_column(String(_INSTANCE_ID), primary_key=True)
    account: Mapped[str] = mapped_column(String(_REGION), default="default")
    region: Mapped[str] = mapped_column(String(_REGION))
    instance_id: Mapped[str] = mapped_column(String(_INSTANCE_ID), index=True)
    # None: the bot could not see the instance when it announced the event.
    instance_name: Mapped[str | None] = mapped_column(String(_NAME))
    # Comma-separated OperationLocks reasons then; null when it had none.
    instance_locks: Mapped[str | None] = mapped_column(String(_NAME))
    event_type: Mapped[str] = mapped_column(String(_TAG))
    state: Mapped[str] = mapped_column(String(_STATE), index=True)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    card_id: Mapped[str | None] = mapped_column(String(32), index=True)
    reminded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the bot's own reboot of the instance was back, and how many passes saw the
    # event still Scheduled after that (said once in the card's thread at two).
    back_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    passes_since_back: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stuck_noted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class EventCardRow(Base):
    """One card: the new events of one pass, account and region, in one channel."""

    __tablename__ = "event_cards"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(_REGION), default="default")
    region: Mapped[str] = mapped_column(String(_REGION))
    channel: Mapped[str] = mapped_column(String(_SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Null until Slack took the card; a card still without one is posted again.
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # Set when a line changed and the message does not show it yet.
    redraw_due: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), index=True
    )


class RequestEventRow(Base):
    """A request opened from a card's **Reboot now**, and the events it reboots for."""

    __tablename__ = "request_events"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("reboot_requests.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(String(_INSTANCE_ID), primary_key=True, index=True)


class EventWatchRow(Base):
    """The watch's own lease and schedule: one pass at a time across replicas."""

    __tablename__ = "event_watch"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(_NAME))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_pass_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_pass_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AlarmCardRow(Base):
    """The card of one CloudMonitor alarm rule on one instance (docs/PRODUCT.md §5.12).

    At most one card per rule and instance is open: a repeat updates it, an ``OK``
    marks it recovered, and the next ``ALERT`` opens a new card. The partial unique
    index makes two replicas receiving the first ``ALERT`` at once make one card.
    """

    __tablename__ = "alarm_cards"
    __table_args__ = (
        Index(
            "uq_alarm_cards_open",
            "rule",
            "instance_id",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(_NAME))
    alert_name: Mapped[str] = mapped_column(String(_NAME))
    metric_name: Mapped[str] = mapped_column(String(_NAME))
    instance_id: Mapped[str] = mapped_column(String(_INSTANCE_ID))
    region: Mapped[str] = mapped_column(String(_REGION))
    channel: Mapped[str] = mapped_column(String(_SLACK_ID))
    state: Mapped[str] = mapped_column(String(_STATE))
    count: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[str] = mapped_column(String(_NAME))
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expression: Mapped[str] = mapped_column(Text, default="", server_default="")
    message_ts: Mapped[str | None] = mapped_column(String(32))
    instance_name: Mapped[str | None] = mapped_column(String(_NAME))
    instance_status: Mapped[str | None] = mapped_column(String(_STATE))
    recovered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    account: Mapped[str] = mapped_column(String(_NAME), default="", server_default="")


class AlarmDeliveryRow(Base):
    """Each ``transId`` seen once: a callback CloudMonitor sends again (it retries up to
    three times) finds its id here and changes nothing."""

    __tablename__ = "alarm_deliveries"

    trans_id: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    card_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


metadata = Base.metadata

__all__ = [
    "NAMING_CONVENTION",
    "AlarmCardRow",
    "AlarmDeliveryRow",
    "ApprovalRow",
    "AuditLogRow",
    "Base",
    "EventCardRow",
    "EventWatchRow",
    "PlatformEventRow",
    "RebootInstanceRow",
    "RebootRequestRow",
    "RequestEventRow",
    "RoleBindingRow",
    "metadata",
]

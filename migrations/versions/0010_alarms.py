"""CloudMonitor alarm cards, where each request came from, and the thread it lives in.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``alarm_cards`` holds one card per alarm rule and instance (at most one open, by a
partial unique index); ``alarm_deliveries`` each ``transId`` seen, so a callback sent
again changes nothing. ``reboot_requests.source`` says what opened a request; every
existing request came from a slash command or a Retry (``retry_of`` tells which).
``reboot_requests.thread_ts`` is the thread a preview was posted in (a message
shortcut's); every existing preview is a message of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reboot_requests",
        sa.Column("source", sa.String(20), nullable=False, server_default="command"),
    )
    op.execute("UPDATE reboot_requests SET source = 'retry' WHERE retry_of IS NOT NULL")
    op.add_column("reboot_requests", sa.Column("thread_ts", sa.String(32)))
    op.create_table(
        "alarm_cards",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("alert_name", sa.String(255), nullable=False),
        sa.Column("metric_name", sa.String(255), nullable=False),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.String(255), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False, server_default=""),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("instance_name", sa.String(255)),
        sa.Column("instance_status", sa.String(20)),
        sa.Column("recovered_at", sa.DateTime(timezone=True)),
        sa.Column("account", sa.String(255), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_cards")),
    )
    op.create_index(
        "uq_alarm_cards_open",
        "alarm_cards",
        ["rule", "instance_id"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "alarm_deliveries",
        sa.Column("trans_id", sa.String(255), nullable=False),
        sa.Column("card_id", sa.String(32)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("trans_id", name=op.f("pk_alarm_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("alarm_deliveries")
    op.drop_index("uq_alarm_cards_open", table_name="alarm_cards")
    op.drop_table("alarm_cards")
    with op.batch_alter_table("reboot_requests") as batch:
        batch.drop_column("thread_ts")
        batch.drop_column("source")

"""Platform maintenance events: what the watch announced, its cards, the requests
opened from them, and the watch's own lease.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

docs/PRODUCT.md §5.11. Events are keyed by ECS's event id, so a restart or a second
replica never announces one twice; ``event_watch`` holds one row (``events``), whose
lease lets one replica at a time make a pass. Nothing existing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "platform_events",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("instance_name", sa.String(255)),
        sa.Column("instance_locks", sa.String(255)),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("not_before", _AT, nullable=False),
        sa.Column("published_at", _AT),
        sa.Column("finished_at", _AT),
        sa.Column("first_seen_at", _AT, nullable=False),
        sa.Column("card_id", sa.String(32)),
        sa.Column("reminded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("back_at", _AT),
        sa.Column("passes_since_back", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stuck_noted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_platform_events")),
    )
    op.create_index(op.f("ix_platform_events_instance_id"), "platform_events", ["instance_id"])
    op.create_index(op.f("ix_platform_events_state"), "platform_events", ["state"])
    op.create_index(op.f("ix_platform_events_card_id"), "platform_events", ["card_id"])
    op.create_table(
        "event_cards",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("redraw_due", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_cards")),
    )
    op.create_index(op.f("ix_event_cards_redraw_due"), "event_cards", ["redraw_due"])
    op.create_table(
        "request_events",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reboot_requests.id"],
            name=op.f("fk_request_events_request_id_reboot_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "event_id", name=op.f("pk_request_events")),
    )
    op.create_index(op.f("ix_request_events_event_id"), "request_events", ["event_id"])
    watch = op.create_table(
        "event_watch",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires_at", _AT),
        sa.Column("next_pass_at", _AT),
        sa.Column("last_pass_at", _AT),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_watch")),
    )
    op.bulk_insert(watch, [{"name": "events"}])


def downgrade() -> None:
    op.drop_table("event_watch")
    op.drop_index(op.f("ix_request_events_event_id"), table_name="request_events")
    op.drop_table("request_events")
    op.drop_index(op.f("ix_event_cards_redraw_due"), table_name="event_cards")
    op.drop_table("event_cards")
    op.drop_index(op.f("ix_platform_events_card_id"), table_name="platform_events")
    op.drop_index(op.f("ix_platform_events_state"), table_name="platform_events")
    op.drop_index(op.f("ix_platform_events_instance_id"), table_name="platform_events")
    op.drop_table("platform_events")

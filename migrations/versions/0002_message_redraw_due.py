"""A finished request's message that Slack did not redraw is tried again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``message_redraw_due`` is set by every move to a final state and cleared once the
request message shows it; the poller redraws the ones still set. Existing rows start
cleared: their messages were drawn (or given up on) by the version that finished them,
and an upgrade must not redraw the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reboot_requests",
        sa.Column("message_redraw_due", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        op.f("ix_reboot_requests_message_redraw_due"),
        "reboot_requests",
        ["message_redraw_due"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reboot_requests_message_redraw_due"), table_name="reboot_requests")
    with op.batch_alter_table("reboot_requests") as batch:
        batch.drop_column("message_redraw_due")

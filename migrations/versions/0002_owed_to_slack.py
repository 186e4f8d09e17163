"""What a finished request still owes Slack, so that it is posted on a later tick.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``message_redraw_due`` is set by every move to a final state and cleared once the
request message shows it; ``notify_end_due`` is set when an executed request finishes
with a notify channel configured and cleared once the channel was told how it ended.
The poller posts what is still set. Existing rows start cleared: their messages were
handled by the version that finished them, and an upgrade must not post the history
again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("message_redraw_due", "notify_end_due")


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column(
            "reboot_requests",
            sa.Column(column, sa.Boolean(), server_default=sa.false(), nullable=False),
        )
        op.create_index(op.f(f"ix_reboot_requests_{column}"), "reboot_requests", [column])


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(op.f(f"ix_reboot_requests_{column}"), table_name="reboot_requests")
    with op.batch_alter_table("reboot_requests") as batch:
        for column in COLUMNS:
            batch.drop_column(column)

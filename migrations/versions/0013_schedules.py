"""Scheduled reboots and maintenance windows (docs/PRODUCT.md §5.10).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

A request may now wait in the new ``scheduled`` state (a plain string, no constraint to
change) until ``scheduled_for``, and roll out only inside its ``window``; the reminder
is posted once (``reminded_at``), and a rollout paused because its window closed resumes
at ``window_reopens_at``. Existing requests have none of these: they run now, any time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMES = ("scheduled_for", "scheduled_at", "reminded_at", "window_reopens_at")


def upgrade() -> None:
    for name in _TIMES:
        op.add_column("reboot_requests", sa.Column(name, sa.DateTime(timezone=True)))
    op.add_column("reboot_requests", sa.Column("window", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("reboot_requests") as batch:
        batch.drop_column("window")
        for name in reversed(_TIMES):
            batch.drop_column(name)

"""Rolling reboots: the rollout on the request, the wave on each instance (docs/PRODUCT.md §5.8).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10

Existing requests were rebooted all at once: they read as one wave (``rollout_waves``
1, every instance in wave 1), with no canary, batch or error budget. ``agent`` holds
the health gate's finding (docs/PRODUCT.md §5.9): null when no gate applied.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _request_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("rollout_waves", sa.Integer(), server_default="1", nullable=False),
        sa.Column("rollout_canary", sa.Integer(), nullable=True),
        sa.Column("rollout_batch", sa.Integer(), nullable=True),
        sa.Column("rollout_max_errors", sa.Integer(), nullable=True),
        sa.Column("pause_after_wave", sa.Integer(), nullable=True),
        sa.Column("stop_reason", sa.String(length=20), nullable=True),
        sa.Column("stopped_by", sa.String(length=64), nullable=True),
        sa.Column("paused_by", sa.String(length=64), nullable=True),
    )


def upgrade() -> None:
    for column in _request_columns():
        op.add_column("reboot_requests", column)
    op.add_column(
        "reboot_instances",
        sa.Column("wave", sa.Integer(), server_default="1", nullable=False),
    )
    op.add_column("reboot_instances", sa.Column("agent", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reboot_instances") as batch:
        batch.drop_column("wave")
        batch.drop_column("agent")
    with op.batch_alter_table("reboot_requests") as batch:
        for column in _request_columns():
            batch.drop_column(column.name)

"""How many real reboot calls each instance was sent, recorded before each call.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08

A lost answer is resolved by describing the instance and, when it has not restarted,
sending the call once more (docs/decisions/0003). ``reboot_calls`` bounds that at two per
instance and request across crashes and replicas. An existing row whose call was already
recorded as sent counts one call, so an upgrade in the middle of a reboot still allows
at most one more.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reboot_instances",
        sa.Column("reboot_calls", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute("UPDATE reboot_instances SET reboot_calls = 1 WHERE reboot_sent_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("reboot_instances") as batch:
        batch.drop_column("reboot_calls")

"""When an instance's second reboot call was recorded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

ECSBOT_REBOOT_TIMEOUT counts from the latest call: a second call sent late (after a
lost answer, with every poller down for a while) still gets the whole timeout, while
the completion rule keeps counting from the first call (docs/decisions/0003). Existing
rows have none: they keep the first call's timeout, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reboot_instances", sa.Column("reboot_resent_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("reboot_instances") as batch:
        batch.drop_column("reboot_resent_at")

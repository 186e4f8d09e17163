"""When an instance's first reboot call was first refused before it reached ECS.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

A first call throttled (or its connection refused) beyond the client's retries never
reached ECS: it is tried again each poll instead of ending the instance failed, until
ECSBOT_REBOOT_TIMEOUT has passed since the first refusal, which this column keeps.
Existing rows have none: nothing of theirs is waiting to be tried again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reboot_instances", sa.Column("unsent_since", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("reboot_instances") as batch:
        batch.drop_column("unsent_since")

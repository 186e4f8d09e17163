"""The account each instance of a request belongs to (several accounts, §5.13).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

With ``ECSBOT_ACCOUNTS`` the bot serves several accounts and signs each instance's calls
in its own account. Every existing row was made with one account, the bot's own
identity, which is named ``default``: the server default backfills it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reboot_instances",
        sa.Column("account", sa.String(31), nullable=False, server_default="default"),
    )


def downgrade() -> None:
    with op.batch_alter_table("reboot_instances") as batch:
        batch.drop_column("account")

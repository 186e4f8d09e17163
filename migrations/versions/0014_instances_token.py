"""A token that changes with every write to a request's instances (docs/decisions/0015).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

``reboot_requests.instances_token`` is set anew, at random, by every statement that
writes the request's instance rows, in the same transaction; with the request's
``version`` it keys the instances a process has already read, so the poller's step
reads a request's instance rows again only once they changed. Existing requests start
with an empty token: the first write gives them one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reboot_requests",
        sa.Column("instances_token", sa.String(32), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("reboot_requests") as batch:
        batch.drop_column("instances_token")

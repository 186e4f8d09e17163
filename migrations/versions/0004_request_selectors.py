"""The selectors a request was made with (``history --json``'s ``selectors``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

``tag:KEY=VALUE`` and ``name:PATTERN`` as typed, a JSON list. What they matched is
frozen in the request's instance rows at preview, so this column is a record of how the
instances were picked, never re-resolved. Existing rows were picked by id: ``[]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reboot_requests",
        sa.Column("selectors", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("reboot_requests") as batch:
        batch.drop_column("selectors")

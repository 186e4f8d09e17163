"""Four-eyes approval, the reason, and retries (docs/PRODUCT.md §6.1, §6.2).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10

The request row gains its ``--reason``, the approvals it needs (fixed at the preview),
when its wait for approvals ends, who rejected it, and the two ends of a retry
(``retry_of`` on the new request, ``retried_by_request`` on the old one, set once). Each
approval is a row of ``approvals``, unique per (request, user), so a double click
records one. Timestamps are ``DateTime(timezone=True)``, as in 0001. Existing
requests need no approval (``approvals_needed`` 0) and have no
reason, exactly as they ran.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NULLABLE_COLUMNS = (
    ("reason", sa.Text()),
    ("approval_expires_at", sa.DateTime(timezone=True)),
    ("rejected_by", sa.String(length=64)),
    ("rejected_at", sa.DateTime(timezone=True)),
    ("retry_of", sa.String(length=32)),
    ("retried_by_request", sa.String(length=32)),
)


def upgrade() -> None:
    for name, type_ in _NULLABLE_COLUMNS:
        op.add_column("reboot_requests", sa.Column(name, type_, nullable=True))
    op.add_column(
        "reboot_requests",
        sa.Column("approvals_needed", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reboot_requests.id"],
            name=op.f("fk_approvals_request_id_reboot_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("request_id", "user", name=op.f("uq_approvals_request_id_user")),
    )
    op.create_index(op.f("ix_approvals_request_id"), "approvals", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_approvals_request_id"), table_name="approvals")
    op.drop_table("approvals")
    with op.batch_alter_table("reboot_requests") as batch:
        batch.drop_column("approvals_needed")
        for name, _type in reversed(_NULLABLE_COLUMNS):
            batch.drop_column(name)

"""Several accounts (§5.13): the account of each instance of a request, and the account
a role binding is scoped to.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

With ``ECSBOT_ACCOUNTS`` the bot serves several accounts and signs each instance's calls
in its own account. Every existing row was made with one account, the bot's own
identity, which is named ``default``: the server default backfills it. A binding may
now be scoped to one account (``""``: every account, which every existing binding keeps);
its unique key gains the account, so one person can hold the same role in two accounts.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_OLD_KEY = ["subject", "role", "region", "tag_key", "tag_value"]


def upgrade() -> None:
    op.add_column(
        "reboot_instances",
        sa.Column("account", sa.String(31), nullable=False, server_default="default"),
    )
    # Batch mode: SQLite changes a constraint by copying the table.
    with op.batch_alter_table("role_bindings") as batch:
        batch.add_column(sa.Column("account", sa.String(31), nullable=False, server_default=""))
        batch.drop_constraint(op.f("uq_role_bindings_subject_role_region_tag_key_tag_value"))
        batch.create_unique_constraint(
            op.f("uq_role_bindings_subject_role_region_tag_key_tag_value_account"),
            [*_OLD_KEY, "account"],
        )


def downgrade() -> None:
    with op.batch_alter_table("role_bindings") as batch:
        batch.drop_constraint(
            op.f("uq_role_bindings_subject_role_region_tag_key_tag_value_account")
        )
        batch.drop_column("account")
        batch.create_unique_constraint(
            op.f("uq_role_bindings_subject_role_region_tag_key_tag_value"), _OLD_KEY
        )
    with op.batch_alter_table("reboot_instances") as batch:
        batch.drop_column("account")

"""What happened to an instance's reboot, as a value.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

The bot used to write its own English into ``reboot_instances.message``; it now records
what happened (``bot.domain.model.Happened``) and keeps in ``message`` only the ECS
adapter's sentence for the API code, the words being put together when shown. Existing
rows keep ``happened`` null: their ``message`` already holds the whole sentence as it
was shown then, and a null ``happened`` shows it as it is, so old requests read exactly
as before. (Parsing those sentences back into values would guess, and several of them
were wrong about lost answers anyway.)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reboot_instances", sa.Column("happened", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("reboot_instances") as batch:
        batch.drop_column("happened")

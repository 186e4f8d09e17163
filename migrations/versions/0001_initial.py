"""Initial schema: reboot requests and their instances, role bindings, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Hand-reviewed. Timestamps are ``DateTime(timezone=True)`` here; the models use
``bot.db.types.UtcDateTime``, which is that type plus UTC normalisation in Python, so
migrations never import application code. Defaults that matter to raw inserts (a
request's ``version``, an instance's ``outcome``, empty binding scopes) are server
defaults, identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reboot_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("force", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("command_text", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("notify_ts", sa.String(length=32), nullable=True),
        sa.Column("permalink", sa.String(length=512), nullable=True),
        sa.Column("progress_text", sa.String(length=255), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reboot_requests")),
    )
    op.create_index(op.f("ix_reboot_requests_state"), "reboot_requests", ["state"])
    op.create_index(op.f("ix_reboot_requests_created_at"), "reboot_requests", ["created_at"])

    op.create_table(
        "reboot_instances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("zone", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("tags", sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("verdict_code", sa.String(length=255), nullable=True),
        sa.Column("verdict_message", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("api_request_id", sa.String(length=64), nullable=True),
        sa.Column("reboot_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reboot_acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_time_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_leaving_running", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_outcome", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reboot_requests.id"],
            name=op.f("fk_reboot_instances_request_id_reboot_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reboot_instances")),
        sa.UniqueConstraint(
            "request_id",
            "region",
            "instance_id",
            name=op.f("uq_reboot_instances_request_id_region_instance_id"),
        ),
    )
    op.create_index(op.f("ix_reboot_instances_request_id"), "reboot_instances", ["request_id"])

    op.create_table(
        "role_bindings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=64), server_default="", nullable=False),
        sa.Column("tag_key", sa.String(length=128), server_default="", nullable=False),
        sa.Column("tag_value", sa.String(length=128), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_bindings")),
        sa.UniqueConstraint(
            "subject",
            "role",
            "region",
            "tag_key",
            "tag_value",
            name=op.f("uq_role_bindings_subject_role_region_tag_key_tag_value"),
        ),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_request_id"), "audit_log", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_request_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("role_bindings")
    op.drop_index(op.f("ix_reboot_instances_request_id"), table_name="reboot_instances")
    op.drop_table("reboot_instances")
    op.drop_index(op.f("ix_reboot_requests_created_at"), table_name="reboot_requests")
    op.drop_index(op.f("ix_reboot_requests_state"), table_name="reboot_requests")
    op.drop_table("reboot_requests")

"""The SQL audit log: append-only by construction."""

from __future__ import annotations

from bot.db.repositories import AuditRepository


def test_audit_is_append_only() -> None:
    public = {name for name in dir(AuditRepository) if not name.startswith("_")}
    assert public == {"append", "list"}

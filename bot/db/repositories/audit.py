"""The audit trail."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from bot.db.repositories.source import ConnectionSource
from bot.db.tables import AuditLogRow

_AUDIT = cast(Table, AuditLogRow.__table__)


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail."""

    id: int
    at: datetime
    actor: str
    action: str
    request_id: str | None
    detail: Mapping[str, Any]


# Built once: a click appends its line before the ack.
_APPEND = insert(_AUDIT)


class AuditRepository:
    """The append-only audit trail: there is deliberately no update or delete."""

    def __init__(self, session: ConnectionSource) -> None:
        self._session = session

    def append(
        self,
        at: datetime,
        actor: str,
        action: str,
        request_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one event. ``actor`` is a Slack user id, ``cli:<os user>`` or
        ``system``; ``detail`` must be JSON-serialisable."""
        self._connection().execute(
            _APPEND,
            {
                "at": at,
                "actor": actor,
                "action": action,
                "request_id": request_id,
                "detail": dict(detail or {}),
            },
        )

    def list(self, request_id: str | None = None, limit: int = 100) -> builtins.list[AuditEntry]:
        """The latest ``limit`` entries (of one request, if given), oldest first so
        they read as a story."""
        query = select(_AUDIT).order_by(_AUDIT.c.id.desc()).limit(limit)
        if request_id is not None:
            query = query.where(_AUDIT.c.request_id == request_id)
        rows = builtins.list(self._connection().execute(query))
        rows.reverse()
        return [
            AuditEntry(
                id=row.id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                request_id=row.request_id,
                detail=dict(row.detail),
            )
            for row in rows
        ]

    def _connection(self) -> Connection:
        return self._session.connection()

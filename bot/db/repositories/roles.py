"""Role bindings."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.db.repositories.rows import rowcount
from bot.db.repositories.source import ConnectionSource
from bot.db.tables import RoleBindingRow
from bot.domain.model import Role
from bot.domain.policy import Binding

_BINDINGS = cast(Table, RoleBindingRow.__table__)
# The columns that make a binding unique (and its unique constraint).
_BINDING_KEY = ("subject", "role", "region", "tag_key", "tag_value", "account")


@dataclass(frozen=True)
class BindingRecord:
    """A stored role binding with the Slack user (or ``cli:<os user>``) who granted it
    and when."""

    binding: Binding
    created_by: str
    created_at: datetime


class RoleRepository:
    """Role bindings. Read at every authorization decision, so a grant or revoke
    takes effect at once (docs/PRODUCT.md §5.2)."""

    def __init__(self, session: ConnectionSource) -> None:
        self._session = session

    def grant(self, binding: Binding, *, by: str, now: datetime) -> bool:
        """Add the binding; False when the very same binding already existed.

        An ``INSERT … ON CONFLICT DO NOTHING``, so two admins granting the same thing
        at once never fail: one gets True, the other False, and one row exists.
        """
        if binding.tag_value and not binding.tag_key:
            raise ValueError("a tag value needs a tag key")
        values = {**_binding_key(binding), "created_by": by, "created_at": now}
        connection = self._connection()
        dialect = connection.dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(_BINDINGS).values(values)
        elif dialect == "sqlite":
            statement = sqlite.insert(_BINDINGS).values(values)
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise NotImplementedError(f"role bindings are not supported on {dialect}")
        # RETURNING rather than rowcount: with an implicit RETURNING of the primary key
        # psycopg reports rowcount -1. A skipped row returns nothing.
        inserted = connection.execute(
            statement.on_conflict_do_nothing(index_elements=builtins.list(_BINDING_KEY)).returning(
                _BINDINGS.c.id
            )
        ).first()
        return inserted is not None

    def revoke(self, binding: Binding) -> bool:
        """Remove exactly that binding (same subject, role and scope); False when there
        was nothing to remove. Broader or narrower bindings stay."""
        key = _binding_key(binding)
        result = self._connection().execute(
            delete(_BINDINGS).where(*(_BINDINGS.c[name] == key[name] for name in _BINDING_KEY))
        )
        return rowcount(result) > 0

    def bindings_with_groups(self, user_id: str) -> builtins.list[Binding]:
        """The bindings of ``user_id`` and of every user group (``S…``), by id (the order
        they were granted): an authorization decision in one statement (it runs before
        the ack of every command and click)."""
        rows = self._connection().execute(_BINDINGS_WITH_GROUPS, {"user_id": user_id})
        return [_to_binding(row) for row in rows]

    def list_all(self) -> builtins.list[Binding]:
        """Every binding, by subject then role and scope (``roles list``)."""
        return [record.binding for record in self.list_records()]

    def list_records(self) -> builtins.list[BindingRecord]:
        """Every binding with who granted it and when, in :meth:`list_all`'s order."""
        rows = self._connection().execute(
            select(_BINDINGS).order_by(*(_BINDINGS.c[name] for name in _BINDING_KEY))
        )
        return [
            BindingRecord(_to_binding(row), created_by=row.created_by, created_at=row.created_at)
            for row in rows
        ]

    def _connection(self) -> Connection:
        return self._session.connection()


# Built once: it runs before the ack of every command and click that needs a role, and
# building a statement costs more than running it on SQLite.
_IS_GROUP = _BINDINGS.c.subject.startswith("S")
_BINDINGS_WITH_GROUPS = (
    select(_BINDINGS)
    .where((_BINDINGS.c.subject == bindparam("user_id")) | _IS_GROUP)
    .order_by(_BINDINGS.c.id)
)


def _binding_key(binding: Binding) -> dict[str, str]:
    return {
        "subject": binding.subject,
        "role": binding.role.value,
        "region": binding.region,
        "tag_key": binding.tag_key,
        "tag_value": binding.tag_value,
        "account": binding.account,
    }


def _to_binding(row: Row[Any]) -> Binding:
    return Binding(
        subject=row.subject,
        role=Role(row.role),
        region=row.region,
        tag_key=row.tag_key,
        tag_value=row.tag_value,
        account=row.account,
    )

"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in time, stored as UTC and always read back timezone-aware in UTC.

    PostgreSQL keeps the offset (``timestamptz``); SQLite stores text without one, so
    values are normalised to UTC before they are written and tagged UTC when read.
    Naive datetimes are refused: a naive value is a bug (local time or a forgotten
    ``tz=UTC``) that would silently shift every deadline compared against it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass tz-aware UTC")
        utc = value.astimezone(UTC)
        # SQLite's DATETIME formatter ignores tzinfo; strip it so the stored text is the
        # UTC wall clock, which also keeps text comparisons (``<= :now``) in order.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


__all__ = ["UtcDateTime"]

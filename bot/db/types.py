"""Column types shared by the tables."""

from __future__ import annotations

from collections.abc import Callable
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

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # SQLite hands back the stored text: parsed straight to an aware UTC datetime, a
        # fifth of the cost of SQLAlchemy's parse followed by ``replace`` (four columns
        # an instance row, 10,000 rows a poll tick).
        if dialect.name == "sqlite":
            return _utc_from_sqlite_text
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return _as_utc(value)


def utc_from_stored(value: Any) -> datetime | None:
    """A ``UtcDateTime`` column's value as the driver hands it back, read without the
    type's own processing (SQLite's text or PostgreSQL's datetime): aware UTC."""
    return _utc_from_sqlite_text(value)


def _utc_from_sqlite_text(value: Any) -> datetime | None:
    """Text as SQLAlchemy's SQLite ``DATETIME`` stores it (``2026-12-02 12:00:00.000000``,
    the UTC wall clock, see ``process_bind_param``) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):  # a driver configured to parse them itself
        return _as_utc(value)
    if not isinstance(value, str):
        raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:
        # Text that already carries an offset (written by hand): honour it.
        return _as_utc(datetime.fromisoformat(value))


def _as_utc(value: datetime) -> datetime:
    """A naive value read back is the UTC wall clock (what was written); an aware one is
    converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = ["UtcDateTime", "utc_from_stored"]

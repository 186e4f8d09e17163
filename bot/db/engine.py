"""Engines and sessions, built on demand by the composition root (never at import)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

# How long a SQLite writer waits for another writer before failing with "database is
# locked"; the poller and the Slack handlers write from different threads.
SQLITE_BUSY_TIMEOUT_MS = 5000


def is_sqlite(url: str) -> bool:
    """True for any ``sqlite`` URL, whatever its driver (``sqlite+pysqlite://…``)."""
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` tuned for this bot's two supported databases.

    SQLite: WAL (readers never block the writer), a busy timeout, foreign keys on (off
    by default in SQLite, and ``ON DELETE CASCADE`` relies on them) and sharing
    connections across threads (the pool hands each to one thread at a time).
    PostgreSQL: connections are pinged before use so a restarted server or a dropped
    idle connection costs a reconnect, not a failed request.
    """
    # The JSON columns (an instance's tags, read 10,000 rows a poll tick) go through
    # orjson, already here for the ECS answers: a fifth of the stdlib's cost a row.
    json_codec = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **json_codec)
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(url, pool_pre_ping=True, **json_codec)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # PRAGMAs are per connection (journal_mode persists in the file, but setting it
    # again is cheap and covers a fresh file). They must run outside a transaction.
    cursor = dbapi_connection.cursor()
    try:
        # An in-memory database answers "memory" and stays as it is: harmless.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for :class:`bot.db.unit_of_work.UnitOfWork`.

    ``expire_on_commit=False``: repositories hand out frozen snapshots, and nothing
    should reload rows lazily after the unit of work has committed.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "is_sqlite", "make_engine", "make_session_factory"]

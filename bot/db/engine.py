"""Engines and sessions, built on demand by the composition root (never at import)."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Self

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from bot.priority import urgent

# How long a SQLite writer waits for another writer before failing with "database is
# locked"; the poller and the Slack handlers write from different threads.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Connections per engine (see make_engine).
SQLITE_POOL_SIZE = 40
POSTGRES_POOL_SIZE = 12
POSTGRES_POOL_OVERFLOW = 28


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
        connect_args = {"check_same_thread": False, "factory": _serialized_writes()}
        engine = create_engine(
            url,
            connect_args=connect_args,
            # A SQLite connection is a file handle: keep one for every thread that may
            # want one at once, so a burst never opens (and PRAGMAs) connections.
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
            **json_codec,
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        # The HTTP threads (16), the job pool (16) and the poller's workers (4) may all
        # hold a connection at once: kept ones for a busy moment's usual need, more
        # opened (and closed) beyond it, rather than acks waiting for a free one.
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_POOL_OVERFLOW,
        **json_codec,
    )


# --- SQLite: one writer at a time, queued in the process ------------------------------------
#
# SQLite lets one transaction write at a time; a second writer is told "busy", and
# SQLite's busy handler sleeps (1, 2, 5, 10, 15, 20, 25 ms, …) before it tries again,
# however soon the first one commits. With twenty clicks recorded at once, each ack
# waited out those sleeps. The writers of one process therefore queue on a lock of
# their own, taken at a transaction's first write and given back once it has
# committed or rolled back: the next writer starts the moment the last one is done.
# Other processes (a second bot on the same file, the CLI) still meet SQLite's busy
# handler, as before; so does a writer that waited for the lock as long as SQLite would
# have (it goes on without it).

_WRITES = ("insert", "update", "delete", "replace")

# PRAGMA synchronous levels (WAL mode). FULL: a commit returns once it is on disk, so a
# reboot call recorded before it goes out is still recorded after a power loss
# (docs/decisions/0003). NORMAL: a commit is written to the log but not synced; a power
# loss (not a crash of the process) may undo it and every later unsynced one, never an
# earlier synced one, and never corrupts. Units of work whose loss is harmless (a
# poller's lease hand-over) ask for it: docs/decisions/0017.
SYNC_DURABLE = "FULL"
SYNC_DEFERRED = "NORMAL"


class _WriteQueue:
    """The write lock of one database, which a thread answering a Slack request
    (``bot.priority.urgent``) gets before the others waiting for it.

    Each release wakes one waiter, urgent ones first, not all of them: twenty clicks
    queued for the lock would otherwise all wake at every commit, and all but one go
    back to sleep, each time taking the interpreter lock from the acks being answered.
    """

    def __init__(self) -> None:
        lock = threading.Lock()
        self._urgent_turn = threading.Condition(lock)
        self._turn = threading.Condition(lock)
        self._held = False
        self._urgent_waiting = 0

    def acquire(self, timeout: float) -> bool:
        with self._turn:
            if urgent():
                self._urgent_waiting += 1
                try:
                    got = self._urgent_turn.wait_for(lambda: not self._held, timeout=timeout)
                finally:
                    self._urgent_waiting -= 1
            else:
                got = self._turn.wait_for(
                    lambda: not self._held and not self._urgent_waiting, timeout=timeout
                )
            if got:
                self._held = True
            return got

    def release(self) -> None:
        with self._turn:
            self._held = False
            # A woken waiter that finds the lock taken again (by a writer that never had
            # to wait) waits on; that writer's release wakes the next one.
            if self._urgent_waiting:
                self._urgent_turn.notify()
            else:
                self._turn.notify()


def _serialized_writes() -> type[sqlite3.Connection]:
    """A ``sqlite3.Connection`` class whose connections share one write lock (one class
    per engine, so two databases never wait for each other)."""
    lock = _WriteQueue()
    wait = SQLITE_BUSY_TIMEOUT_MS / 1000

    class _WriteCursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> Self:
            _before(self.connection, sql)
            return super().execute(sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> Self:
            _before(self.connection, sql)
            return super().executemany(sql, parameters)

    class _Connection(sqlite3.Connection):
        _holds_write_lock = False
        _sync_deferred = False

        def cursor(self, factory: Any = _WriteCursor) -> Any:
            return super().cursor(factory)

        def take_write_lock(self) -> None:
            if not self._holds_write_lock:
                self._holds_write_lock = lock.acquire(wait)

        def sync_next_transaction(self, *, durable: bool) -> None:
            """Whether the next transaction's commit waits for the disk: a durable one
            does (``SYNC_DURABLE``), a deferred one does not (``SYNC_DEFERRED``,
            docs/decisions/0017). Deferring lasts one transaction: its commit, rollback or
            close restores durability, and a restore that failed there is made here, by
            the next unit. Only between transactions: SQLite refuses the change inside
            one."""
            if self._sync_deferred == (not durable):
                return  # already at that level
            if self.in_transaction:
                raise RuntimeError("the sync level is set before a transaction's first statement")
            self.execute(f"PRAGMA synchronous={SYNC_DURABLE if durable else SYNC_DEFERRED}")
            self._sync_deferred = not durable

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._give_back()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._give_back()

        def close(self) -> None:
            # A closed connection keeps no setting to restore.
            self._sync_deferred = False
            try:
                super().close()
            finally:
                self._give_back()

        def _give_back(self) -> None:
            try:
                # Never inside a transaction (a commit that failed: its rollback comes
                # here next), and never raising over the error being handled: should
                # this fail, the flag stays set and the next unit restores it before
                # its first statement.
                if self._sync_deferred and not self.in_transaction:
                    self.execute(f"PRAGMA synchronous={SYNC_DURABLE}")
                    self._sync_deferred = False
            except sqlite3.Error:
                pass
            finally:
                if self._holds_write_lock:
                    self._holds_write_lock = False
                    lock.release()

    return _Connection


def _before(connection: Any, sql: str) -> None:
    if sql.lstrip()[:7].lower().startswith(_WRITES):
        connection.take_write_lock()


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
        # Said, not assumed: a build of SQLite may default WAL databases to NORMAL.
        cursor.execute(f"PRAGMA synchronous={SYNC_DURABLE}")
    finally:
        cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for :class:`bot.db.unit_of_work.UnitOfWork`.

    ``expire_on_commit=False``: repositories hand out frozen snapshots, and nothing
    should reload rows lazily after the unit of work has committed.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "SYNC_DEFERRED",
    "SYNC_DURABLE",
    "is_sqlite",
    "make_engine",
    "make_session_factory",
]

"""The unit of work: one transaction, with the repositories that work inside it."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.repositories import (
    AlarmRepository,
    AuditRepository,
    EventRepository,
    LeaseRepository,
    RequestRepository,
    RoleRepository,
)
from bot.domain.errors import StoreUnavailable


class UnitOfWork:
    """One database transaction for one use case.

    ::

        with UnitOfWork(session_factory) as uow:
            if uow.requests.transition(request_id, [RequestState.PREVIEWED], ...):
                uow.audit.append(now, user, "confirm", request_id)
            uow.commit()

    Nothing is durable until :meth:`commit`; leaving the block without it (an
    exception, an early return) rolls everything back. Repositories never commit, so a
    use case's writes land together or not at all. ``requests``, ``leases``, ``roles``
    and ``audit`` exist only inside the block. One unit of work per use case and thread;
    they are cheap (a pooled connection).

    ``durable=False``: on SQLite the commit does not wait for the disk; only for units
    whose loss in a power cut is harmless (docs/decisions/0017).
    """

    requests: RequestRepository
    leases: LeaseRepository
    roles: RoleRepository
    audit: AuditRepository
    alarms: AlarmRepository
    events: EventRepository

    def __init__(self, database: Engine | sessionmaker[Session], *, durable: bool = True) -> None:
        # A bare connection, not an ORM Session: the repositories speak Core only
        # (docs/decisions/0006), and a Session's bookkeeping cost more CPU than the
        # statements of a short unit (every ack and every poller step runs a few).
        engine = database if isinstance(database, Engine) else database.kw["bind"]
        self._engine: Engine = engine
        self._durable = durable
        self._session: _UnitConnection | None = None

    def __enter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this UnitOfWork is already in use; make a new one")
        session = _UnitConnection(self._engine, self._durable)
        self._session = session
        self.requests = RequestRepository(session)
        self.leases = LeaseRepository(session)
        self.roles = RoleRepository(session)
        self.audit = AuditRepository(session)
        self.alarms = AlarmRepository(session)
        self.events = EventRepository(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self._current()
        self._session = None
        # Repositories kept past the block would act on a closed session: drop them
        # so misuse fails loudly (AttributeError) instead.
        del self.requests, self.leases, self.roles, self.audit, self.alarms, self.events
        # Closing undoes whatever was not committed, and then the pool does not roll back a
        # second time (it does when the transaction was ended before). A connection that
        # is gone fails here too: the original error below says so.
        with contextlib.suppress(OperationalError, InterfaceError):
            session.close()
        # A database that went away becomes the domain's error, so every surface can
        # answer "try again" instead of failing with a driver's traceback.
        if isinstance(exc, OperationalError | InterfaceError):
            raise StoreUnavailable(
                "The bot's database is not answering; nothing was changed. Try again shortly."
            ) from exc

    def commit(self) -> None:
        """Make this unit's writes durable; later writes in the block start afresh."""
        try:
            self._current().commit()
        except (OperationalError, InterfaceError) as error:
            raise StoreUnavailable(
                "The bot's database is not answering; nothing was changed. Try again shortly."
            ) from error

    def rollback(self) -> None:
        """Undo this unit's uncommitted writes (leaving the block does it too)."""
        self._current().rollback()

    def _current(self) -> _UnitConnection:
        if self._session is None:
            raise RuntimeError("use the UnitOfWork inside a `with` block")
        return self._session


class _UnitConnection:
    """The unit's one connection, taken from the pool at its first statement (a unit that
    never reaches the database holds none); its transaction begins there too."""

    def __init__(self, engine: Engine, durable: bool) -> None:
        self._engine = engine
        self._durable = durable
        self._connection: Connection | None = None

    def connection(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect()
            # SQLite's connections (bot.db.engine) sync each commit, or not; a PostgreSQL
            # unit is always durable (docs/decisions/0017).
            sync = getattr(connection.connection.dbapi_connection, "sync_next_transaction", None)
            if sync is not None:
                sync(durable=self._durable)
            self._connection = connection
        return self._connection

    def commit(self) -> None:
        if self._connection is not None:
            self._connection.commit()

    def rollback(self) -> None:
        if self._connection is not None:
            self._connection.rollback()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class UnitOfWorkMaker(Protocol):
    """What ``bootstrap.unit_of_work_factory`` gives: a ``ports.UnitOfWorkFactory`` whose
    units are these (with the event and alarm repositories the ports leave out)."""

    def __call__(self, *, durable: bool = True) -> UnitOfWork: ...


__all__ = ["UnitOfWork", "UnitOfWorkMaker"]

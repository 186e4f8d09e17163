"""The store contract: the promises the use cases rely on from ``RequestStore``,
``LeaseStore``, ``RoleStore``, ``AuditLog`` and ``AlarmStore``, written once and kept by
every store.

Each test here takes ``store`` and runs three times: on the in-memory fake
(``bot.testing.memory``, what the fast use-case tests stand on), on SQLite and on
PostgreSQL (when ``ECSBOT_TEST_POSTGRES_URL`` is set), both through the real migrations.
What only the SQL stores do (migrations, column types, locks seen from the server) is
tested in ``tests/integration/db/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db.engine import make_engine, make_session_factory
from bot.db.unit_of_work import UnitOfWork
from bot.testing.memory import MemoryDatabase
from tests.fixtures_db import DATABASES, migrated_database
from tests.integration.store.support import StoreFactory


@pytest.fixture(params=["memory", *DATABASES])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes a fresh unit of work per call, on one store: memory, SQLite or PostgreSQL."""
    if request.param == "memory":
        yield MemoryDatabase().uow
        return
    with migrated_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        try:
            sessions = make_session_factory(engine)
            yield lambda: UnitOfWork(sessions)
        finally:
            engine.dispose()

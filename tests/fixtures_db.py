"""Database fixtures: a fresh database per test on SQLite and (when configured)
PostgreSQL, brought to head through the real migrations, never ``create_all``.

Loaded from ``tests/conftest.py`` as a plugin. PostgreSQL runs only when
``ECSBOT_TEST_POSTGRES_URL`` is set (CI sets it); each test gets its own schema, so
tests never see each other's rows and need no cleanup beyond dropping it.

The same databases serve wider scopes (a module's shared bot, the soak) through the
context managers ``empty_database`` and ``migrated_database``, so there is one way
to make and drop a test database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import alembic_config, upgrade_to_head
from bot.db.unit_of_work import UnitOfWork

POSTGRES_URL_ENV = "ECSBOT_TEST_POSTGRES_URL"

UowFactory = Callable[[], UnitOfWork]
"""Makes a fresh :class:`UnitOfWork` per call, as the ``uow_factory`` fixture does."""


def _postgres_schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with every connection's ``search_path`` set to ``schema``."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""``params`` for a fixture that runs its tests once on each database."""


@contextmanager
def empty_database(kind: str, directory: Path) -> Iterator[str]:
    """An empty database of ``kind`` (``sqlite`` or ``postgres``) that lives as long as
    the ``with`` block: a new file in ``directory``, or a new schema on PostgreSQL that
    is dropped afterwards (skips the test when PostgreSQL is not configured)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'ecs-reboot-bot.db'}"
        return
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    schema = f"t_{secrets.token_hex(8)}"
    admin = create_engine(base_url, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield _postgres_schema_url(base_url, schema)
        finally:
            # Even when the block failed: a schema left behind would only pile up.
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def migrated_database(kind: str, directory: Path) -> Iterator[str]:
    """:func:`empty_database` upgraded to the latest migration."""
    with empty_database(kind, directory) as url:
        upgrade_to_head(url)
        yield url


OldInsert = tuple[str, Mapping[str, object] | Sequence[Mapping[str, object]]]
"""An ``INSERT`` written for an older revision's schema, and its parameters (a list of
them inserts a row each)."""


@contextmanager
def upgraded_from(
    database_url: str, revision: str, *old_inserts: OldInsert
) -> Iterator[UowFactory]:
    """The empty database at ``database_url`` migrated to ``revision``, given the rows
    of ``old_inserts``, then upgraded to head: the way a migration test sees what the upgrade
    does to data written before it. Yields a :class:`UnitOfWork` maker on one engine,
    disposed after the block.

    The rows go in as plain SQL, not through the models: the models describe the head,
    not ``revision``."""
    command.upgrade(alembic_config(database_url), revision)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for insert, parameters in old_inserts:
                connection.execute(text(insert), parameters)
        upgrade_to_head(database_url)
        sessions = make_session_factory(engine)
        yield lambda: UnitOfWork(sessions)
    finally:
        engine.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new schema on PostgreSQL."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """``database_url`` upgraded to the latest migration."""
    upgrade_to_head(database_url)
    return database_url


@pytest.fixture
def uow_factory(migrated_url: str) -> Iterator[UowFactory]:
    """Makes a fresh :class:`UnitOfWork` per call, all on one engine (disposed after
    the test, so PostgreSQL can drop the schema)."""
    engine = make_engine(migrated_url)
    sessions = make_session_factory(engine)
    try:
        yield lambda: UnitOfWork(sessions)
    finally:
        engine.dispose()

"""One running bot per test module and database, for suites of many small cases.

Starting the bot, the fakes and a migrated database costs ~0.3 s; the hardening
suites (test_malformed, test_security) have dozens of cases that each send a request
or two, so they share one ``Harness`` per module and database instead. Each test gets
it with the fakes' recordings cleared (``fresh``), and makes its own request and
users, so no test depends on another's leftovers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.db.migrate import upgrade_to_head
from bot.testing.stack import Harness
from tests.fixtures_db import POSTGRES_URL_ENV, _postgres_schema_url

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""``params`` for a module-scoped fixture that runs a suite on each database."""


@contextmanager
def migrated_database(kind: str, directory: Path) -> Iterator[str]:
    """A migrated database of ``kind`` (``sqlite`` or ``postgres``) that lives as long
    as the ``with`` block: a file in ``directory``, or a schema dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'ecs-reboot-bot.db'}"
        upgrade_to_head(url)
        yield url
        return
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    schema = f"t_{secrets.token_hex(8)}"
    admin = create_engine(base_url, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _postgres_schema_url(base_url, schema)
        upgrade_to_head(url)
        try:
            yield url
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def fresh(h: Harness) -> Harness:
    """``h`` with nothing in flight and the fakes' recordings and faults cleared."""
    h.settle()
    h.slack.reset()
    h.sim.calls.clear()
    h.sim.faults.clear()
    return h


def row_count(h: Harness, table: str) -> int:
    """Rows in one of the bot's tables, read with the bot's own engine."""
    assert table.isidentifier()
    with h.bot.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608

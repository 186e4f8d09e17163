"""One running bot per test module and database, for suites of many small cases.

Starting the bot, the fakes and a migrated database costs ~0.3 s; the hardening
suites (test_malformed, test_security) have dozens of cases that each send a request
or two, so they share one ``Harness`` per module and database instead. Each test gets
it with the fakes' recordings cleared (``fresh``), and makes its own request and
users, so no test depends on another's leftovers.
"""

from __future__ import annotations

from sqlalchemy import text

from bot.testing.stack import Harness


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

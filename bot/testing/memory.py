"""In-memory fakes of every port in :mod:`bot.services.ports`, so a use case runs in
milliseconds, with no database, Slack or ECS (cosmicpython's fakes, in the package so
tests, demos and benchmarks share them).

The fakes keep the ports' promises that use cases depend on, and record what happened
for tests to assert on::

    bot = memory_bot()
    bot.ecs.add_instance("cn-hangzhou", "i-1")
    request = bot.db.add_request(...)        # or run preview(bot.ctx, ...)
    poll_once(bot.ctx, bot.clock())
    assert bot.db.request(request.id).state is RequestState.SUCCEEDED
    assert bot.ecs.calls_of("reboot") == [...]

The fakes live in one module per job, and this module wires them together and
re-exports them, so ``from bot.testing.memory import X`` works for each:

- :mod:`bot.testing.memory_database`: :class:`MemoryDatabase` and
  :class:`MemoryUnitOfWork` (a write locks its row until the unit ends, as
  PostgreSQL's ``UPDATE`` does);
- :mod:`bot.testing.memory_stores`: the stores, held to the SQL stores' promises by
  the same tests (``tests/integration/store/``), over the tables and row locks of
  :mod:`bot.testing.memory_rows`;
- :mod:`bot.testing.fake_ecs`: :class:`FakeEcs`;
- :mod:`bot.testing.fake_presenter`: :class:`FakePresenter` and :class:`FakeGroups`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.services.context import Context, FlowConfig
from bot.simulator.clock import ManualClock
from bot.testing.fake_ecs import EcsCall, FakeEcs
from bot.testing.fake_presenter import FakeGroups, FakePresenter, PresenterCall
from bot.testing.memory_database import MemoryDatabase, MemoryUnitOfWork
from bot.testing.memory_rows import LOCK_WAIT_SECONDS, BindingKey, RowKey, StoredRequest
from bot.testing.memory_stores import (
    MemoryAlarmStore,
    MemoryAuditLog,
    MemoryRequestStore,
    MemoryRoleStore,
)

__all__ = [
    "LOCK_WAIT_SECONDS",
    "BindingKey",
    "EcsCall",
    "FakeEcs",
    "FakeGroups",
    "FakePresenter",
    "MemoryAlarmStore",
    "MemoryAuditLog",
    "MemoryBot",
    "MemoryDatabase",
    "MemoryRequestStore",
    "MemoryRoleStore",
    "MemoryUnitOfWork",
    "PresenterCall",
    "RowKey",
    "StoredRequest",
    "memory_bot",
]

# --- all of it ---------------------------------------------------------------------------------


@dataclass
class MemoryBot:
    """The use cases' :class:`Context` wired to the fakes, and the fakes themselves."""

    ctx: Context
    db: MemoryDatabase
    ecs: FakeEcs
    presenter: FakePresenter
    groups: FakeGroups
    clock: ManualClock


def memory_bot(
    config: FlowConfig | None = None,
    *,
    start: datetime | None = None,
    owner: str = "test-poller",
) -> MemoryBot:
    """A fresh set of fakes behind a ``Context`` (request ids ``r1``, ``r2``, …)."""
    db = MemoryDatabase()
    ecs = FakeEcs()
    presenter = FakePresenter()
    groups = FakeGroups()
    clock = ManualClock(start or datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    ids = (f"r{n}" for n in range(1, 1_000_000))
    ctx = Context(
        uow=db.uow,
        ecs=ecs,
        presenter=presenter,
        groups=groups,
        clock=clock,
        config=config or FlowConfig(),
        new_id=lambda: next(ids),
        owner=owner,
    )
    return MemoryBot(ctx=ctx, db=db, ecs=ecs, presenter=presenter, groups=groups, clock=clock)

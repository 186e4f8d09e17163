"""Which commits wait for the disk (docs/decisions/0017): on SQLite every unit of work is
durable (``PRAGMA synchronous=FULL``) unless it asks not to be, and a unit that asks
(``durable=False``, the poller's lease hand-over) leaves its connection durable again
however it ends. End to end, the commits that record reboot calls are durable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.db.engine import make_engine
from bot.db.migrate import upgrade_to_head
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import RequestState, Role
from tests.e2e.harness import OPERATOR, running_bot
from tests.integration.store.support import make_request

FULL, NORMAL = 2, 1


def _level(raw: Any) -> int:
    # The driver's own cursor: not a statement of the unit, and outside SQLAlchemy.
    return int(raw.execute("PRAGMA synchronous").fetchone()[0])


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        with UnitOfWork(engine) as uow:
            uow.requests.add(make_request("r1", state=RequestState.EXECUTING))
            uow.commit()
        yield engine
    finally:
        engine.dispose()


def _raw(uow: UnitOfWork) -> Any:
    return uow._current().connection().connection.dbapi_connection


def test_a_unit_is_durable_unless_it_asks(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        raw = _raw(uow)
        assert _level(raw) == FULL
        uow.commit()
    with UnitOfWork(engine, durable=False) as uow:
        raw = _raw(uow)
        assert _level(raw) == NORMAL
        uow.leases.release("r1", "nobody")
        uow.commit()
    assert _level(raw) == FULL, "the connection went back to the pool durable"


@pytest.mark.parametrize("ending", ["commit", "rollback", "error"])
def test_the_connection_is_durable_again_however_the_unit_ends(engine: Engine, ending: str) -> None:
    failing = pytest.raises(RuntimeError) if ending == "error" else nullcontext()
    with failing, UnitOfWork(engine, durable=False) as uow:
        raw = _raw(uow)
        uow.leases.release("r1", "nobody")
        assert _level(raw) == NORMAL
        if ending == "commit":
            uow.commit()
        elif ending == "error":
            raise RuntimeError("the step failed")
    assert _level(raw) == FULL


def test_the_level_cannot_change_inside_a_transaction(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        raw = _raw(uow)
        uow.leases.release("r1", "nobody")  # an UPDATE: the driver has begun
        with pytest.raises(RuntimeError, match="before a transaction"):
            raw.sync_next_transaction(durable=False)


def test_reboot_calls_are_recorded_durably_and_hand_overs_are_not(tmp_path: Path) -> None:
    """A whole reboot through the poller: every commit that wrote an instance row (the
    calls recorded before they go out, their answers, the outcomes) waited for the disk;
    the lease hand-overs, which write only the lease, did not."""
    url = f"sqlite:///{tmp_path / 'flow.db'}"
    upgrade_to_head(url)
    with running_bot(url) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        written: dict[int, list[str]] = {}
        commits: list[tuple[int, list[str]]] = []

        def seen(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                written.setdefault(id(conn), []).append(statement)

        def committed(conn: Any) -> None:
            raw = conn.connection.dbapi_connection
            commits.append((_level(raw), written.pop(id(conn), [])))

        event.listen(h.bot.engine, "before_cursor_execute", seen)
        event.listen(h.bot.engine, "commit", committed)
        request_id = h.confirmed(3)
        h.run_until_final(request_id)
        assert h.request(request_id).state is RequestState.SUCCEEDED

    instance_writes = [level for level, statements in commits if _writes_instances(statements)]
    hand_overs = [
        level
        for level, statements in commits
        if statements and all(_lease_only(s) for s in statements)
    ]
    assert instance_writes, "the reboot wrote instance rows"
    assert set(instance_writes) == {FULL}
    assert hand_overs, "the poller handed leases over"
    assert set(hand_overs) == {NORMAL}


def _writes_instances(statements: list[str]) -> bool:
    return any("reboot_instances" in s.split(" WHERE ")[0] for s in statements)


def _lease_only(statement: str) -> bool:
    head = statement.split(" WHERE ")[0]
    return (
        head.startswith("UPDATE reboot_requests SET") and "lease_" in head and "state" not in head
    )


def test_a_restore_that_failed_is_made_by_the_next_unit(engine: Engine) -> None:
    """Restoring after a deferred unit never raises over the error being handled; the
    next unit on that connection restores durability before its first statement."""
    with UnitOfWork(engine, durable=False) as uow:
        raw = _raw(uow)
        uow.leases.release("r1", "nobody")  # the driver has begun: no restore possible
        raw._give_back()  # what a failed commit's cleanup does, mid-transaction
        assert _level(raw) == NORMAL
        uow.commit()
    assert _level(raw) == FULL
    # Deferred, and left so (as if the restore after its transaction had failed):
    raw.sync_next_transaction(durable=False)
    assert _level(raw) == NORMAL
    # What the next unit on it does before its first statement.
    raw.sync_next_transaction(durable=True)
    assert _level(raw) == FULL

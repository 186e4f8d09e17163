"""SQLite writers of one process queue on the engine's own lock (docs/decisions/0010): a
writer waits for the one ahead without SQLite's busy sleeps, and a thread answering
Slack goes before the after-ack work waiting with it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from bot.db.engine import make_engine
from bot.priority import AckGate


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT)"))
    return engine


def _write(engine: Engine, who: str, gate: AckGate | None = None) -> None:
    def run() -> None:
        with engine.connect() as connection:
            connection.execute(text("INSERT INTO log (who) VALUES (:who)"), {"who": who})
            connection.commit()

    if gate is None:
        run()
    else:
        with gate.answering():
            run()


def test_an_ack_writer_goes_before_the_work_waiting_with_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    gate = AckGate()
    try:
        with engine.connect() as first:
            # The first writer holds the write lock (an uncommitted insert).
            first.execute(text("INSERT INTO log (who) VALUES ('first')"))
            job = threading.Thread(target=_write, args=(engine, "job"))
            job.start()
            time.sleep(0.2)  # the job is waiting for the lock now
            ack = threading.Thread(target=_write, args=(engine, "ack", gate))
            ack.start()
            time.sleep(0.2)  # and the ack too
            first.commit()
        job.join(timeout=10)
        ack.join(timeout=10)
        with engine.connect() as connection:
            order = list(connection.execute(text("SELECT who FROM log ORDER BY id")).scalars())
    finally:
        engine.dispose()
    assert order == ["first", "ack", "job"]


def test_a_waiting_writer_starts_as_soon_as_the_one_ahead_commits(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        with engine.connect() as first:
            first.execute(text("INSERT INTO log (who) VALUES ('first')"))
            waited: list[float] = []

            def second() -> None:
                _write(engine, "second")
                waited.append(time.monotonic())

            thread = threading.Thread(target=second)
            thread.start()
            time.sleep(0.3)
            committed = time.monotonic()
            first.commit()
        thread.join(timeout=10)
    finally:
        engine.dispose()
    # SQLite's own busy handler would sleep up to 100 ms between tries by now.
    [started] = waited
    assert started - committed < 0.05


def test_writers_queued_behind_one_all_get_through_acks_first(tmp_path: Path) -> None:
    """Each commit hands the lock to one waiter: none is left asleep with the lock free
    (it would wait out its 5 s timeout), and the acks still go first."""
    engine = _engine(tmp_path)
    gate = AckGate()
    writers = [
        threading.Thread(
            target=_write, args=(engine, f"{kind}{n}", gate if kind == "ack" else None)
        )
        for n in range(6)
        for kind in ("job", "ack")
    ]
    try:
        with engine.connect() as first:
            first.execute(text("INSERT INTO log (who) VALUES ('first')"))
            for writer in writers:
                writer.start()
            time.sleep(0.3)  # every writer is waiting for the lock now
            committed = time.monotonic()
            first.commit()
        for writer in writers:
            writer.join(timeout=10)
        finished = time.monotonic()
        with engine.connect() as connection:
            order = list(connection.execute(text("SELECT who FROM log ORDER BY id")).scalars())
    finally:
        engine.dispose()
    assert finished - committed < 2.0
    assert order[0] == "first"
    assert sorted(order[1:7]) == sorted(f"ack{n}" for n in range(6))
    assert sorted(order[7:]) == sorted(f"job{n}" for n in range(6))

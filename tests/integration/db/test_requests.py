"""What only the SQL ``RequestRepository`` does: column lists and types, datetimes as
the databases store them, the instance updates by field, and PostgreSQL's row lock
seen from the server. The promises every store keeps are in ``tests/integration/store/``."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from bot.db.engine import is_sqlite, make_engine
from bot.db.repositories.rows import (
    INSTANCE_COLUMNS,
    INSTANCE_FIELDS,
    REQUEST_COLUMNS,
    REQUEST_FIELDS,
)
from bot.db.tables import RebootInstanceRow, RebootRequestRow
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState
from bot.services.ports import InstanceUpdate
from tests.fixtures_db import UowFactory
from tests.integration.store.support import (
    T0,
    add,
    make_request,
)


def test_the_column_lists_cover_the_tables_and_the_update_values() -> None:
    """One column list per row drives every statement and mapper: it must name every
    column the table has, and the typed updates exactly the writable ones."""
    instance_table = {c.name for c in RebootInstanceRow.__table__.columns}
    request_table = {c.name for c in RebootRequestRow.__table__.columns}
    assert {*INSTANCE_COLUMNS, "id", "request_id"} == instance_table
    bookkeeping = {"next_poll_at", "lease_owner", "lease_expires_at", "version", "instances_token"}
    assert {*REQUEST_COLUMNS, *bookkeeping} == request_table
    assert [f.name for f in dataclasses.fields(InstanceUpdate)] == list(INSTANCE_FIELDS)
    assert set(REQUEST_FIELDS) <= request_table - {"state", "lease_owner", "lease_expires_at"}


def test_adding_the_same_id_twice_is_refused(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1"))
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.requests.add(make_request("r1"))


def test_datetimes_come_back_timezone_aware_utc(uow_factory: UowFactory) -> None:
    beijing = timezone(timedelta(hours=8))
    created = datetime(2026, 3, 1, 20, 0, 0, 123456, tzinfo=beijing)
    add(uow_factory, make_request("r1", created_at=created))

    with uow_factory() as uow:
        loaded = uow.requests.get("r1")

    assert loaded is not None
    assert loaded.created_at == created
    assert loaded.created_at.tzinfo is UTC
    assert loaded.created_at.hour == 12
    assert loaded.expires_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-03-01 12:00:00.123456", datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01 12:00:00", datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)),
        ("2026-03-01 20:00:00+08:00", datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)),
    ],
)
def test_sqlite_datetime_text_reads_back_as_utc(
    uow_factory: UowFactory, migrated_url: str, stored: str, expected: datetime
) -> None:
    """The stored shapes SQLite may hold (ours; a server default without microseconds;
    an offset written by hand) all come back aware, in UTC."""
    if not is_sqlite(migrated_url):
        pytest.skip("SQLite stores datetimes as text; PostgreSQL as timestamptz")
    add(uow_factory, make_request("r1"))
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE reboot_requests SET created_at = :stored WHERE id = 'r1'"),
                {"stored": stored},
            )
    finally:
        engine.dispose()

    with uow_factory() as uow:
        loaded = uow.requests.get("r1")

    assert loaded is not None
    assert loaded.created_at == expected
    assert loaded.created_at.tzinfo is UTC


def test_naive_datetimes_are_refused(uow_factory: UowFactory) -> None:
    naive = make_request("r1", created_at=datetime(2026, 3, 1, 12, 0, 0))
    with uow_factory() as uow, pytest.raises(StatementError, match="naive datetime"):
        uow.requests.add(naive)


def test_update_instances_records_the_poll(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1", state=RequestState.EXECUTING))
    ref = InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa")
    sent = T0 + timedelta(seconds=10)

    with uow_factory() as uow:
        assert uow.requests.update_instances(
            "r1", {ref: InstanceUpdate(outcome=InstanceOutcome.REBOOTING, reboot_sent_at=sent)}
        )
        assert uow.requests.update_instances(
            "r1",
            {ref: InstanceUpdate(status="Stopping", seen_leaving_running=True, code="200")},
        )
        # A poller whose lease is gone (none is held here) writes nothing.
        assert not uow.requests.update_instances(
            "r1", {ref: InstanceUpdate(status="Stopped")}, owner="dead"
        )
        missing = InstanceRef("cn-hangzhou", "i-bp1notthere")
        assert not uow.requests.update_instances("r1", {missing: InstanceUpdate(status="Running")})
        with pytest.raises(TypeError, match="position"):
            InstanceUpdate(position=3)  # type: ignore[call-arg]
        uow.commit()

    with uow_factory() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    instance = loaded.instances[0]
    assert instance.outcome is InstanceOutcome.REBOOTING
    assert instance.reboot_sent_at == sent
    assert (instance.status, instance.seen_leaving_running, instance.code) == (
        "Stopping",
        True,
        "200",
    )


def test_transition_waiting_on_an_uncommitted_winner_loses(
    uow_factory: UowFactory, migrated_url: str
) -> None:
    """PostgreSQL: the second UPDATE blocks on the first one's row lock and, once the
    first commits, re-checks ``state`` and changes nothing."""
    if is_sqlite(migrated_url):
        pytest.skip("row locks are PostgreSQL's")
    add(uow_factory, make_request("r1"))

    def second_click() -> bool:
        with uow_factory() as uow:
            won = uow.requests.transition("r1", RequestState.PREVIEWED, RequestState.EXECUTING)
            uow.commit()
            return won

    with uow_factory() as first, ThreadPoolExecutor(max_workers=1) as pool:
        assert first.requests.transition("r1", RequestState.PREVIEWED, RequestState.EXECUTING)
        second = pool.submit(second_click)
        _wait_until_a_backend_waits_on_a_lock(migrated_url)
        assert not second.done()
        first.commit()
        assert second.result(timeout=10) is False


def _wait_until_a_backend_waits_on_a_lock(url: str) -> None:
    engine = make_engine(url)
    deadline = time.monotonic() + 10
    try:
        with engine.connect() as connection:
            while time.monotonic() < deadline:
                waiting = connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                        " AND query LIKE 'UPDATE reboot_requests%'"
                    )
                ).scalar_one()
                connection.rollback()
                if waiting:
                    return
                threading.Event().wait(0.01)
    finally:
        engine.dispose()
    pytest.fail("the second transition never waited on the first one's lock")

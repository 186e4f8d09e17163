"""The schema on real SQLite and PostgreSQL: the migrations create it, upgrade data
written by older revisions, go down and up again, and agree with the models; the
connection settings the repositories rely on."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text

from bot.db.engine import is_sqlite, make_engine, make_session_factory
from bot.db.migrate import (
    alembic_config,
    check_models_match,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from bot.db.unit_of_work import UnitOfWork
from tests.fixtures_db import OldInsert, UowFactory, upgraded_from
from tests.integration.store.support import (
    T0,
    add,
    make_request,
)

TABLES = {"reboot_requests", "reboot_instances", "role_bindings", "audit_log", "approvals"}


HEAD = "0014"  # the newest migration


def test_upgrade_creates_every_table_on_an_empty_database(database_url: str) -> None:
    upgrade_to_head(database_url)

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            revision = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert revision.scalar_one() == HEAD
    finally:
        engine.dispose()
    assert tables >= TABLES


def test_upgrade_is_idempotent_and_keeps_data(database_url: str) -> None:
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    try:
        with UnitOfWork(make_session_factory(engine)) as uow:
            uow.audit.append(T0, "system", "grant")
            uow.commit()

        upgrade_to_head(database_url)

        with UnitOfWork(make_session_factory(engine)) as uow:
            assert [entry.action for entry in uow.audit.list()] == ["grant"]
    finally:
        engine.dispose()
    assert check_models_match(database_url) == []


def test_upgrading_from_0001_does_not_redraw_the_history(database_url: str) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at,"
        " finished_at, message_ts) VALUES ('old', 'succeeded', 'U1', 'C1', :at, :at, :at,"
        " '1.2')",
        {"at": T0.replace(tzinfo=None)},
    )
    with upgraded_from(database_url, "0001", old_request) as upgraded, upgraded() as uow:
        old = uow.requests.get("old")
        due = uow.requests.redraw_due(T0 + timedelta(days=1), T0 - timedelta(days=1))
        notify = uow.requests.notify_end_due(T0 + timedelta(days=1), T0 - timedelta(days=1))
    assert old is not None
    assert not old.message_redraw_due
    assert not old.notify_end_due
    assert due == notify == []


def test_upgrading_from_0002_counts_a_recorded_send_as_one_call(database_url: str) -> None:
    """A reboot in flight across the upgrade: its recorded send counts one call, so it
    may be sent at most once more; an instance never sent counts none."""
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at)"
        " VALUES ('old', 'executing', 'U1', 'C1', :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    old_instances: OldInsert = (
        "INSERT INTO reboot_instances (request_id, region, instance_id, position, verdict,"
        " reboot_sent_at) VALUES ('old', 'cn-hangzhou', :id, :position, 'will_reboot', :sent)",
        [
            {"id": "i-sent0001", "position": 0, "sent": T0.replace(tzinfo=None)},
            {"id": "i-unsent001", "position": 1, "sent": None},
        ],
    )
    with (
        upgraded_from(database_url, "0002", old_request, old_instances) as upgraded,
        upgraded() as uow,
    ):
        old = uow.requests.get("old")
    assert old is not None
    assert [(i.ref.instance_id, i.reboot_calls) for i in old.instances] == [
        ("i-sent0001", 1),
        ("i-unsent001", 0),
    ]
    assert check_models_match(database_url) == []


# The head before this feature: the merger re-chains 0005 onto whatever comes first.
PREVIOUS_HEAD = "0004"


def test_upgrading_from_the_previous_head_keeps_requests_as_they_ran(database_url: str) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at,"
        " finished_at) VALUES ('old', 'succeeded', 'U1', 'C1', :at, :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    with upgraded_from(database_url, PREVIOUS_HEAD, old_request) as upgraded:
        with upgraded() as uow:
            old = uow.requests.get("old")
            uow.requests.add(
                dataclasses.replace(make_request("new"), reason="patch", retry_of="old")
            )
            uow.commit()
        with upgraded() as uow:
            new = uow.requests.get("new")
    assert old is not None
    assert new is not None
    assert (old.reason, old.approvals_needed, old.approvals, old.retry_of) == (None, 0, (), None)
    assert (new.reason, new.retry_of) == ("patch", "old")


def test_models_and_migrations_agree(migrated_url: str) -> None:
    assert check_models_match(migrated_url) == []


def test_current_revision_is_none_before_and_head_after_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        before = current_revision(engine)
        upgrade_to_head(database_url)
        after = current_revision(engine)
    finally:
        engine.dispose()
    assert (before, after, head_revision()) == (None, HEAD, HEAD)


@pytest.mark.parametrize(
    "revision", ["0012", "0011", "0010", "0009", "0008", "0007", "0006", "0005", "0004", "0003"]
)
def test_downgrade_to_an_earlier_revision_and_up_again(database_url: str, revision: str) -> None:
    """Each later migration's downgrade works, and upgrading again gives the models'
    schema: a release can be rolled back."""
    upgrade_to_head(database_url)
    command.downgrade(alembic_config(database_url), revision)
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == revision
    finally:
        engine.dispose()
    upgrade_to_head(database_url)
    assert check_models_match(database_url) == []


def test_model_check_notices_a_schema_drift(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_log ADD COLUMN stray INTEGER"))
    finally:
        engine.dispose()

    diff = check_models_match(migrated_url)

    assert [(op[0], op[2], op[3].name) for op in diff] == [("remove_column", "audit_log", "stray")]


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(migrated_url: str) -> None:
    if not is_sqlite(migrated_url):
        pytest.skip("SQLite pragmas")
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        engine.dispose()
    assert pragma == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1}


def test_deleting_a_request_cascades_to_its_instances(
    uow_factory: UowFactory, migrated_url: str
) -> None:
    # Proves make_engine turns foreign keys on for SQLite (they are off by default).
    add(uow_factory, make_request("r1"))
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM reboot_requests WHERE id = 'r1'"))
            left = connection.execute(text("SELECT count(*) FROM reboot_instances"))
            assert left.scalar_one() == 0
    finally:
        engine.dispose()

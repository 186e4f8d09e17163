"""The database layer on real SQLite and PostgreSQL, through the migrations."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError

from bot.db.engine import is_sqlite, make_engine, make_session_factory
from bot.db.migrate import (
    alembic_config,
    check_models_match,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from bot.db.repositories import AuditRepository, BindingRecord
from bot.db.repositories.rows import (
    INSTANCE_COLUMNS,
    INSTANCE_FIELDS,
    REQUEST_COLUMNS,
    REQUEST_FIELDS,
)
from bot.db.tables import RebootInstanceRow, RebootRequestRow
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Role, Verdict
from bot.domain.policy import Binding
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.ports import InstanceUpdate, RequestUpdate
from tests.fixtures_db import OldInsert, UowFactory, upgraded_from

T = TypeVar("T")

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TTL = timedelta(seconds=300)
TABLES = {"reboot_requests", "reboot_instances", "role_bindings", "audit_log", "approvals"}
HEAD = "0009"  # the newest migration


def make_request(
    request_id: str = "r1",
    *,
    state: RequestState = RequestState.PREVIEWED,
    created_at: datetime = T0,
    requester: str = "U100",
    instances: tuple[PlannedInstance, ...] | None = None,
) -> RebootRequest:
    if instances is None:
        instances = (
            PlannedInstance(
                ref=InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa"),
                position=0,
                verdict=Verdict.WILL_REBOOT,
                name="web-1",
                status="Running",
                tags={"env": "prod"},
            ),
        )
    return RebootRequest(
        id=request_id,
        state=state,
        force=False,
        requester=requester,
        channel="C100",
        created_at=created_at,
        expires_at=created_at + TTL,
        instances=instances,
        command_text="/ecs-reboot i-bp1aaaaaaaa",
    )


def add(uow_factory: UowFactory, *requests: RebootRequest) -> None:
    with uow_factory() as uow:
        for request in requests:
            uow.requests.add(request)
        uow.commit()


def run_concurrently(count: int, work: Callable[[], T]) -> list[T]:
    """Run ``work`` on ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def aligned() -> T:
        barrier.wait(timeout=10)
        return work()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(aligned) for _ in range(count)]
        return [future.result(timeout=30) for future in futures]


# --- migrations -----------------------------------------------------------------


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


def test_a_move_to_a_final_state_makes_a_redraw_due_until_it_is_drawn(
    uow_factory: UowFactory,
) -> None:
    add(uow_factory, make_request("r1", created_at=T0, state=RequestState.EXECUTING))
    finished = T0 + timedelta(minutes=5)
    with uow_factory() as uow:
        assert uow.requests.transition(
            "r1",
            [RequestState.EXECUTING],
            RequestState.SUCCEEDED,
            RequestUpdate(finished_at=finished, notify_end_due=True),
        )
        uow.commit()
    long_ago = T0 - timedelta(days=1)
    with uow_factory() as uow:
        too_soon = uow.requests.redraw_due(finished - timedelta(seconds=1), long_ago)
        given_up = uow.requests.redraw_due(finished + timedelta(days=1), finished + timedelta(1))
        due = uow.requests.redraw_due(finished, long_ago)
        notify = uow.requests.notify_end_due(finished, long_ago)
        uow.requests.set_fields("r1", RequestUpdate(message_redraw_due=False))
        uow.commit()
    with uow_factory() as uow:
        drawn = uow.requests.redraw_due(finished + timedelta(days=1), long_ago)
        still_to_notify = uow.requests.notify_end_due(finished, long_ago)
    assert (too_soon, given_up, due, drawn) == ([], [], ["r1"], [])
    assert notify == still_to_notify == ["r1"]


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


@pytest.mark.parametrize("revision", ["0007", "0006", "0005", "0004", "0003"])
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


# --- requests ---------------------------------------------------------------------


def test_request_round_trips_with_instances_in_the_order_given(uow_factory: UowFactory) -> None:
    instances = (
        PlannedInstance(
            ref=InstanceRef("cn-shanghai", "i-uf6zzzzzzzz"),
            position=1,
            verdict=Verdict.NOT_RUNNING,
            status="Stopped",
            verdict_code="IncorrectInstanceStatus",
            verdict_message="The instance is stopped.",
        ),
        PlannedInstance(
            ref=InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa"),
            position=0,
            verdict=Verdict.WILL_REBOOT,
            name="web-1",
            status="Running",
            zone="cn-hangzhou-h",
            tags={"env": "prod", "team": "core"},
            start_time_before=T0 - timedelta(days=3),
        ),
    )
    request = make_request("r1", instances=instances)
    add(uow_factory, request)

    with uow_factory() as uow:
        loaded = uow.requests.get("r1")

    assert loaded is not None
    assert [i.position for i in loaded.instances] == [0, 1]
    assert loaded == RebootRequest(
        **{**request.__dict__, "instances": (instances[1], instances[0])}
    )
    assert isinstance(loaded.state, RequestState)
    assert isinstance(loaded.instances[0].outcome, InstanceOutcome)


def test_the_column_lists_cover_the_tables_and_the_update_values() -> None:
    """One column list per row drives every statement and mapper: it must name every
    column the table has, and the typed updates exactly the writable ones."""
    instance_table = {c.name for c in RebootInstanceRow.__table__.columns}
    request_table = {c.name for c in RebootRequestRow.__table__.columns}
    assert {*INSTANCE_COLUMNS, "id", "request_id"} == instance_table
    assert {*REQUEST_COLUMNS, "next_poll_at", "lease_owner", "lease_expires_at", "version"} == (
        request_table
    )
    assert [f.name for f in dataclasses.fields(InstanceUpdate)] == list(INSTANCE_FIELDS)
    assert set(REQUEST_FIELDS) <= request_table - {"state", "lease_owner", "lease_expires_at"}


def test_list_recent_returns_each_request_with_its_own_instances(
    uow_factory: UowFactory,
) -> None:
    other = PlannedInstance(
        ref=InstanceRef("cn-shanghai", "i-uf6"), position=0, verdict=Verdict.DENIED
    )
    add(
        uow_factory,
        make_request("a", created_at=T0),
        make_request("b", created_at=T0 + TTL, instances=(other,)),
    )

    with uow_factory() as uow:
        recent = uow.requests.list_recent(10)
        loaded = [uow.requests.get("b"), uow.requests.get("a")]

    assert recent == loaded


def test_get_of_an_unknown_request_is_none(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        assert uow.requests.get("nope") is None


def test_adding_the_same_id_twice_is_refused(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1"))
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.requests.add(make_request("r1"))


def test_leaving_without_commit_rolls_back(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.requests.add(make_request("r1"))
        uow.audit.append(T0, "U100", "preview", "r1")

    with uow_factory() as uow:
        assert uow.requests.get("r1") is None
        assert uow.audit.list() == []


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


def test_list_recent_is_newest_first_and_filters(uow_factory: UowFactory) -> None:
    add(
        uow_factory,
        make_request("old", created_at=T0, requester="U1"),
        make_request("mid", created_at=T0 + timedelta(minutes=1), requester="U2"),
        make_request(
            "new",
            created_at=T0 + timedelta(minutes=2),
            requester="U1",
            state=RequestState.EXECUTING,
        ),
    )

    with uow_factory() as uow:
        every = [r.id for r in uow.requests.list_recent(10)]
        newest = [r.id for r in uow.requests.list_recent(1)]
        by_user = [r.id for r in uow.requests.list_recent(10, user="U1")]
        by_state = [r.id for r in uow.requests.list_recent(10, state=RequestState.PREVIEWED)]
        since = [r.id for r in uow.requests.list_recent(10, since=T0 + timedelta(minutes=1))]
        with_instances = uow.requests.list_recent(1)[0].instances

    assert every == ["new", "mid", "old"]
    assert newest == ["new"]
    assert by_user == ["new", "old"]
    assert by_state == ["mid", "old"]
    assert since == ["new", "mid"]
    assert len(with_instances) == 1


def test_transition_moves_state_and_sets_fields(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1"))

    with uow_factory() as uow:
        won = uow.requests.transition(
            "r1",
            [RequestState.PREVIEWED],
            RequestState.EXECUTING,
            RequestUpdate(confirmed_by="U200", confirmed_at=T0 + timedelta(seconds=5)),
        )
        seen_inside = uow.requests.get("r1")
        uow.commit()

    assert won is True
    assert seen_inside is not None
    assert seen_inside.state is RequestState.EXECUTING
    with uow_factory() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert (loaded.state, loaded.confirmed_by) == (RequestState.EXECUTING, "U200")
    assert loaded.confirmed_at == T0 + timedelta(seconds=5)


def test_second_caller_loses_the_transition(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1"))
    results = []
    for clicker in ("U1", "U2"):
        with uow_factory() as uow:
            results.append(
                uow.requests.transition(
                    "r1",
                    RequestState.PREVIEWED,
                    RequestState.EXECUTING,
                    RequestUpdate(confirmed_by=clicker),
                )
            )
            uow.commit()

    assert results == [True, False]
    with uow_factory() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert loaded.confirmed_by == "U1"


def test_concurrent_transitions_have_exactly_one_winner(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1"))

    def click() -> bool:
        with uow_factory() as uow:
            won = uow.requests.transition("r1", RequestState.PREVIEWED, RequestState.EXECUTING)
            uow.commit()
            return won

    results = run_concurrently(8, click)

    assert sorted(results, key=bool) == [False] * 7 + [True]


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


def test_transition_refuses_moves_the_state_machine_forbids(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1"))
    with uow_factory() as uow:
        with pytest.raises(ValueError, match="cannot move"):
            uow.requests.transition("r1", RequestState.SUCCEEDED, RequestState.EXECUTING)
        with pytest.raises(TypeError, match="state"):
            uow.requests.transition(  # type: ignore[call-arg]
                "r1", RequestState.PREVIEWED, RequestState.CANCELLED, state="executing"
            )


def test_unknown_request_does_not_transition(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        assert not uow.requests.transition("nope", RequestState.PREVIEWED, RequestState.EXPIRED)


def test_update_sets_bookkeeping_fields(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1"))
    with uow_factory() as uow:
        assert uow.requests.set_fields(
            "r1", RequestUpdate(message_ts="1700000000.000100", progress_text="0/1 back")
        )
        assert not uow.requests.set_fields("nope", RequestUpdate(message_ts="1"))
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert (loaded.message_ts, loaded.progress_text) == ("1700000000.000100", "0/1 back")


def test_set_fields_while_in_writes_only_in_that_state(uow_factory: UowFactory) -> None:
    """Abort's write: recorded on an executing request, refused (nothing written) on one
    that finished since it was loaded."""
    add(
        uow_factory,
        make_request("running", state=RequestState.EXECUTING),
        make_request("done", state=RequestState.SUCCEEDED),
    )
    stop = RequestUpdate(stop_reason="abort", stopped_by="U200")
    with uow_factory() as uow:
        assert uow.requests.set_fields("running", stop, while_in=RequestState.EXECUTING)
        assert not uow.requests.set_fields("done", stop, while_in=RequestState.EXECUTING)
        uow.commit()
    with uow_factory() as uow:
        running, done = uow.requests.get("running"), uow.requests.get("done")
    assert running is not None
    assert done is not None
    assert (running.stop_reason, running.stopped_by) == ("abort", "U200")
    assert (done.stop_reason, done.stopped_by) == (None, None)


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


def test_save_instances_writes_snapshots_back(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1", state=RequestState.EXECUTING))
    with uow_factory() as uow:
        request = uow.requests.get("r1")
        assert request is not None
        done = dataclasses.replace(
            request.instances[0],
            outcome=InstanceOutcome.SUCCEEDED,
            status="Running",
            finished_at=T0 + timedelta(minutes=2),
            reported_outcome=InstanceOutcome.SUCCEEDED,
        )
        assert uow.requests.save_instances("r1", [done])
        uow.commit()

    with uow_factory() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert loaded.instances == (done,)


def test_skip_pending_leaves_sent_instances_alone(uow_factory: UowFactory) -> None:
    instances = tuple(
        PlannedInstance(
            ref=InstanceRef("cn-hangzhou", f"i-bp1instance{n}"),
            position=n,
            verdict=Verdict.WILL_REBOOT if n == 0 else Verdict.NOT_FOUND,
            outcome=InstanceOutcome.REBOOTING if n == 0 else InstanceOutcome.PENDING,
        )
        for n in range(3)
    )
    add(uow_factory, make_request("r1", instances=instances))
    with uow_factory() as uow:
        uow.requests.skip_pending("r1")
        loaded = uow.requests.get("r1")

    assert loaded is not None
    assert [i.outcome for i in loaded.instances] == [
        InstanceOutcome.REBOOTING,
        InstanceOutcome.SKIPPED,
        InstanceOutcome.SKIPPED,
    ]


def test_unit_of_work_is_only_usable_inside_its_block(uow_factory: UowFactory) -> None:
    uow = uow_factory()
    with pytest.raises(RuntimeError, match="with"):
        uow.commit()
    with uow:
        requests = uow.requests
    with pytest.raises(AttributeError):
        _ = uow.requests
    assert requests is not None


# --- poller leases ----------------------------------------------------------------


def _executing(*ids: str) -> list[RebootRequest]:
    return [
        make_request(request_id, state=RequestState.EXECUTING, created_at=T0 + timedelta(n))
        for n, request_id in enumerate(ids)
    ]


def test_two_owners_never_claim_the_same_request(uow_factory: UowFactory) -> None:
    add(uow_factory, *_executing("a", "b", "c"), make_request("p"))
    now = T0 + timedelta(minutes=1)

    with uow_factory() as uow:
        first = uow.leases.claim_due("poller-1", now, lease_seconds=30, limit=2)
        uow.commit()
    with uow_factory() as uow:
        second = uow.leases.claim_due("poller-2", now, lease_seconds=30, limit=10)
        third = uow.leases.claim_due("poller-3", now, lease_seconds=30, limit=10)
        uow.commit()

    assert first == ["a", "b"]
    assert second == ["c"]
    assert third == []


def test_concurrent_pollers_split_the_work(uow_factory: UowFactory) -> None:
    ids = [f"r{n:02d}" for n in range(12)]
    add(uow_factory, *_executing(*ids))
    now = T0 + timedelta(days=30)

    def poll() -> list[str]:
        with uow_factory() as uow:
            owner = f"poller-{threading.get_ident()}"
            claimed = uow.leases.claim_due(owner, now, lease_seconds=30, limit=5)
            uow.commit()
            return claimed

    claims = run_concurrently(4, poll)

    claimed = [request_id for claim in claims for request_id in claim]
    # Nobody holds a request twice, and four pollers of five cover all twelve.
    assert sorted(claimed) == ids


def test_an_expired_lease_is_taken_over_and_fences_the_old_owner(
    uow_factory: UowFactory,
) -> None:
    add(uow_factory, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    ref = InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa")

    with uow_factory() as uow:
        assert uow.leases.claim_due("dead", now, lease_seconds=30) == ["a"]
        uow.commit()
    with uow_factory() as uow:
        assert uow.leases.claim_due("alive", now + timedelta(seconds=29), 30) == []
        assert uow.leases.claim_due("alive", now + timedelta(seconds=30), 30) == ["a"]
        uow.commit()

    with uow_factory() as uow:
        assert not uow.leases.renew_lease("a", "dead", now, 30)
        assert not uow.requests.update_instances(
            "a", {ref: InstanceUpdate(status="Stopped")}, owner="dead"
        )
        assert not uow.requests.set_fields("a", RequestUpdate(progress_text="stale"), owner="dead")
        assert not uow.leases.release("a", "dead")
        assert uow.requests.update_instances(
            "a", {ref: InstanceUpdate(status="Running")}, owner="alive"
        )
        assert uow.leases.renew_lease("a", "alive", now + timedelta(seconds=40), 30)
        uow.commit()

    with uow_factory() as uow:
        loaded = uow.requests.get("a")
    assert loaded is not None
    assert loaded.instances[0].status == "Running"
    assert loaded.progress_text is None


def test_release_lets_another_poller_claim_at_once(uow_factory: UowFactory) -> None:
    add(uow_factory, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with uow_factory() as uow:
        assert uow.leases.claim_due("one", now, 30) == ["a"]
        assert uow.leases.release("a", "one")
        assert uow.leases.claim_due("two", now, 30) == ["a"]
        uow.commit()


def test_claim_due_respects_next_poll_at_and_state(uow_factory: UowFactory) -> None:
    add(uow_factory, *_executing("a", "b"), make_request("p"))
    now = T0 + timedelta(days=5)
    with uow_factory() as uow:
        assert uow.requests.set_fields("a", RequestUpdate(next_poll_at=now + timedelta(seconds=2)))
        assert uow.leases.claim_due("one", now, 30) == ["b"]
        assert uow.leases.claim_due("two", now + timedelta(seconds=2), 30) == ["a"]
        uow.commit()


def test_claim_due_renews_a_lease_the_owner_already_holds(uow_factory: UowFactory) -> None:
    add(uow_factory, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with uow_factory() as uow:
        assert uow.leases.claim_due("one", now, 30) == ["a"]
        assert uow.leases.claim_due("one", now + timedelta(seconds=1), 30) == ["a"]
        uow.commit()


def test_finishing_a_request_drops_its_lease(uow_factory: UowFactory) -> None:
    add(uow_factory, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with uow_factory() as uow:
        assert uow.leases.claim_due("one", now, 30) == ["a"]
        assert uow.requests.transition(
            "a", RequestState.EXECUTING, RequestState.SUCCEEDED, RequestUpdate(finished_at=now)
        )
        assert not uow.leases.release("a", "one")
        assert uow.leases.claim_due("two", now, 30) == []
        uow.commit()


# --- expiry -----------------------------------------------------------------------


def test_expire_due_expires_only_stale_previews_once(uow_factory: UowFactory) -> None:
    add(
        uow_factory,
        make_request("stale", created_at=T0),
        make_request("edge", created_at=T0 + timedelta(seconds=60)),
        make_request("fresh", created_at=T0 + timedelta(seconds=61)),
        make_request("running", created_at=T0, state=RequestState.EXECUTING),
    )
    now = T0 + TTL + timedelta(seconds=60)

    with uow_factory() as uow:
        first = uow.requests.expire_due(now)
        second = uow.requests.expire_due(now)
        states = {r.id: r.state for r in uow.requests.list_recent(10)}
        uow.commit()

    assert first == ["edge", "stale"]
    assert second == []
    assert states == {
        "stale": RequestState.EXPIRED,
        "edge": RequestState.EXPIRED,
        "fresh": RequestState.PREVIEWED,
        "running": RequestState.EXECUTING,
    }


# --- roles ------------------------------------------------------------------------


OPERATOR = Binding("U1", Role.OPERATOR)
OPERATOR_PROD = Binding("U1", Role.OPERATOR, "cn-hangzhou", "env", "prod")


def test_granting_twice_reports_the_second_as_existing(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        assert uow.roles.grant(OPERATOR, by="U9", now=T0)
        assert not uow.roles.grant(OPERATOR, by="U8", now=T0)
        # A scoped binding is a different binding.
        assert uow.roles.grant(OPERATOR_PROD, by="U9", now=T0)
        uow.commit()
    with uow_factory() as uow:
        assert not uow.roles.grant(OPERATOR, by="U9", now=T0)
        bindings = uow.roles.list_all()
        records = uow.roles.list_records()

    assert bindings == [OPERATOR, OPERATOR_PROD]
    assert records == [
        BindingRecord(OPERATOR, created_by="U9", created_at=T0),
        BindingRecord(OPERATOR_PROD, created_by="U9", created_at=T0),
    ]


def test_concurrent_grants_store_one_binding(uow_factory: UowFactory) -> None:
    def grant() -> bool:
        with uow_factory() as uow:
            created = uow.roles.grant(OPERATOR, by="U9", now=T0)
            uow.commit()
            return created

    results = run_concurrently(4, grant)

    assert sorted(results) == [False, False, False, True]
    with uow_factory() as uow:
        assert uow.roles.list_all() == [OPERATOR]


def test_revoke_removes_exactly_one_binding(uow_factory: UowFactory) -> None:
    admin = Binding("U1", Role.ADMIN)
    admin_hangzhou = Binding("U1", Role.ADMIN, region="cn-hangzhou")
    with uow_factory() as uow:
        assert not uow.roles.revoke(admin)
        uow.roles.grant(admin, by="U9", now=T0)
        uow.roles.grant(admin_hangzhou, by="U9", now=T0)
        assert uow.roles.revoke(admin)
        assert not uow.roles.revoke(admin)
        remaining = uow.roles.bindings_for(["U1"])
        uow.commit()
    assert remaining == [admin_hangzhou]


def test_bindings_for_covers_the_user_and_their_groups(uow_factory: UowFactory) -> None:
    viewer = Binding("U1", Role.VIEWER)
    group_dev = Binding("S1", Role.OPERATOR, tag_key="env", tag_value="dev")
    with uow_factory() as uow:
        for binding in (viewer, group_dev, Binding("U2", Role.ADMIN), Binding("S2", Role.VIEWER)):
            uow.roles.grant(binding, by="U9", now=T0)
        uow.commit()

    with uow_factory() as uow:
        bindings = uow.roles.bindings_for(["U1", "S1"])
        nobody = uow.roles.bindings_for([])
        groups = uow.roles.group_subjects()

    assert bindings == [viewer, group_dev]
    assert nobody == []
    assert groups == ["S1", "S2"]


# --- audit ------------------------------------------------------------------------


def test_audit_is_append_only() -> None:
    public = {name for name in dir(AuditRepository) if not name.startswith("_")}
    assert public == {"append", "list"}


def test_audit_lists_in_the_order_written(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.audit.append(T0, "U1", "preview", "r1", {"instances": 2})
        uow.audit.append(T0, "U2", "grant", detail={"subject": "U3", "role": "operator"})
        uow.audit.append(T0 + timedelta(seconds=1), "U1", "confirm", "r1")
        uow.audit.append(T0 + timedelta(seconds=9), "system", "outcome", "r1", {"ok": True})
        uow.commit()

    with uow_factory() as uow:
        everything = uow.audit.list()
        of_r1 = uow.audit.list(request_id="r1")
        latest_two = uow.audit.list(limit=2)

    assert [e.action for e in everything] == ["preview", "grant", "confirm", "outcome"]
    assert [e.action for e in of_r1] == ["preview", "confirm", "outcome"]
    assert [e.action for e in latest_two] == ["confirm", "outcome"]
    assert everything[0].detail == {"instances": 2}
    assert everything[2].detail == {}
    assert everything[1].request_id is None
    assert all(entry.at.tzinfo is UTC for entry in everything)

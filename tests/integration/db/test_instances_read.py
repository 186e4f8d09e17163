"""A request's instance rows are read again only once they changed (docs/decisions/0015):
``RequestRepository.get`` keys what it read by the request's ``version`` and
``instances_token``. Every way instances are written must show in the next read, a
lease must not count as a change, and a write rolled back must leave nothing behind."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from bot.db.engine import make_engine, make_session_factory
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState
from bot.domain.request import RebootRequest
from bot.services.ports import InstanceUpdate
from tests.integration.store.support import T0, make_request

REF = InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa")


class _Counted:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.statements.append(statement)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(make_session_factory(self.engine))

    def get(self, request_id: str = "r1") -> tuple[RebootRequest, list[str]]:
        """The request as read, and the statements the read ran."""
        before = len(self.statements)
        with self.uow() as uow:
            request = uow.requests.get(request_id)
        assert request is not None
        return request, self.statements[before:]


@pytest.fixture
def db(migrated_url: str) -> Iterator[_Counted]:
    engine = make_engine(migrated_url)
    try:
        counted = _Counted(engine)
        with counted.uow() as uow:
            uow.requests.add(make_request("r1", state=RequestState.EXECUTING))
            uow.commit()
        yield counted
    finally:
        engine.dispose()


def _instance_reads(statements: list[str]) -> int:
    return sum("FROM reboot_instances" in s for s in statements)


def test_an_unchanged_request_is_read_without_its_instance_rows_even_across_leases(
    db: _Counted,
) -> None:
    first, _ = db.get()
    with db.uow() as uow:
        assert uow.leases.claim("r1", "poller", T0, 30.0)
        uow.commit()
    with db.uow() as uow:
        assert uow.leases.renew_lease("r1", "poller", T0, 30.0)
        assert uow.leases.release("r1", "poller", next_poll_at=T0 + timedelta(seconds=5))
        uow.commit()

    again, statements = db.get()

    assert _instance_reads(statements) == 0
    assert again.instances == first.instances


@pytest.mark.parametrize("write", ["update_instances", "save_instances", "skip_pending"])
def test_every_write_of_instances_shows_in_the_next_read(db: _Counted, write: str) -> None:
    before, _ = db.get()
    with db.uow() as uow:
        if write == "update_instances":
            uow.requests.update_instances("r1", {REF: InstanceUpdate(status="Stopping")})
        elif write == "save_instances":
            changed = dataclasses.replace(before.instances[0], status="Stopping")
            uow.requests.save_instances("r1", [changed])
        else:
            uow.requests.skip_pending("r1")
        uow.commit()

    after, statements = db.get()

    assert _instance_reads(statements) == 1
    if write == "skip_pending":
        assert after.instances[0].outcome is InstanceOutcome.SKIPPED
    else:
        assert after.instances[0].status == "Stopping"


def test_a_write_rolled_back_after_its_own_read_leaves_nothing_behind(db: _Counted) -> None:
    db.get()
    with db.uow() as uow:
        uow.requests.update_instances("r1", {REF: InstanceUpdate(status="Stopping")})
        assert uow.requests.get("r1").instances[0].status == "Stopping"  # type: ignore[union-attr]
        uow.rollback()
    # Another writer's change, committed with the same version the rolled-back one had.
    with db.uow() as uow:
        uow.requests.update_instances("r1", {REF: InstanceUpdate(status="Stopped")})
        uow.commit()

    after, _ = db.get()

    assert after.instances[0].status == "Stopped"


def test_a_writer_that_only_bumps_the_version_is_seen(db: _Counted) -> None:
    """A replica of the release before 0014 (rolling upgrade) writes instances and bumps
    the version, leaving the token as it was: that is a change too."""
    db.get()
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE reboot_instances SET status = 'Stopped'"))
        connection.execute(text("UPDATE reboot_requests SET version = version + 1"))

    after, _ = db.get()

    assert after.instances[0].status == "Stopped"

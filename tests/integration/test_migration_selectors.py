"""Migration 0004 (a request's selectors) upgrades a database holding requests made
before it: they read back with no selectors, and new ones keep theirs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import alembic_config, check_models_match, upgrade_to_head
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import InstanceRef, RequestState, Verdict
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.history import request_json

# The head this migration follows. One constant, so re-chaining it is a one-line change.
PREVIOUS_HEAD = "0003"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_upgrading_from_the_previous_head_gives_old_requests_no_selectors(
    database_url: str,
) -> None:
    command.upgrade(alembic_config(database_url), PREVIOUS_HEAD)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO reboot_requests (id, state, requester, channel, created_at,"
                    " expires_at) VALUES ('old', 'previewed', 'U1', 'C1', :at, :at)"
                ),
                {"at": T0.replace(tzinfo=None)},
            )
        upgrade_to_head(database_url)
        new = RebootRequest(
            id="new",
            state=RequestState.PREVIEWED,
            force=False,
            requester="U1",
            channel="C1",
            created_at=T0,
            expires_at=T0,
            instances=(
                PlannedInstance(
                    InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa"), 0, Verdict.WILL_REBOOT
                ),
            ),
            selectors=("tag:app=web", "name:web-*"),
        )
        with UnitOfWork(make_session_factory(engine)) as uow:
            uow.requests.add(new)
            uow.commit()
        with UnitOfWork(make_session_factory(engine)) as uow:
            old = uow.requests.get("old")
            stored = uow.requests.get("new")
    finally:
        engine.dispose()
    assert old is not None
    assert old.selectors == ()
    assert request_json(old)["selectors"] == []
    assert stored is not None
    assert stored.selectors == ("tag:app=web", "name:web-*")
    assert dataclasses.replace(stored, instances=new.instances) == new
    assert check_models_match(database_url) == []

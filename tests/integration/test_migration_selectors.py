"""Migration 0004 (a request's selectors) upgrades a database holding requests made
before it: they read back with no selectors, and new ones keep theirs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from bot.domain.model import InstanceRef, RequestState, Verdict
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.history import request_json
from bot.slack.outcomes import instance_message
from tests.fixtures_db import OldInsert, upgraded_from

# The head this migration follows. One constant, so re-chaining it is a one-line change.
PREVIOUS_HEAD = "0003"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_upgrading_from_the_previous_head_gives_old_requests_no_selectors(
    database_url: str,
) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at)"
        " VALUES ('old', 'previewed', 'U1', 'C1', :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    with upgraded_from(database_url, PREVIOUS_HEAD, old_request) as upgraded:
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
        with upgraded() as uow:
            uow.requests.add(new)
            uow.commit()
        with upgraded() as uow:
            old = uow.requests.get("old")
            stored = uow.requests.get("new")
    assert old is not None
    assert old.selectors == ()
    assert request_json(old, message=instance_message)["selectors"] == []
    assert stored is not None
    assert stored.selectors == ("tag:app=web", "name:web-*")
    assert dataclasses.replace(stored, instances=new.instances) == new
    assert check_models_match(database_url) == []

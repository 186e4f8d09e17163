"""Migration 0013 (scheduled reboots and windows) upgrades a database at the previous
head, on SQLite and PostgreSQL: an executing request reads back with no schedule and no
window, so it goes on now, any time of day; and a scheduled one round-trips."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from bot.domain.model import RequestState
from bot.services.ports import RequestUpdate
from tests.fixtures_db import OldInsert, upgraded_from

# The head this migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0012"
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_upgrade_leaves_a_running_request_unscheduled(database_url: str) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at)"
        " VALUES ('old', 'executing', 'U1', 'C1', :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    with (
        upgraded_from(database_url, PREVIOUS_HEAD, old_request) as upgraded,
        upgraded() as uow,
    ):
        old = uow.requests.get("old")
        assert old is not None
        assert (old.scheduled_for, old.window, old.reminded_at, old.window_reopens_at) == (
            None,
            None,
            None,
            None,
        )
        # A scheduled request written after the upgrade reads back as written.
        later = T0.replace(hour=18)
        new = dataclasses.replace(
            old, id="new", state=RequestState.SCHEDULED, scheduled_for=later, window="nightly"
        )
        uow.requests.add(new)
        uow.requests.set_fields("new", RequestUpdate(reminded_at=T0, window_reopens_at=later))
        uow.commit()
        stored = uow.requests.get("new")
    assert stored is not None
    assert stored.state is RequestState.SCHEDULED
    assert (stored.scheduled_for, stored.window, stored.reminded_at) == (later, "nightly", T0)
    assert stored.window_reopens_at == later
    assert check_models_match(database_url) == []

"""Migration 0012 (platform events) upgrades a database at the previous head, on SQLite
and PostgreSQL: existing requests read back unchanged, no event is known, and the
watch's lease row exists so the first pass can claim it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from tests.fixtures_db import OldInsert, upgraded_from

# The head this migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0011"
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_upgrade_keeps_requests_and_leaves_the_watch_claimable(database_url: str) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at)"
        " VALUES ('old', 'succeeded', 'U1', 'C1', :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    with upgraded_from(database_url, PREVIOUS_HEAD, old_request) as upgraded, upgraded() as uow:
        old = uow.requests.get("old")
        assert old is not None
        assert uow.events.pending() == []
        assert uow.events.of_request("old") == []
        assert uow.events.claim_watch("replica-1", T0, 30)
    assert check_models_match(database_url) == []

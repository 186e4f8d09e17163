"""Migration 0008 (the first refusal of a call that never reached ECS) upgrades a
database at the previous head, on SQLite and PostgreSQL: an instance waiting for its
answer reads back with no ``unsent_since``, so nothing of it is tried again."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from tests.fixtures_db import OldInsert, upgraded_from

# The head this migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0007"
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_upgrade_leaves_an_instance_sent_before_as_it_was(database_url: str) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at)"
        " VALUES ('old', 'executing', 'U1', 'C1', :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    old_instance: OldInsert = (
        "INSERT INTO reboot_instances (request_id, region, instance_id, position, verdict,"
        " outcome, reboot_sent_at, reboot_calls) VALUES ('old', 'cn-hangzhou',"
        " 'i-bp1old0000001', 0, 'will_reboot', 'rebooting', :at, 1)",
        {"at": T0.replace(tzinfo=None)},
    )
    with (
        upgraded_from(database_url, PREVIOUS_HEAD, old_request, old_instance) as upgraded,
        upgraded() as uow,
    ):
        old = uow.requests.get("old")
    assert old is not None
    (instance,) = old.instances
    assert (instance.reboot_sent_at, instance.reboot_calls) == (T0, 1)
    assert instance.unsent_since is None
    assert check_models_match(database_url) == []

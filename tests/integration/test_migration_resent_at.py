"""Migration 0007 (the second call's moment) upgrades a database at the previous head,
on SQLite and PostgreSQL: an instance sent two calls before it reads back with no
``reboot_resent_at``, so its timeout counts from the first call, as it did."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from tests.fixtures_db import OldInsert, upgraded_from

# The head this migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0006"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_upgrade_keeps_an_instance_sent_twice_on_its_first_calls_timeout(
    database_url: str,
) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at)"
        " VALUES ('old', 'executing', 'U1', 'C1', :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    old_instance: OldInsert = (
        "INSERT INTO reboot_instances (request_id, region, instance_id, position, verdict,"
        " outcome, reboot_sent_at, reboot_calls) VALUES ('old', 'cn-hangzhou',"
        " 'i-bp1old0000001', 0, 'will_reboot', 'rebooting', :at, 2)",
        {"at": T0.replace(tzinfo=None)},
    )
    with (
        upgraded_from(database_url, PREVIOUS_HEAD, old_request, old_instance) as upgraded,
        upgraded() as uow,
    ):
        old = uow.requests.get("old")
    assert old is not None
    (instance,) = old.instances
    assert instance.reboot_calls == 2
    assert instance.reboot_sent_at == T0
    assert instance.reboot_resent_at is None
    assert check_models_match(database_url) == []

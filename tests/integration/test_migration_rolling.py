"""Migration 0006 (rolling reboots) upgrades a database at the previous head, on SQLite
and PostgreSQL: requests made before read as one wave, with every instance in wave 1."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from bot.domain.model import InstanceOutcome, RequestState
from bot.services.history import request_json
from bot.slack.outcomes import instance_message
from tests.fixtures_db import OldInsert, upgraded_from

# The head this branch's migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0005"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_upgrade_from_the_previous_head_keeps_old_requests_as_one_wave(
    database_url: str,
) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at,"
        " finished_at) VALUES ('old', 'succeeded', 'U1', 'C1', :at, :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    old_instance: OldInsert = (
        "INSERT INTO reboot_instances (request_id, region, instance_id, position, verdict,"
        " outcome) VALUES ('old', 'cn-hangzhou', 'i-bp1old0000001', 0, 'will_reboot',"
        " 'succeeded')",
        {},
    )
    with (
        upgraded_from(database_url, PREVIOUS_HEAD, old_request, old_instance) as upgraded,
        upgraded() as uow,
    ):
        old = uow.requests.get("old")
    assert old is not None
    assert old.state is RequestState.SUCCEEDED
    assert old.instances[0].outcome is InstanceOutcome.SUCCEEDED
    row = request_json(old, message=instance_message)
    assert row["rollout"] == {"waves": 1, "canary": None, "batch": None, "max_errors": None}
    assert [i["wave"] for i in row["instances"]] == [1]
    assert old.stop_reason is None
    assert old.pause_after_wave is None
    assert check_models_match(database_url) == []

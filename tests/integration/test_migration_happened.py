"""Migration 0011 (what happened, as a value) upgrades a database at the previous head,
on SQLite and PostgreSQL: an instance finished before it reads back with no
``happened`` and its words as they were written, and ``history --json`` shows those."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from bot.services.history import request_json
from bot.slack.outcomes import instance_message
from tests.fixtures_db import OldInsert, upgraded_from

# The head this migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0010"
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
OLD_WORDS = "Not back after 600 s (last seen Stopped)."


def test_upgrade_keeps_an_old_instances_words(database_url: str) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at)"
        " VALUES ('old', 'failed', 'U1', 'C1', :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    old_instance: OldInsert = (
        "INSERT INTO reboot_instances (request_id, region, instance_id, position, verdict,"
        " outcome, code, message, reboot_sent_at, reboot_calls) VALUES ('old',"
        " 'cn-hangzhou', 'i-bp1old0000001', 0, 'will_reboot', 'timed_out', '200', :words,"
        " :at, 1)",
        {"at": T0.replace(tzinfo=None), "words": OLD_WORDS},
    )
    with (
        upgraded_from(database_url, PREVIOUS_HEAD, old_request, old_instance) as upgraded,
        upgraded() as uow,
    ):
        old = uow.requests.get("old")
    assert old is not None
    (instance,) = old.instances
    assert instance.happened is None
    (shown,) = request_json(old, message=instance_message)["instances"]
    assert (shown["message"], shown["code"]) == (OLD_WORDS, "200")
    assert check_models_match(database_url) == []

"""Migration 0010 (alarm cards, and each request's ``source``) upgrades a database at the
previous head, on SQLite and PostgreSQL: a Retry reads back as ``retry``, every other
request as ``command``, and the alarm tables start empty and usable."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from bot.domain.alarms import AlarmCard
from bot.domain.model import RequestSource
from tests.fixtures_db import OldInsert, upgraded_from
from tests.integration.store.support import alarm_card

# The head this migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0009"
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def _request(request_id: str, retry_of: str | None) -> OldInsert:
    return (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at,"
        " retry_of) VALUES (:id, 'succeeded', 'U1', 'C1', :at, :at, :retry_of)",
        {"id": request_id, "at": T0.replace(tzinfo=None), "retry_of": retry_of},
    )


def test_upgrade_gives_every_request_its_source(database_url: str) -> None:
    with (
        upgraded_from(
            database_url, PREVIOUS_HEAD, _request("a", None), _request("b", "a")
        ) as upgraded,
        upgraded() as uow,
    ):
        first, retry = uow.requests.get("a"), uow.requests.get("b")
        card = alarm_card(rule="r", instance_id="i-bp1old0000001", at=T0)
        assert uow.alarms.add(card)
        assert not uow.alarms.add(AlarmCard(**{**card.__dict__, "id": "c2"}))
        assert uow.alarms.open_card("r", "i-bp1old0000001") == card
    assert first is not None
    assert retry is not None
    assert (first.source, retry.source) == (RequestSource.COMMAND, RequestSource.RETRY)
    assert check_models_match(database_url) == []

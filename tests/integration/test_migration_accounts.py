"""Migration 0009 (the account of each instance) upgrades a database at the previous
head, on SQLite and PostgreSQL: an instance of a request made before reads back in the
account ``default``, the bot's own identity it was made with."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.migrate import check_models_match
from tests.fixtures_db import OldInsert, upgraded_from

# The head this migration follows; the one constant to change when re-chained.
PREVIOUS_HEAD = "0008"
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_upgrade_backfills_the_default_account(database_url: str) -> None:
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
    assert (instance.ref.account, instance.ref.region) == ("default", "cn-hangzhou")
    assert str(instance.ref) == "cn-hangzhou/i-bp1old0000001"
    assert check_models_match(database_url) == []


def test_upgrade_keeps_bindings_for_every_account_and_scopes_new_ones(database_url: str) -> None:
    from bot.domain.model import Role
    from bot.domain.policy import Binding

    old_binding: OldInsert = (
        "INSERT INTO role_bindings (subject, role, region, tag_key, tag_value, created_by,"
        " created_at) VALUES ('U1', 'operator', '', '', '', 'test', :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    with upgraded_from(database_url, PREVIOUS_HEAD, old_binding) as upgraded:
        with upgraded() as uow:
            assert uow.roles.list_all() == [Binding("U1", Role.OPERATOR)]
            # The same role again, scoped to one account, is a binding of its own.
            assert uow.roles.grant(Binding("U1", Role.OPERATOR, account="prod"), by="t", now=T0)
            assert not uow.roles.grant(Binding("U1", Role.OPERATOR, account="prod"), by="t", now=T0)
            uow.commit()
        with upgraded() as uow:
            assert {b.account for b in uow.roles.bindings_with_groups("U1")} == {"", "prod"}
    assert check_models_match(database_url) == []

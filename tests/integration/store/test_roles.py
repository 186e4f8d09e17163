"""Role bindings: one per subject, role and scope, however many grant it at once."""

from __future__ import annotations

from typing import Any

from bot.db.repositories import BindingRecord
from bot.domain.model import Role
from bot.domain.policy import Binding
from tests.integration.store.support import (
    T0,
    StoreFactory,
    after_another_commits,
    run_concurrently,
)

OPERATOR = Binding("U1", Role.OPERATOR)


OPERATOR_PROD = Binding("U1", Role.OPERATOR, "cn-hangzhou", "env", "prod")


def test_granting_twice_reports_the_second_as_existing(store: StoreFactory) -> None:
    with store() as uow:
        assert uow.roles.grant(OPERATOR, by="U9", now=T0)
        assert not uow.roles.grant(OPERATOR, by="U8", now=T0)
        # A scoped binding is a different binding.
        assert uow.roles.grant(OPERATOR_PROD, by="U9", now=T0)
        uow.commit()
    with store() as uow:
        assert not uow.roles.grant(OPERATOR, by="U9", now=T0)
        bindings = uow.roles.list_all()
        records = uow.roles.list_records()

    assert bindings == [OPERATOR, OPERATOR_PROD]
    assert records == [
        BindingRecord(OPERATOR, created_by="U9", created_at=T0),
        BindingRecord(OPERATOR_PROD, created_by="U9", created_at=T0),
    ]


def test_concurrent_grants_store_one_binding(store: StoreFactory) -> None:
    def grant() -> bool:
        with store() as uow:
            created = uow.roles.grant(OPERATOR, by="U9", now=T0)
            uow.commit()
            return created

    results = run_concurrently(4, grant)

    assert sorted(results) == [False, False, False, True]
    with store() as uow:
        assert uow.roles.list_all() == [OPERATOR]


def test_a_grant_decides_on_the_bindings_as_they_are_now(store: StoreFactory) -> None:
    def grant(by: str) -> Any:
        return lambda uow: uow.roles.grant(OPERATOR, by=by, now=T0)

    assert (
        after_another_commits(
            store, lambda uow: uow.roles.bindings_with_groups("U1"), grant("U8"), grant("U9")
        )
        is False
    )
    with store() as uow:
        assert uow.roles.list_records() == [BindingRecord(OPERATOR, created_by="U8", created_at=T0)]


def test_revoke_removes_exactly_one_binding(store: StoreFactory) -> None:
    admin = Binding("U1", Role.ADMIN)
    admin_hangzhou = Binding("U1", Role.ADMIN, region="cn-hangzhou")
    with store() as uow:
        assert not uow.roles.revoke(admin)
        uow.roles.grant(admin, by="U9", now=T0)
        uow.roles.grant(admin_hangzhou, by="U9", now=T0)
        assert uow.roles.revoke(admin)
        assert not uow.roles.revoke(admin)
        remaining = uow.roles.bindings_with_groups("U1")
        uow.commit()
    assert remaining == [admin_hangzhou]


def test_bindings_with_groups_reads_the_user_and_every_group_in_grant_order(
    store: StoreFactory,
) -> None:
    group_ops = Binding("S2", Role.OPERATOR)
    viewer = Binding("U1", Role.VIEWER)
    group_dev = Binding("S1", Role.OPERATOR, tag_key="env", tag_value="dev")
    with store() as uow:
        for binding in (group_ops, Binding("U2", Role.ADMIN), viewer, group_dev):
            uow.roles.grant(binding, by="U9", now=T0)
        uow.commit()

    with store() as uow:
        assert uow.roles.bindings_with_groups("U1") == [group_ops, viewer, group_dev]
        assert uow.roles.bindings_with_groups("U3") == [group_ops, group_dev]

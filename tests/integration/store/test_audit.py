"""The audit trail: read back in the order written."""

from __future__ import annotations

from datetime import UTC, timedelta

from tests.integration.store.support import (
    T0,
    StoreFactory,
)


def test_audit_lists_in_the_order_written(store: StoreFactory) -> None:
    with store() as uow:
        uow.audit.append(T0, "U1", "preview", "r1", {"instances": 2})
        uow.audit.append(T0, "U2", "grant", detail={"subject": "U3", "role": "operator"})
        uow.audit.append(T0 + timedelta(seconds=1), "U1", "confirm", "r1")
        uow.audit.append(T0 + timedelta(seconds=9), "system", "outcome", "r1", {"ok": True})
        uow.commit()

    with store() as uow:
        everything = uow.audit.list()
        of_r1 = uow.audit.list(request_id="r1")
        latest_two = uow.audit.list(limit=2)

    assert [e.action for e in everything] == ["preview", "grant", "confirm", "outcome"]
    assert [e.action for e in of_r1] == ["preview", "confirm", "outcome"]
    assert [e.action for e in latest_two] == ["confirm", "outcome"]
    assert everything[0].detail == {"instances": 2}
    assert everything[2].detail == {}
    assert everything[1].request_id is None
    assert all(entry.at.tzinfo is UTC for entry in everything)

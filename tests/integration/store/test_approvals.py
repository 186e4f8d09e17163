"""Approvals and retries: one approval per person, counted one after the other so the
quorum starts a request once; an approval wait that expires; a retry recorded once."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta
from typing import Any

from bot.domain.model import RequestState
from bot.services.ports import RequestUpdate
from tests.integration.store.support import (
    T0,
    StoreFactory,
    add,
    after_another_commits,
    make_request,
    run_concurrently,
)


def _awaiting(store: StoreFactory, needed: int) -> None:
    add(
        store,
        dataclasses.replace(
            make_request("r1", state=RequestState.AWAITING_APPROVAL),
            approvals_needed=needed,
            approval_expires_at=T0 + timedelta(minutes=30),
        ),
    )


def test_one_approval_per_person_and_none_once_the_request_moved_on(
    store: StoreFactory,
) -> None:
    _awaiting(store, 2)
    with store() as uow:
        first = uow.requests.add_approval("r1", "U200", T0)
        again = uow.requests.add_approval("r1", "U200", T0 + timedelta(seconds=1))
        uow.commit()
    with store() as uow:
        assert uow.requests.transition(
            "r1", [RequestState.AWAITING_APPROVAL], RequestState.REJECTED, RequestUpdate()
        )
        late = uow.requests.add_approval("r1", "U300", T0)
        uow.commit()
    with store() as uow:
        request = uow.requests.get("r1")
        [listed] = uow.requests.list_recent(5)
    assert (first, again, late) == (True, False, None)
    assert request is not None
    assert [(a.user, a.at) for a in request.approvals] == [("U200", T0)]
    assert listed.approvals == request.approvals


def test_concurrent_approvals_reach_the_quorum_and_start_it_once(store: StoreFactory) -> None:
    _awaiting(store, 2)
    users = iter(["U201", "U202", "U202", "U203"])

    def approve() -> bool:
        user = next(users)
        with store() as uow:
            recorded = uow.requests.add_approval("r1", user, T0)
            latest = uow.requests.get("r1")
            started = bool(
                recorded
                and latest is not None
                and len(latest.approvals) >= latest.approvals_needed
                and uow.requests.transition(
                    "r1", [RequestState.AWAITING_APPROVAL], RequestState.EXECUTING
                )
            )
            uow.commit()
            return started

    results = run_concurrently(4, approve)
    with store() as uow:
        request = uow.requests.get("r1")
    assert results.count(True) == 1
    assert request is not None
    assert request.state is RequestState.EXECUTING
    assert 2 <= len(request.approvals) <= 3


def test_an_approval_counts_those_committed_since_the_request_was_read(
    store: StoreFactory,
) -> None:
    _awaiting(store, 2)

    def approve(user: str) -> Any:
        def approved(uow: Any) -> int | None:
            if not uow.requests.add_approval("r1", user, T0):
                return None
            return len(uow.requests.get("r1").approvals)

        return approved

    assert (
        after_another_commits(
            store, lambda uow: uow.requests.get("r1"), approve("U201"), approve("U202")
        )
        == 2
    )


def test_a_retry_claim_decides_on_the_request_as_it_is_now(store: StoreFactory) -> None:
    add(store, make_request("r1", state=RequestState.FAILED))

    def claim(retry_id: str) -> Any:
        return lambda uow: uow.requests.claim_retry("r1", retry_id)

    assert (
        after_another_commits(store, lambda uow: uow.requests.get("r1"), claim("r2"), claim("r3"))
        is False
    )
    with store() as uow:
        request = uow.requests.get("r1")
    assert request is not None
    assert request.retried_by_request == "r2"


def test_awaiting_approval_expires_after_its_own_wait(store: StoreFactory) -> None:
    _awaiting(store, 1)
    with store() as uow:
        # Past the preview's expiry but within the approval wait: still waiting.
        early = uow.requests.expire_due(T0 + timedelta(minutes=10))
        late = uow.requests.expire_due(T0 + timedelta(minutes=30))
        uow.commit()
        request = uow.requests.get("r1")
    assert (early, late) == ([], ["r1"])
    assert request is not None
    assert request.state is RequestState.EXPIRED


def test_a_retry_is_recorded_once(store: StoreFactory) -> None:
    add(store, make_request("r1", state=RequestState.FAILED))
    results = run_concurrently(3, lambda: _claim(store))
    with store() as uow:
        request = uow.requests.get("r1")
    assert results.count(True) == 1
    assert request is not None
    assert request.retried_by_request is not None
    with store() as uow:
        uow.requests.release_retry("r1", request.retried_by_request)
        uow.commit()
        assert uow.requests.get("r1").retried_by_request is None  # type: ignore[union-attr]


def _claim(store: StoreFactory) -> bool:
    with store() as uow:
        won = uow.requests.claim_retry("r1", secrets.token_hex(4))
        uow.commit()
        return won

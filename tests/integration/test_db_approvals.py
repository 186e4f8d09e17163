"""The approvals schema (migration 0005) on SQLite and PostgreSQL: the upgrade from the
previous head keeps existing requests as they ran, approvals are one per person, the
quorum is counted one approval after the other, and a retry is recorded once."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta

from bot.domain.model import RequestState
from bot.services.ports import RequestUpdate
from tests.fixtures_db import OldInsert, UowFactory, upgraded_from
from tests.integration.test_db import T0, add, make_request, run_concurrently

# The head before this feature: the merger re-chains 0005 onto whatever comes first.
PREVIOUS_HEAD = "0004"


def test_upgrading_from_the_previous_head_keeps_requests_as_they_ran(database_url: str) -> None:
    old_request: OldInsert = (
        "INSERT INTO reboot_requests (id, state, requester, channel, created_at, expires_at,"
        " finished_at) VALUES ('old', 'succeeded', 'U1', 'C1', :at, :at, :at)",
        {"at": T0.replace(tzinfo=None)},
    )
    with upgraded_from(database_url, PREVIOUS_HEAD, old_request) as upgraded:
        with upgraded() as uow:
            old = uow.requests.get("old")
            uow.requests.add(
                dataclasses.replace(make_request("new"), reason="patch", retry_of="old")
            )
            uow.commit()
        with upgraded() as uow:
            new = uow.requests.get("new")
    assert old is not None
    assert new is not None
    assert (old.reason, old.approvals_needed, old.approvals, old.retry_of) == (None, 0, (), None)
    assert (new.reason, new.retry_of) == ("patch", "old")


def _awaiting(uow_factory: UowFactory, needed: int) -> None:
    add(
        uow_factory,
        dataclasses.replace(
            make_request("r1", state=RequestState.AWAITING_APPROVAL),
            approvals_needed=needed,
            approval_expires_at=T0 + timedelta(minutes=30),
        ),
    )


def test_one_approval_per_person_and_none_once_the_request_moved_on(
    uow_factory: UowFactory,
) -> None:
    _awaiting(uow_factory, 2)
    with uow_factory() as uow:
        first = uow.requests.add_approval("r1", "U200", T0)
        again = uow.requests.add_approval("r1", "U200", T0 + timedelta(seconds=1))
        uow.commit()
    with uow_factory() as uow:
        assert uow.requests.transition(
            "r1", [RequestState.AWAITING_APPROVAL], RequestState.REJECTED, RequestUpdate()
        )
        late = uow.requests.add_approval("r1", "U300", T0)
        uow.commit()
    with uow_factory() as uow:
        request = uow.requests.get("r1")
        [listed] = uow.requests.list_recent(5)
    assert (first, again, late) == (True, False, None)
    assert request is not None
    assert [(a.user, a.at) for a in request.approvals] == [("U200", T0)]
    assert listed.approvals == request.approvals


def test_concurrent_approvals_reach_the_quorum_and_start_it_once(uow_factory: UowFactory) -> None:
    _awaiting(uow_factory, 2)
    users = iter(["U201", "U202", "U202", "U203"])

    def approve() -> bool:
        user = next(users)
        with uow_factory() as uow:
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
    with uow_factory() as uow:
        request = uow.requests.get("r1")
    assert results.count(True) == 1
    assert request is not None
    assert request.state is RequestState.EXECUTING
    assert 2 <= len(request.approvals) <= 3


def test_awaiting_approval_expires_after_its_own_wait(uow_factory: UowFactory) -> None:
    _awaiting(uow_factory, 1)
    with uow_factory() as uow:
        # Past the preview's expiry but within the approval wait: still waiting.
        early = uow.requests.expire_due(T0 + timedelta(minutes=10))
        late = uow.requests.expire_due(T0 + timedelta(minutes=30))
        uow.commit()
        request = uow.requests.get("r1")
    assert (early, late) == ([], ["r1"])
    assert request is not None
    assert request.state is RequestState.EXPIRED


def test_a_retry_is_recorded_once(uow_factory: UowFactory) -> None:
    add(uow_factory, make_request("r1", state=RequestState.FAILED))
    results = run_concurrently(3, lambda: _claim(uow_factory))
    with uow_factory() as uow:
        request = uow.requests.get("r1")
    assert results.count(True) == 1
    assert request is not None
    assert request.retried_by_request is not None
    with uow_factory() as uow:
        uow.requests.release_retry("r1", request.retried_by_request)
        uow.commit()
        assert uow.requests.get("r1").retried_by_request is None  # type: ignore[union-attr]


def _claim(uow_factory: UowFactory) -> bool:
    with uow_factory() as uow:
        won = uow.requests.claim_retry("r1", secrets.token_hex(4))
        uow.commit()
        return won

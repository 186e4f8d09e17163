"""Leases on running requests: claimed by one owner at a time, renewed and released by
their holder only, taken over once expired, dropped when the request finishes."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from typing import Any

from bot.domain.model import RequestState
from bot.domain.request import RebootRequest
from bot.services.ports import Lease, RequestUpdate
from tests.integration.store.support import (
    T0,
    StoreFactory,
    add,
    after_another_commits,
    make_request,
    run_concurrently,
)


def _executing(*ids: str) -> list[RebootRequest]:
    return [
        make_request(request_id, state=RequestState.EXECUTING, created_at=T0 + timedelta(n))
        for n, request_id in enumerate(ids)
    ]


def test_two_owners_never_claim_the_same_request(store: StoreFactory) -> None:
    add(store, *_executing("a", "b", "c"), make_request("p"))
    now = T0 + timedelta(minutes=1)

    with store() as uow:
        first = uow.leases.claim_due("poller-1", now, lease_seconds=30, limit=2)
        uow.commit()
    with store() as uow:
        second = uow.leases.claim_due("poller-2", now, lease_seconds=30, limit=10)
        third = uow.leases.claim_due("poller-3", now, lease_seconds=30, limit=10)
        uow.commit()

    assert first == ["a", "b"]
    assert second == ["c"]
    assert third == []


def test_concurrent_pollers_split_the_work(store: StoreFactory) -> None:
    ids = [f"r{n:02d}" for n in range(12)]
    add(store, *_executing(*ids))
    now = T0 + timedelta(days=30)

    def poll() -> list[str]:
        with store() as uow:
            owner = f"poller-{threading.get_ident()}"
            claimed = uow.leases.claim_due(owner, now, lease_seconds=30, limit=5)
            uow.commit()
            return claimed

    claims = run_concurrently(4, poll)

    claimed = [request_id for claim in claims for request_id in claim]
    # Nobody holds a request twice, and four pollers of five cover all twelve.
    assert sorted(claimed) == ids


def test_a_claim_decides_on_the_lease_as_it_is_now(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)

    def claim(owner: str) -> Any:
        return lambda uow: uow.leases.claim_due(owner, now, 30, limit=10)

    assert (
        after_another_commits(store, lambda uow: uow.requests.get("a"), claim("one"), claim("two"))
        == []
    )


def test_an_expired_lease_is_taken_over_and_fences_the_old_owner(
    store: StoreFactory,
) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    [instance] = _executing("a")[0].instances

    with store() as uow:
        assert uow.leases.claim_due("dead", now, lease_seconds=30) == ["a"]
        uow.commit()
    with store() as uow:
        assert uow.leases.claim_due("alive", now + timedelta(seconds=29), 30) == []
        assert uow.leases.claim_due("alive", now + timedelta(seconds=30), 30) == ["a"]
        uow.commit()

    stopped = dataclasses.replace(instance, status="Stopped")
    running = dataclasses.replace(instance, status="Running", seen_leaving_running=True)
    with store() as uow:
        assert not uow.leases.renew_lease("a", "dead", now, 30)
        assert not uow.requests.save_instances("a", [stopped], owner="dead")
        assert not uow.requests.set_fields("a", RequestUpdate(progress_text="stale"), owner="dead")
        assert not uow.leases.release("a", "dead")
        assert uow.requests.save_instances("a", [running], owner="alive")
        assert uow.leases.renew_lease("a", "alive", now + timedelta(seconds=40), 30)
        uow.commit()

    with store() as uow:
        loaded = uow.requests.get("a")
    assert loaded is not None
    assert loaded.instances == (running,)
    assert loaded.progress_text is None


def test_release_lets_another_poller_claim_at_once(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with store() as uow:
        assert uow.leases.claim_due("one", now, 30) == ["a"]
        assert uow.leases.release("a", "one")
        assert uow.leases.claim_due("two", now, 30) == ["a"]
        uow.commit()


def test_claim_due_respects_next_poll_at_and_state(store: StoreFactory) -> None:
    add(store, *_executing("a", "b"), make_request("p"))
    now = T0 + timedelta(days=5)
    with store() as uow:
        assert uow.requests.set_fields("a", RequestUpdate(next_poll_at=now + timedelta(seconds=2)))
        assert uow.leases.claim_due("one", now, 30) == ["b"]
        assert uow.leases.claim_due("two", now + timedelta(seconds=2), 30) == ["a"]
        uow.commit()


def test_claim_due_renews_a_lease_the_owner_already_holds(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with store() as uow:
        assert uow.leases.claim_due("one", now, 30) == ["a"]
        assert uow.leases.claim_due("one", now + timedelta(seconds=1), 30) == ["a"]
        uow.commit()


def test_finishing_a_request_drops_its_lease(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with store() as uow:
        assert uow.leases.claim_due("one", now, 30) == ["a"]
        assert uow.requests.transition(
            "a", RequestState.EXECUTING, RequestState.SUCCEEDED, RequestUpdate(finished_at=now)
        )
        assert not uow.leases.release("a", "one")
        assert uow.leases.claim_due("two", now, 30) == []
        uow.commit()


def test_a_transition_takes_its_lease_in_the_same_write(store: StoreFactory) -> None:
    """The confirm worker's lease comes with its ``previewed → executing`` move: no
    poller claims the request between the two."""
    add(store, make_request("r1"))
    with store() as uow:
        assert uow.requests.transition(
            "r1",
            [RequestState.PREVIEWED],
            RequestState.EXECUTING,
            RequestUpdate(confirmed_by="U1"),
            lease=Lease("worker", T0 + timedelta(seconds=30)),
        )
        uow.commit()
    with store() as uow:
        assert uow.leases.claim_due("poller", T0 + timedelta(seconds=29), 30) == []
        assert uow.leases.renew_lease("r1", "worker", T0 + timedelta(seconds=29), 30)
        assert uow.leases.claim_due("poller", T0 + timedelta(seconds=58), 30) == []
        assert uow.leases.claim_due("poller", T0 + timedelta(seconds=59), 30) == ["r1"]
        uow.commit()

"""Leases on running requests: claimed by one owner at a time, renewed and released by
their holder only, taken over once expired, dropped when the request finishes."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

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


def claim(uow: Any, owner: str, now: datetime, lease_seconds: float, limit: int = 10) -> list[str]:
    """What a poller worker does (``lease.hand_over``): peek due ids, claim each."""
    peeked = uow.leases.peek_due(owner, now, limit)
    return [r for r in peeked if uow.leases.claim(r, owner, now, lease_seconds)]


def _executing(*ids: str) -> list[RebootRequest]:
    return [
        make_request(request_id, state=RequestState.EXECUTING, created_at=T0 + timedelta(n))
        for n, request_id in enumerate(ids)
    ]


def test_two_owners_never_claim_the_same_request(store: StoreFactory) -> None:
    add(store, *_executing("a", "b", "c"), make_request("p"))
    now = T0 + timedelta(minutes=1)

    with store() as uow:
        first = claim(uow, "poller-1", now, lease_seconds=30, limit=2)
        uow.commit()
    with store() as uow:
        second = claim(uow, "poller-2", now, lease_seconds=30, limit=10)
        third = claim(uow, "poller-3", now, lease_seconds=30, limit=10)
        uow.commit()

    assert first == ["a", "b"]
    assert second == ["c"]
    assert third == []


def test_concurrent_pollers_split_the_work(store: StoreFactory) -> None:
    ids = [f"r{n:02d}" for n in range(12)]
    add(store, *_executing(*ids))
    now = T0 + timedelta(days=30)

    def poll() -> list[str]:
        owner = f"poller-{threading.get_ident()}"
        stepped: list[str] = []
        # As a poller's worker: claim a few, "step" each and give it back due tomorrow,
        # until a round wins nothing.
        while True:
            with store() as uow:
                claimed = claim(uow, owner, now, lease_seconds=30, limit=5)
                for request_id in claimed:
                    assert uow.leases.release(request_id, owner, next_poll_at=tomorrow)
                uow.commit()
            if not claimed:
                return stepped
            stepped.extend(claimed)

    tomorrow = now + timedelta(days=1)
    claims = run_concurrently(4, poll)

    stepped = [request_id for one_poller in claims for request_id in one_poller]
    # Nobody stepped a request another stepped, and the four pollers covered all twelve.
    assert sorted(stepped) == ids


def test_a_claim_decides_on_the_lease_as_it_is_now(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)

    def by(owner: str) -> Any:
        return lambda uow: claim(uow, owner, now, 30, limit=10)

    assert (
        after_another_commits(store, lambda uow: uow.requests.get("a"), by("one"), by("two")) == []
    )


def test_an_expired_lease_is_taken_over_and_fences_the_old_owner(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    [instance] = _executing("a")[0].instances

    with store() as uow:
        assert claim(uow, "dead", now, lease_seconds=30) == ["a"]
        uow.commit()
    with store() as uow:
        assert claim(uow, "alive", now + timedelta(seconds=29), 30) == []
        assert claim(uow, "alive", now + timedelta(seconds=30), 30) == ["a"]
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
        assert claim(uow, "one", now, 30) == ["a"]
        assert uow.leases.release("a", "one")
        assert claim(uow, "two", now, 30) == ["a"]
        uow.commit()


def test_a_claim_respects_next_poll_at_and_state(store: StoreFactory) -> None:
    add(store, *_executing("a", "b"), make_request("p"))
    now = T0 + timedelta(days=5)
    with store() as uow:
        assert uow.requests.set_fields("a", RequestUpdate(next_poll_at=now + timedelta(seconds=2)))
        assert claim(uow, "one", now, 30) == ["b"]
        assert claim(uow, "two", now + timedelta(seconds=2), 30) == ["a"]
        uow.commit()


def test_a_claim_renews_a_lease_the_owner_already_holds(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with store() as uow:
        assert claim(uow, "one", now, 30) == ["a"]
        assert claim(uow, "one", now + timedelta(seconds=1), 30) == ["a"]
        uow.commit()


def test_finishing_a_request_drops_its_lease(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    with store() as uow:
        assert claim(uow, "one", now, 30) == ["a"]
        assert uow.requests.transition(
            "a", RequestState.EXECUTING, RequestState.SUCCEEDED, RequestUpdate(finished_at=now)
        )
        assert not uow.leases.release("a", "one")
        assert claim(uow, "two", now, 30) == []
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
        assert claim(uow, "poller", T0 + timedelta(seconds=29), 30) == []
        assert uow.leases.renew_lease("r1", "worker", T0 + timedelta(seconds=29), 30)
        assert claim(uow, "poller", T0 + timedelta(seconds=58), 30) == []
        assert claim(uow, "poller", T0 + timedelta(seconds=59), 30) == ["r1"]
        uow.commit()


def test_one_claim_by_id_wins_among_racing_workers(store: StoreFactory) -> None:
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)

    def race() -> bool:
        with store() as uow:
            won = uow.leases.claim("a", f"poller-{threading.get_ident()}", now, 30)
            uow.commit()
            return won

    assert sorted(run_concurrently(4, race)) == [False, False, False, True]


def test_peek_due_leases_nothing_and_lists_the_claim_order(store: StoreFactory) -> None:
    add(store, *_executing("a", "b", "c"), make_request("p"))
    now = T0 + timedelta(days=5)
    with store() as uow:
        assert uow.requests.set_fields("a", RequestUpdate(next_poll_at=now - timedelta(seconds=1)))
        assert uow.leases.claim("c", "other", now, 30)
        uow.commit()
    with store() as uow:
        # Never polled first, then the most overdue; a request someone holds is not due.
        assert uow.leases.peek_due("one", now, 10) == ["b", "a"]
        assert uow.leases.peek_due("one", now, 1) == ["b"]
        assert uow.leases.peek_due("other", now, 10) == ["b", "c", "a"]
    with store() as uow:
        assert uow.leases.claim("b", "one", now, 30)


def test_a_claim_by_id_passes_over_a_row_another_unit_is_writing(
    store: StoreFactory, request: pytest.FixtureRequest
) -> None:
    """SKIP LOCKED: a poller does not queue behind a click's (or another
    poller's) transaction. SQLite has no row locks: its one writer at a time is the
    database's own lock, which every writer waits for."""
    if "sqlite" in request.node.callspec.id:
        pytest.skip("SQLite locks the database, not rows")
    add(store, *_executing("a"))
    now = T0 + timedelta(minutes=1)
    writing, done = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with store() as uow:
            uow.requests.set_fields("a", RequestUpdate(progress_text="busy"))
            writing.set()
            done.wait(10)
            uow.commit()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        with store() as uow:
            assert not uow.leases.claim("a", "poller", now, 30)
            uow.commit()
        assert time.monotonic() - started < 2
    finally:
        done.set()
        holder.join(10)
    with store() as uow:
        assert uow.leases.claim("a", "poller", now, 30)

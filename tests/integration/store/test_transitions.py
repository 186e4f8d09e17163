"""The conditional state moves: one winner among any number of callers, only the moves
the state machine allows, ``set_fields`` only under its conditions, and expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.model import RequestState, StopReason
from bot.services.ports import RequestUpdate
from tests.integration.store.support import (
    T0,
    TTL,
    StoreFactory,
    add,
    after_another_commits,
    make_request,
    run_concurrently,
)


def test_transition_moves_state_and_sets_fields(store: StoreFactory) -> None:
    add(store, make_request("r1"))

    with store() as uow:
        won = uow.requests.transition(
            "r1",
            [RequestState.PREVIEWED],
            RequestState.EXECUTING,
            RequestUpdate(confirmed_by="U200", confirmed_at=T0 + timedelta(seconds=5)),
        )
        seen_inside = uow.requests.get("r1")
        uow.commit()

    assert won is True
    assert seen_inside is not None
    assert seen_inside.state is RequestState.EXECUTING
    with store() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert (loaded.state, loaded.confirmed_by) == (RequestState.EXECUTING, "U200")
    assert loaded.confirmed_at == T0 + timedelta(seconds=5)


def test_second_caller_loses_the_transition(store: StoreFactory) -> None:
    add(store, make_request("r1"))
    results = []
    for clicker in ("U1", "U2"):
        with store() as uow:
            results.append(
                uow.requests.transition(
                    "r1",
                    RequestState.PREVIEWED,
                    RequestState.EXECUTING,
                    RequestUpdate(confirmed_by=clicker),
                )
            )
            uow.commit()

    assert results == [True, False]
    with store() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert loaded.confirmed_by == "U1"


def test_concurrent_transitions_have_exactly_one_winner(store: StoreFactory) -> None:
    add(store, make_request("r1"))

    def click() -> bool:
        with store() as uow:
            won = uow.requests.transition("r1", RequestState.PREVIEWED, RequestState.EXECUTING)
            uow.commit()
            return won

    results = run_concurrently(8, click)

    assert sorted(results, key=bool) == [False] * 7 + [True]


def test_a_unit_that_read_before_the_winner_committed_still_loses(store: StoreFactory) -> None:
    """The threads above may or may not meet; here the loser certainly read the request
    while it was still ``previewed``, and must not move it again."""
    add(store, make_request("r1"))

    def move(uow: Any) -> bool:
        won: bool = uow.requests.transition("r1", RequestState.PREVIEWED, RequestState.EXECUTING)
        return won

    assert after_another_commits(store, lambda uow: uow.requests.get("r1"), move, move) is False


def test_set_fields_while_in_decides_on_the_state_as_it_is_now(store: StoreFactory) -> None:
    """An Abort read an executing request that finished before its write: nothing is
    written."""
    add(store, make_request("r1", state=RequestState.EXECUTING))

    def finish(uow: Any) -> None:
        uow.requests.transition("r1", RequestState.EXECUTING, RequestState.SUCCEEDED)

    def abort(uow: Any) -> bool:
        stop = RequestUpdate(stop_reason=StopReason.ABORT, stopped_by="U200")
        done: bool = uow.requests.set_fields("r1", stop, while_in=RequestState.EXECUTING)
        return done

    assert after_another_commits(store, lambda uow: uow.requests.get("r1"), finish, abort) is False
    with store() as uow:
        request = uow.requests.get("r1")
    assert request is not None
    assert (request.state, request.stop_reason) == (RequestState.SUCCEEDED, None)


def test_an_unstopped_final_move_decides_on_the_stop_as_it_is_now(store: StoreFactory) -> None:
    """The other side of the race: the poller read an executing request without a stop
    and decided it succeeded; an Abort committed before its final move. The move
    (``unstopped``) must lose, or the request would end succeeded with a stop on it."""
    add(store, make_request("r1", state=RequestState.EXECUTING))

    def abort(uow: Any) -> None:
        stop = RequestUpdate(stop_reason=StopReason.ABORT, stopped_by="U200")
        uow.requests.set_fields("r1", stop, while_in=RequestState.EXECUTING)

    def finish(uow: Any) -> bool:
        done: bool = uow.requests.transition(
            "r1", RequestState.EXECUTING, RequestState.SUCCEEDED, unstopped=True
        )
        return done

    assert after_another_commits(store, lambda uow: uow.requests.get("r1"), abort, finish) is False
    with store() as uow:
        request = uow.requests.get("r1")
        assert request is not None
        assert (request.state, request.stop_reason) == (RequestState.EXECUTING, "abort")
        # With the stop read, the move to aborted goes through.
        assert uow.requests.transition(
            "r1", RequestState.EXECUTING, RequestState.ABORTED, unstopped=False
        )
        uow.commit()


def test_transition_refuses_moves_the_state_machine_forbids(store: StoreFactory) -> None:
    add(store, make_request("r1"))
    with store() as uow:
        with pytest.raises(ValueError, match="cannot move"):
            uow.requests.transition("r1", RequestState.SUCCEEDED, RequestState.EXECUTING)
        with pytest.raises(TypeError, match="state"):
            uow.requests.transition(  # type: ignore[call-arg]
                "r1", RequestState.PREVIEWED, RequestState.CANCELLED, state="executing"
            )


def test_unknown_request_does_not_transition(store: StoreFactory) -> None:
    with store() as uow:
        assert not uow.requests.transition("nope", RequestState.PREVIEWED, RequestState.EXPIRED)


def test_set_fields_while_in_writes_only_in_that_state(store: StoreFactory) -> None:
    """Abort's write: recorded on an executing request, refused (nothing written) on one
    that finished since it was loaded."""
    add(
        store,
        make_request("running", state=RequestState.EXECUTING),
        make_request("done", state=RequestState.SUCCEEDED),
    )
    stop = RequestUpdate(stop_reason=StopReason.ABORT, stopped_by="U200")
    with store() as uow:
        assert uow.requests.set_fields("running", stop, while_in=RequestState.EXECUTING)
        assert not uow.requests.set_fields("done", stop, while_in=RequestState.EXECUTING)
        uow.commit()
    with store() as uow:
        running, done = uow.requests.get("running"), uow.requests.get("done")
    assert running is not None
    assert done is not None
    assert (running.stop_reason, running.stopped_by) == ("abort", "U200")
    assert (done.stop_reason, done.stopped_by) == (None, None)


def test_expire_due_expires_only_stale_previews_once(store: StoreFactory) -> None:
    add(
        store,
        make_request("stale", created_at=T0),
        make_request("edge", created_at=T0 + timedelta(seconds=60)),
        make_request("fresh", created_at=T0 + timedelta(seconds=61)),
        make_request("running", created_at=T0, state=RequestState.EXECUTING),
    )
    now = T0 + TTL + timedelta(seconds=60)

    with store() as uow:
        first = uow.requests.expire_due(now)
        second = uow.requests.expire_due(now)
        states = {r.id: r.state for r in uow.requests.list_recent(10)}
        uow.commit()

    assert first == ["edge", "stale"]
    assert second == []
    assert states == {
        "stale": RequestState.EXPIRED,
        "edge": RequestState.EXPIRED,
        "fresh": RequestState.PREVIEWED,
        "running": RequestState.EXECUTING,
    }

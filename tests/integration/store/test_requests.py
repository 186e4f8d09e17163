"""Requests and their instances: stored and read back as given, listed newest first,
written field by field, and nothing kept without a commit."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Verdict
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.ports import RequestUpdate
from tests.integration.store.support import (
    T0,
    TTL,
    StoreFactory,
    add,
    make_request,
)


def test_request_round_trips_with_instances_in_the_order_given(store: StoreFactory) -> None:
    instances = (
        PlannedInstance(
            ref=InstanceRef("cn-shanghai", "i-uf6zzzzzzzz"),
            position=1,
            verdict=Verdict.NOT_RUNNING,
            status="Stopped",
            verdict_code="IncorrectInstanceStatus",
            verdict_message="The instance is stopped.",
        ),
        PlannedInstance(
            ref=InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa"),
            position=0,
            verdict=Verdict.WILL_REBOOT,
            name="web-1",
            status="Running",
            zone="cn-hangzhou-h",
            tags={"env": "prod", "team": "core"},
            start_time_before=T0 - timedelta(days=3),
        ),
    )
    request = make_request("r1", instances=instances)
    add(store, request)

    with store() as uow:
        loaded = uow.requests.get("r1")

    assert loaded is not None
    assert [i.position for i in loaded.instances] == [0, 1]
    assert loaded == RebootRequest(
        **{**request.__dict__, "instances": (instances[1], instances[0])}
    )
    assert isinstance(loaded.state, RequestState)
    assert isinstance(loaded.instances[0].outcome, InstanceOutcome)


def test_get_of_an_unknown_request_is_none(store: StoreFactory) -> None:
    with store() as uow:
        assert uow.requests.get("nope") is None


def test_list_recent_returns_each_request_with_its_own_instances(
    store: StoreFactory,
) -> None:
    other = PlannedInstance(
        ref=InstanceRef("cn-shanghai", "i-uf6"), position=0, verdict=Verdict.DENIED
    )
    add(
        store,
        make_request("a", created_at=T0),
        make_request("b", created_at=T0 + TTL, instances=(other,)),
    )

    with store() as uow:
        recent = uow.requests.list_recent(10)
        loaded = [uow.requests.get("b"), uow.requests.get("a")]

    assert recent == loaded


def test_list_recent_is_newest_first_and_filters(store: StoreFactory) -> None:
    add(
        store,
        make_request("old", created_at=T0, requester="U1"),
        make_request("mid", created_at=T0 + timedelta(minutes=1), requester="U2"),
        make_request(
            "new",
            created_at=T0 + timedelta(minutes=2),
            requester="U1",
            state=RequestState.EXECUTING,
        ),
    )

    with store() as uow:
        every = [r.id for r in uow.requests.list_recent(10)]
        newest = [r.id for r in uow.requests.list_recent(1)]
        by_user = [r.id for r in uow.requests.list_recent(10, user="U1")]
        by_state = [r.id for r in uow.requests.list_recent(10, state=RequestState.PREVIEWED)]
        since = [r.id for r in uow.requests.list_recent(10, since=T0 + timedelta(minutes=1))]
        with_instances = uow.requests.list_recent(1)[0].instances

    assert every == ["new", "mid", "old"]
    assert newest == ["new"]
    assert by_user == ["new", "old"]
    assert by_state == ["mid", "old"]
    assert since == ["new", "mid"]
    assert len(with_instances) == 1


def test_leaving_without_commit_rolls_back(store: StoreFactory) -> None:
    with store() as uow:
        uow.requests.add(make_request("r1"))
        uow.audit.append(T0, "U100", "preview", "r1")

    with store() as uow:
        assert uow.requests.get("r1") is None
        assert uow.audit.list() == []


def test_unit_of_work_is_only_usable_inside_its_block(store: StoreFactory) -> None:
    uow = store()
    with pytest.raises(RuntimeError, match="with"):
        uow.commit()
    with uow:
        requests = uow.requests
    with pytest.raises(AttributeError):
        _ = uow.requests
    assert requests is not None


def test_update_sets_bookkeeping_fields(store: StoreFactory) -> None:
    add(store, make_request("r1"))
    with store() as uow:
        assert uow.requests.set_fields(
            "r1", RequestUpdate(message_ts="1700000000.000100", progress_text="0/1 back")
        )
        assert not uow.requests.set_fields("nope", RequestUpdate(message_ts="1"))
        uow.commit()
    with store() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert (loaded.message_ts, loaded.progress_text) == ("1700000000.000100", "0/1 back")


def test_save_instances_writes_snapshots_back(store: StoreFactory) -> None:
    add(store, make_request("r1", state=RequestState.EXECUTING))
    with store() as uow:
        request = uow.requests.get("r1")
        assert request is not None
        done = dataclasses.replace(
            request.instances[0],
            outcome=InstanceOutcome.SUCCEEDED,
            status="Running",
            finished_at=T0 + timedelta(minutes=2),
            reported_outcome=InstanceOutcome.SUCCEEDED,
        )
        assert uow.requests.save_instances("r1", [done])
        uow.commit()

    with store() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert loaded.instances == (done,)


def test_save_instances_reports_an_instance_the_request_does_not_have(
    store: StoreFactory,
) -> None:
    """The instances it has are written; the answer says one was not (a bug upstream)."""
    add(store, make_request("r1", state=RequestState.EXECUTING))
    [instance] = make_request("r1").instances
    known = dataclasses.replace(instance, status="Stopping")
    stranger = dataclasses.replace(instance, ref=InstanceRef("cn-hangzhou", "i-bp1notthere"))
    with store() as uow:
        assert not uow.requests.save_instances("r1", [known, stranger])
        assert not uow.requests.save_instances("nope", [known])
        uow.commit()
    with store() as uow:
        loaded = uow.requests.get("r1")
    assert loaded is not None
    assert loaded.instances == (known,)


def test_skip_pending_leaves_sent_instances_alone(store: StoreFactory) -> None:
    instances = tuple(
        PlannedInstance(
            ref=InstanceRef("cn-hangzhou", f"i-bp1instance{n}"),
            position=n,
            verdict=Verdict.WILL_REBOOT if n == 0 else Verdict.NOT_FOUND,
            outcome=InstanceOutcome.REBOOTING if n == 0 else InstanceOutcome.PENDING,
        )
        for n in range(3)
    )
    add(store, make_request("r1", instances=instances))
    with store() as uow:
        uow.requests.skip_pending("r1")
        loaded = uow.requests.get("r1")

    assert loaded is not None
    assert [i.outcome for i in loaded.instances] == [
        InstanceOutcome.REBOOTING,
        InstanceOutcome.SKIPPED,
        InstanceOutcome.SKIPPED,
    ]


def test_a_move_to_a_final_state_makes_a_redraw_due_until_it_is_drawn(
    store: StoreFactory,
) -> None:
    add(store, make_request("r1", created_at=T0, state=RequestState.EXECUTING))
    finished = T0 + timedelta(minutes=5)
    with store() as uow:
        assert uow.requests.transition(
            "r1",
            [RequestState.EXECUTING],
            RequestState.SUCCEEDED,
            RequestUpdate(finished_at=finished, notify_end_due=True),
        )
        uow.commit()
    long_ago = T0 - timedelta(days=1)
    with store() as uow:
        too_soon = uow.requests.redraw_due(finished - timedelta(seconds=1), long_ago)
        given_up = uow.requests.redraw_due(finished + timedelta(days=1), finished + timedelta(1))
        due = uow.requests.redraw_due(finished, long_ago)
        notify = uow.requests.notify_end_due(finished, long_ago)
        uow.requests.set_fields("r1", RequestUpdate(message_redraw_due=False))
        uow.commit()
    with store() as uow:
        drawn = uow.requests.redraw_due(finished + timedelta(days=1), long_ago)
        still_to_notify = uow.requests.notify_end_due(finished, long_ago)
    assert (too_soon, given_up, due, drawn) == ([], [], ["r1"], [])
    assert notify == still_to_notify == ["r1"]

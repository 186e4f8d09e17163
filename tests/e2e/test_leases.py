"""Nothing held, nothing lost (docs/PRODUCT.md §5.4, §5.7, §9): a click is recorded before it is
acked, pollers lease one request at a time on short renewed leases, and a final redraw
that Slack refused is drawn on a later tick.

Driven through signed HTTP and the poller's tick on the manual clock, like the other
end-to-end tests; where a poller must be caught in the middle of a step, the simulator
makes that step slow and the test waits (bounded) for the lease to appear.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.domain.model import RequestState
from bot.services.context import Context
from bot.services.lease import LEASE_SECONDS, LeaseKeeper
from bot.services.poller import PollReport, poll_once
from bot.slack.blocks import ACTION_CANCEL, ACTION_CONFIRM
from bot.testing.waiting import wait_until
from tests.e2e.harness import CHANNEL, NOTIFY, OPERATOR, REGION, Harness, buttons


def _previewed(h: Harness, count: int = 1, *, skip: int = 0) -> str:
    h.command(" ".join(h.sim.fleet.ids(REGION)[skip : skip + count]))
    h.settle()
    request_id, _ = h.last_preview()
    return request_id


def _lease(h: Harness, request_id: str) -> tuple[str | None, datetime | None]:
    with h.bot.engine.connect() as connection:
        row = connection.execute(
            text("SELECT lease_owner, lease_expires_at FROM reboot_requests WHERE id = :id"),
            {"id": request_id},
        ).one()
    expires = row[1]
    if isinstance(expires, str):  # SQLite hands the raw text back to a textual query
        expires = datetime.fromisoformat(expires)
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return row[0], expires


def _reboots(h: Harness) -> int:
    return h.sim.calls.count("RebootInstances", dry_run=False)


# --- the click ------------------------------------------------------------------------


def _occupy_every_worker(h: Harness, request_id: str) -> None:
    """Every worker of the bot's pool busy telling a stranger "no" (Slack answering
    slowly), so what follows the next ack waits in the queue: only what the ack path
    itself did is in the database when the HTTP answer comes."""
    h.slack.latency("chat.postEphemeral", 2.0)
    for n in range(h.bot.jobs.workers):
        assert h.click(ACTION_CONFIRM, request_id, user=f"U0NOSY{n:02d}").status_code == 200


def test_a_click_is_recorded_before_its_ack_and_a_lost_worker_loses_nothing(
    harness: Harness,
) -> None:
    h = harness
    request_id = _previewed(h)
    _occupy_every_worker(h, request_id)

    assert h.click(ACTION_CONFIRM, request_id).status_code == 200

    # Acked means recorded, though no worker has run the click yet.
    request = h.request(request_id)
    assert (request.state, request.confirmed_by) == (RequestState.EXECUTING, OPERATOR)
    assert "confirm" in h.audit_actions(request_id)
    assert _reboots(h) == 0
    # Were this process killed now, its lease runs out and a replica sends the call.
    owner, expires = _lease(h, request_id)
    assert owner is not None
    assert owner.endswith(f"/confirm/{request_id}")
    assert expires is not None
    assert (expires - h.clock.now()).total_seconds() <= LEASE_SECONDS
    replica = dataclasses.replace(h.bot.ctx, owner="replica-2")
    h.clock.advance(LEASE_SECONDS + 1)
    assert poll_once(replica, h.clock.now()).advanced == [request_id]
    assert _reboots(h) == 1

    # The late worker finds its lease gone and sends nothing.
    h.slack.latency("chat.postEphemeral", 0)
    h.settle()
    assert _reboots(h) == 1
    h.run_until_final(request_id, step=2, ctx=replica)
    assert h.request(request_id).state is RequestState.SUCCEEDED
    [instance] = h.request(request_id).instances
    assert h.sim.fleet.reboot_count(REGION, instance.ref.instance_id) == 1


def test_a_cancel_is_recorded_before_its_ack(harness: Harness) -> None:
    h = harness
    request_id = _previewed(h)
    _occupy_every_worker(h, request_id)
    assert h.click(ACTION_CANCEL, request_id).status_code == 200
    assert h.request(request_id).state is RequestState.CANCELLED
    h.slack.latency("chat.postEphemeral", 0)
    h.settle()
    assert not buttons(h.last_preview()[1].blocks)


def test_a_click_while_the_database_is_away_is_told_so(harness: Harness) -> None:
    h = harness
    url = h.bot.settings.database_url
    if not url.startswith("sqlite"):
        pytest.skip("removing the database file is how this test takes SQLite away")
    request_id = _previewed(h)
    h.bot.engine.dispose()
    os.remove(url.removeprefix("sqlite:///"))

    assert h.click(ACTION_CONFIRM, request_id).status_code == 200
    h.settle()
    [told] = h.ephemerals(OPERATOR)
    assert "database is not answering" in told
    assert "Nothing was done" in told
    assert _reboots(h) == 0


# --- leases -----------------------------------------------------------------------------


def test_a_poller_leases_one_request_at_a_time(harness: Harness) -> None:
    h = harness
    first = h.confirmed()
    second = h.confirmed(skip=1)
    h.clock.advance(5)
    now = h.clock.now()
    h.sim.faults.latency("DescribeInstances", 1.0)
    reports: list[PollReport] = []
    slow = threading.Thread(target=lambda: reports.append(poll_once(h.bot.ctx, now)))
    slow.start()
    try:
        wait_until(
            lambda: h.bot.ctx.owner in (_lease(h, first)[0], _lease(h, second)[0]),
            timeout=10,
            what="the slow poller to lease a request",
            interval=0.01,
        )
        held = first if _lease(h, first)[0] == h.bot.ctx.owner else second
        other = second if held == first else first
        # While the first poller is stuck on one request, the other one is free.
        assert _lease(h, other)[0] is None
        replica = dataclasses.replace(h.bot.ctx, owner="replica-2")
        assert poll_once(replica, now).advanced == [other]
    finally:
        slow.join(timeout=30)
        h.sim.faults.latency("DescribeInstances", 0)
    assert reports[0].advanced == [held]
    assert _lease(h, first)[0] is None
    assert _lease(h, second)[0] is None


def test_workers_advance_requests_side_by_side_each_once(harness: Harness) -> None:
    h = harness
    request_ids = [h.confirmed(skip=n) for n in range(3)]
    h.clock.advance(5)
    now = h.clock.now()
    h.sim.faults.latency("DescribeInstances", 1.0)
    reports: list[PollReport] = []
    polling = threading.Thread(target=lambda: reports.append(poll_once(h.bot.ctx, now, workers=2)))
    polling.start()

    def owners() -> set[str | None]:
        return {_lease(h, request_id)[0] for request_id in request_ids} - {None}

    try:
        # Two requests in flight at once, each leased by a worker of its own.
        wait_until(
            lambda: len(owners()) == 2, timeout=10, what="two workers' leases", interval=0.01
        )
        assert owners() == {f"{h.bot.ctx.owner}/poll-0", f"{h.bot.ctx.owner}/poll-1"}
    finally:
        polling.join(timeout=30)
        h.sim.faults.latency("DescribeInstances", 0)
    assert sorted(reports[0].advanced) == sorted(request_ids)
    assert owners() == set()
    polls = [call for call in h.sim.calls.of("DescribeInstances") if call.at == now]
    assert len(polls) == 3, "each request was polled once"


def _claimed_by(h: Harness, owner: str, request_id: str) -> Context:
    """A worker of its own that has just leased ``request_id`` (due a few seconds on)."""
    h.clock.advance(5)
    worker = dataclasses.replace(h.bot.ctx, owner=owner)
    with worker.uow() as uow:
        assert uow.leases.claim(request_id, owner, h.clock.now(), LEASE_SECONDS)
        uow.commit()
    return worker


def test_a_held_lease_is_renewed_and_a_lost_one_is_not(harness: Harness) -> None:
    h = harness
    request_id = h.confirmed()
    worker = _claimed_by(h, "worker-1", request_id)
    with LeaseKeeper(worker, "worker-1", every=3600) as keeper:
        assert keeper.renew() is False  # nothing held yet
        keeper.hold(request_id)
        h.clock.advance(LEASE_SECONDS - 5)
        assert keeper.renew() is True
        renewed_until = h.clock.now() + timedelta(seconds=LEASE_SECONDS)
        assert _lease(h, request_id) == ("worker-1", renewed_until)
        # Renewed: a replica cannot take it, though the first lease would have run out.
        h.clock.advance(10)
        replica = dataclasses.replace(h.bot.ctx, owner="replica-2")
        assert poll_once(replica, h.clock.now()).advanced == []
        # A worker that stalls past its lease loses it, and renewing does not get it back.
        h.clock.advance(LEASE_SECONDS + 1)
        assert poll_once(replica, h.clock.now()).advanced == [request_id]
        assert keeper.renew() is False


def test_the_heartbeat_renews_while_a_step_runs(harness: Harness) -> None:
    h = harness
    request_id = h.confirmed()
    worker = _claimed_by(h, "worker-1", request_id)
    _, first_expiry = _lease(h, request_id)
    h.clock.advance(20)
    with LeaseKeeper(worker, "worker-1", every=0.01) as keeper:
        keeper.hold(request_id)
        wait_until(
            lambda: _lease(h, request_id)[1] != first_expiry,
            timeout=10,
            what="the heartbeat to renew the lease",
            interval=0.01,
        )
    owner, expires = _lease(h, request_id)
    assert owner == "worker-1"
    assert expires is not None
    assert first_expiry is not None
    assert expires > first_expiry


# --- redraws ----------------------------------------------------------------------------


def test_a_final_redraw_slack_refused_is_drawn_on_a_later_tick(harness: Harness) -> None:
    h = harness
    request_id = h.confirmed()
    ts = h.request(request_id).message_ts
    assert ts
    h.slack.fail("chat.update", "internal_error", times=1000)
    h.run_until_final(request_id, step=2, limit=300)
    assert h.request(request_id).state is RequestState.SUCCEEDED
    assert h.request(request_id).message_redraw_due
    assert ":white_check_mark: succeeded" not in h.slack.message(CHANNEL, ts).text

    h.slack.heal("chat.update")
    h.clock.advance(1)
    assert h.tick().redrawn == []  # the finishing worker's own redraw gets a head start
    h.clock.advance(10)
    assert h.tick().redrawn == [request_id]
    assert ":white_check_mark: succeeded" in h.slack.message(CHANNEL, ts).text
    assert not h.request(request_id).message_redraw_due
    h.clock.advance(10)
    assert h.tick().redrawn == []


def test_an_end_notification_slack_refused_is_posted_on_a_later_tick(harness: Harness) -> None:
    h = harness
    request_id = h.confirmed()
    h.slack.fail_channel(NOTIFY)
    h.run_until_final(request_id, step=2, limit=300)
    assert h.request(request_id).notify_end_due
    assert not _ended_notices(h)

    h.slack.heal_channel(NOTIFY)
    h.clock.advance(1)
    assert h.tick().notified == []  # the finishing worker's own post gets a head start
    h.clock.advance(10)
    assert h.tick().notified == [request_id]
    [notice] = _ended_notices(h)
    assert request_id in notice
    assert not h.request(request_id).notify_end_due
    h.clock.advance(10)
    assert h.tick().notified == []
    assert len(_ended_notices(h)) == 1


def _ended_notices(h: Harness) -> list[str]:
    return [m.text for m in h.slack.posted(NOTIFY) if "succeeded" in m.text]


def test_a_preview_the_poller_expires_records_when_it_ended(harness: Harness) -> None:
    h = harness
    request_id = _previewed(h)
    h.clock.advance(h.bot.settings.confirm_ttl + 1)
    assert h.tick().expired == [request_id]
    request = h.request(request_id)
    assert request.state is RequestState.EXPIRED
    assert request.finished_at == h.clock.now()
    assert not request.message_redraw_due
    assert not buttons(h.last_preview()[1].blocks)

"""The PostgreSQL server itself restarts under the bot (docs/PRODUCT.md §9: a database
that went away gets a clear answer, and nothing is lost): a private server of the test's
own (tests/private_postgres.py), stopped and started while requests are in flight.
Signed Slack requests over HTTP, the simulator behind, the poller driven on the manual
clock."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from bot.db.engine import make_engine
from bot.db.migrate import upgrade_to_head
from bot.domain.model import InstanceOutcome, RequestState, Role
from bot.services.lease import LEASE_SECONDS
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.waiting import wait_until
from tests.e2e.harness import OPERATOR, REGION, Harness, running_bot
from tests.private_postgres import PrivatePostgres, private_postgres


@pytest.fixture
def restartable() -> Iterator[tuple[Harness, PrivatePostgres]]:
    with private_postgres() as server:
        upgrade_to_head(server.url)
        with running_bot(server.url) as h:
            h.grant(OPERATOR, Role.OPERATOR)
            yield h, server


def _previewed(h: Harness, count: int) -> tuple[str, list[str]]:
    ids = h.sim.fleet.ids(REGION)[:count]
    h.command(" ".join(ids))
    h.settle()
    request_id, _ = h.last_preview()
    return request_id, ids


def _healthz(h: Harness) -> int:
    return httpx.get(f"{h.url}/healthz", timeout=10).status_code


def test_while_the_server_is_down_health_says_503_and_clicks_and_commands_are_told(
    restartable: tuple[Harness, PrivatePostgres],
) -> None:
    h, server = restartable
    request_id, ids = _previewed(h, 2)
    assert _healthz(h) == 200

    server.stop("fast")
    try:
        assert _healthz(h) == 503
        # A scrape still answers (without the database's counts), never a 500.
        assert httpx.get(f"{h.url}/metrics", timeout=10).status_code == 200
        command = h.command(" ".join(ids))
        assert command.status_code == 200
        assert "database is not answering" in command.json()["text"]
        click = h.click(ACTION_CONFIRM, request_id)
        assert click.status_code == 200
        h.settle()
        [told] = h.ephemerals(OPERATOR)
        assert "database is not answering" in told
        assert "Nothing was done" in told
    finally:
        server.start()

    assert _healthz(h) == 200
    assert h.request(request_id).state is RequestState.PREVIEWED  # nothing was recorded
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0
    # Clicked again once it answers: confirmed and rebooted, once each.
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id, limit=60)
    assert h.request(request_id).state is RequestState.SUCCEEDED
    assert [h.sim.fleet.reboot_count(REGION, i) for i in ids] == [1, 1]


def test_a_step_cut_short_by_the_restart_goes_on_at_the_next_tick_not_a_lease_later(
    restartable: tuple[Harness, PrivatePostgres],
) -> None:
    """The confirm worker sends the reboot calls; the server goes down while ECS is
    answering, so the answers cannot be recorded, nor the lease given back. The lease is
    owed, and the first poller tick once the server answers gives it back and goes on
    (the answers lost to us are resolved as lost answers): no 30 s wait for the lease to
    run out, no call sent twice."""
    h, server = restartable
    request_id, ids = _previewed(h, 2)
    h.sim.faults.latency("RebootInstances", 1.5)
    watcher = make_engine(server.url)
    try:

        def calls_recorded() -> bool:
            with watcher.connect() as connection:
                sent = connection.execute(
                    text(
                        "SELECT COUNT(*) FROM reboot_instances "
                        "WHERE request_id = :id AND reboot_sent_at IS NOT NULL"
                    ),
                    {"id": request_id},
                ).scalar_one()
            return int(sent) == len(ids)

        assert h.click(ACTION_CONFIRM, request_id).status_code == 200
        # The calls are counted, then sent: ECS takes 1.5 s to answer them.
        wait_until(calls_recorded, timeout=10, what="the reboot calls to be recorded")
    finally:
        watcher.dispose()
    server.stop("immediate")
    try:
        h.settle()  # the confirm worker's step fails on the missing database
    finally:
        server.start()
    h.sim.faults.latency("RebootInstances", 0)
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 1
    # The confirmer is told the truth: confirmed, and it goes on by itself.
    [told] = h.ephemerals(OPERATOR)
    assert "is confirmed, but the bot's database stopped answering" in told

    h.clock.advance(1.0)  # far less than the lease
    report = h.tick()
    assert report.advanced == [request_id]
    assert LEASE_SECONDS > 1.0
    h.run_until_final(request_id, limit=60)
    final = h.request(request_id)
    assert final.state is RequestState.SUCCEEDED
    assert {i.outcome for i in final.instances} == {InstanceOutcome.SUCCEEDED}
    assert [h.sim.fleet.reboot_count(REGION, i) for i in ids] == [1, 1]
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 1

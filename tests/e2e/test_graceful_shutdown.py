"""A rolling restart loses nothing and delays nothing (README "Graceful shutdown"): two
real replicas on PostgreSQL, a ``serve`` and a ``poller`` process, real clocks; the
``serve`` that took the confirm gets SIGTERM mid-reboot, exits within its grace, and
the other replica finishes the request at once (its next tick), rebooting nothing twice.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.bootstrap import unit_of_work_factory
from bot.db.engine import is_sqlite, make_engine
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import RequestState, Role
from bot.domain.policy import Binding
from bot.services import roles as roles_service
from bot.simulator import Simulator
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.serve import serve_environment, serve_process, stop_process
from bot.testing.settings import CHANNEL, OPERATOR, REGION, SIGNING_SECRET, offline_env
from bot.testing.slack_api import FakeSlackApi
from bot.testing.slack_requests import SlackRequestSender
from bot.testing.stack import FIRST_TS
from bot.testing.waiting import wait_until

POLL_INTERVAL = 0.5
GRACE_SECONDS = 30.0


def test_sigterm_mid_reboot_hands_over_to_the_other_replica(
    migrated_url: str, tmp_path: Path
) -> None:
    if is_sqlite(migrated_url):
        pytest.skip("two replicas share a database on PostgreSQL only")
    with (
        FakeSlackApi() as slack,
        Simulator(
            regions=(REGION,), instances_per_region=3, seed=5, stop_seconds=2, start_seconds=2
        ) as sim,
    ):
        values = offline_env(
            slack_url=slack.url,
            sim=sim,
            database_url=migrated_url,
            overrides={"ECSBOT_POLL_INTERVAL": str(POLL_INTERVAL)},
        )
        engine = make_engine(migrated_url)
        uow = unit_of_work_factory(engine)
        roles_service.grant(
            uow, Binding(OPERATOR, Role.OPERATOR, "", "", ""), actor="test", now=sim.clock()
        )
        other_dir = tmp_path / "poller"
        other_dir.mkdir()
        serve_dir = tmp_path / "serve"
        serve_dir.mkdir()
        with (other_dir / "stderr").open("w") as other_err:
            other = subprocess.Popen(
                (sys.executable, "-m", "bot", "poller"),
                env=serve_environment(values, other_dir),
                cwd=other_dir,
                stdout=subprocess.DEVNULL,
                stderr=other_err,
            )
            try:
                with (
                    serve_process(values, serve_dir) as served,
                    SlackRequestSender(served.url, SIGNING_SECRET) as sender,
                ):
                    ids = sim.fleet.ids(REGION)[:2]
                    sender.command(
                        " ".join(ids),
                        user_id=OPERATOR,
                        channel_id=CHANNEL,
                        response_url=slack.response_url("c"),
                    )
                    request_id = _wait_for_request(uow, RequestState.PREVIEWED)
                    sender.click(
                        ACTION_CONFIRM,
                        request_id,
                        user_id=OPERATOR,
                        channel_id=CHANNEL,
                        response_url=slack.response_url("k"),
                        message_ts=FIRST_TS,
                    )
                    _wait_for_request(uow, RequestState.EXECUTING)
                    wait_until(
                        lambda: sim.calls.count("RebootInstances", dry_run=False) > 0,
                        timeout=15,
                        what="the reboot to be sent",
                    )

                    served.process.send_signal(signal.SIGTERM)
                    sent = time.monotonic()
                    served.process.wait(timeout=GRACE_SECONDS)
                    exited = time.monotonic()
                    exited_at = sim.clock()
                    assert served.process.returncode == 0
                    assert exited - sent < GRACE_SECONDS
                    assert "shut down in" in served.stderr()

                # Only the other replica is left: it polls the request on its next tick.
                wait_until(
                    lambda: _state(uow, request_id).is_final,
                    timeout=20,
                    what="the other replica to finish it",
                )
                describes_after = [
                    c for c in sim.calls.of("DescribeInstances") if c.at >= exited_at
                ]
                assert describes_after, "nobody polled after the exit"
                first_poll = (describes_after[0].at - exited_at).total_seconds()
                assert first_poll <= POLL_INTERVAL + 1.0
                assert _state(uow, request_id) is RequestState.SUCCEEDED
                assert [sim.fleet.reboot_count(REGION, i) for i in ids] == [1, 1]
                assert sim.calls.count("RebootInstances", dry_run=False) == 1
            finally:
                stop_process(other)  # type: ignore[arg-type]
                engine.dispose()


def _state(uow: Callable[[], UnitOfWork], request_id: str) -> RequestState:
    with uow() as unit:
        request = unit.requests.get(request_id)
    assert request is not None
    return request.state


def _wait_for_request(uow: Callable[[], UnitOfWork], state: RequestState) -> str:
    """The id of the newest request in ``state``, once there is one."""
    found: list[str] = []

    def appeared() -> bool:
        with uow() as unit:
            found[:] = [r.id for r in unit.requests.list_recent(10) if r.state is state]
        return bool(found)

    wait_until(appeared, timeout=20, what=f"a request to become {state.value}")
    return found[0]

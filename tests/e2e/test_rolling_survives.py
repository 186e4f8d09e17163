"""A rollout survives its process (docs/PRODUCT.md §5.7, §5.8): ``serve`` SIGKILLed with a wave
in flight, a fresh ``serve`` on the same database goes on wave by wave, and every
instance is rebooted exactly once. Real clock, short simulator state changes, bounded
waits."""

from __future__ import annotations

from pathlib import Path

from bot.db.engine import make_engine, make_session_factory
from bot.db.unit_of_work import UnitOfWork
from bot.domain.model import RequestState
from bot.domain.request import RebootRequest
from bot.simulator import Simulator
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.serve import serve_process
from bot.testing.settings import ADMIN, CHANNEL, REGION, SIGNING_SECRET, offline_env
from bot.testing.slack_api import FakeSlackApi
from bot.testing.slack_requests import SlackRequestSender
from bot.testing.stack import request_id_of
from bot.testing.waiting import wait_until


def test_serve_killed_mid_rollout_resumes_and_reboots_each_instance_once(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    engine = make_engine(database_url)

    def request(request_id: str) -> RebootRequest:
        with UnitOfWork(make_session_factory(engine)) as uow:
            found = uow.requests.get(request_id)
        assert found is not None
        return found

    with (
        FakeSlackApi() as slack,
        Simulator(
            regions=(REGION,), instances_per_region=12, seed=5, stop_seconds=0.3, start_seconds=0.4
        ) as sim,
    ):
        values = offline_env(
            slack_url=slack.url,
            sim=sim,
            database_url=database_url,
            overrides={"ECSBOT_POLL_INTERVAL": "0.2", "ECSBOT_NOTIFY_CHANNEL": ""},
        )
        ids = sim.fleet.ids(REGION)

        def real_calls() -> int:
            return len(sim.calls.of("RebootInstances", dry_run=False))

        with serve_process(values, tmp_path) as first:
            with SlackRequestSender(first.url, SIGNING_SECRET) as sender:
                sender.command(" ".join(ids) + " --batch 4", user_id=ADMIN, channel_id=CHANNEL)
                slack.wait_for("chat.postMessage", timeout=20)
                posted = slack.calls("chat.postMessage")[0]
                request_id = request_id_of(posted.params["blocks"])
                wait_until(
                    lambda: request(request_id).message_ts is not None,
                    timeout=10,
                    what="the preview ts",
                )
                sender.click(
                    ACTION_CONFIRM,
                    request_id,
                    user_id=ADMIN,
                    channel_id=CHANNEL,
                    message_ts=str(request(request_id).message_ts),
                )
            # Killed as soon as the second wave went out: a wave in flight, two to come.
            wait_until(lambda: real_calls() >= 2, timeout=30, what="the second wave")
            first.process.kill()
            first.process.wait(timeout=10)
        assert real_calls() == 2
        assert request(request_id).state is RequestState.EXECUTING

        with serve_process(values, tmp_path):
            # At most a lease (30 s) before the new process takes over, then the rest.
            wait_until(
                lambda: request(request_id).state.is_final, timeout=90, what="the rollout to finish"
            )

        final = request(request_id)
        engine.dispose()
        assert final.state is RequestState.SUCCEEDED
        assert sim.fleet.reboot_counts(REGION) == dict.fromkeys(ids, 1)
        sizes = [len(call.ids) for call in sim.calls.of("RebootInstances", dry_run=False)]
        assert sizes == [1, 4, 4, 3]

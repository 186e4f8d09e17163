"""What the rolling-reboot suites (test_rolling, test_rolling_with_main) start from and
read back: a bot with two operators, a rollout stopped by its lost canary, the waves
the simulator was sent, and the moments a request recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from bot.domain.model import Role
from bot.slack.blocks import ACTION_CONFIRM
from tests.e2e.harness import OPERATOR, REGION, STRANGER, Harness, running_bot


@contextmanager
def rolling_bot(
    url: str,
    *,
    other_operator: str = STRANGER,
    instances: int = 12,
    env: dict[str, str] | None = None,
) -> Iterator[Harness]:
    """A running bot where ``OPERATOR`` and ``other_operator`` may both reboot: the
    other one to approve, or to show that one operator cannot act on another's
    request."""
    with running_bot(url, instances=instances, env=env) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.grant(other_operator, Role.OPERATOR)
        yield h


def run_with_a_lost_canary(h: Harness) -> tuple[str, str]:
    """A rollout of the whole fleet whose canary never comes back, confirmed and run
    until it is final; its request id and the canary's instance id."""
    h.command(" ".join(h.sim.fleet.ids(REGION)))
    h.settle()
    request_id, _ = h.last_preview()
    canary = next(i.ref.instance_id for i in h.request(request_id).instances if i.wave == 1)
    h.sim.fleet.update(REGION, canary, never_returns=True)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)
    return request_id, canary


def sent_waves(h: Harness) -> list[tuple[str, ...]]:
    """The ids of every real reboot call, in the order the simulator saw them."""
    return [call.ids for call in h.sim.calls.of("RebootInstances", dry_run=False)]


def recorded(moment: datetime | None) -> datetime:
    """``moment``, which the request must have recorded by now."""
    assert moment is not None
    return moment

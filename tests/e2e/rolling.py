"""What the rolling-reboot suites (test_rolling, test_rolling_with_main) start from and
read back: a bot with two operators, the waves the simulator was sent, and the
moments a request recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from bot.domain.model import Role
from tests.e2e.harness import OPERATOR, STRANGER, Harness, running_bot


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


def sent_waves(h: Harness) -> list[tuple[str, ...]]:
    """The ids of every real reboot call, in the order the simulator saw them."""
    return [call.ids for call in h.sim.calls.of("RebootInstances", dry_run=False)]


def recorded(moment: datetime | None) -> datetime:
    """``moment``, which the request must have recorded by now."""
    assert moment is not None
    return moment

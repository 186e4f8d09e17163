"""Requests to store, and threads released at once: what the store tests (the contract,
``tests/integration/store/``, and the SQL-only ones, ``tests/integration/db/``) build on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.db.unit_of_work import UnitOfWork
from bot.domain.alarms import AlarmCard, CardState
from bot.domain.model import InstanceRef, RequestState, Verdict
from bot.domain.request import PlannedInstance, RebootRequest
from bot.testing.memory import MemoryUnitOfWork

T = TypeVar("T")

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TTL = timedelta(seconds=300)

StoreFactory = Callable[[], UnitOfWork | MemoryUnitOfWork]
"""A fresh unit of work per call, of any store: the SQL one or the in-memory fake."""


def make_request(
    request_id: str = "r1",
    *,
    state: RequestState = RequestState.PREVIEWED,
    created_at: datetime = T0,
    requester: str = "U100",
    instances: tuple[PlannedInstance, ...] | None = None,
) -> RebootRequest:
    if instances is None:
        instances = (
            PlannedInstance(
                ref=InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa"),
                position=0,
                verdict=Verdict.WILL_REBOOT,
                name="web-1",
                status="Running",
                tags={"env": "prod"},
            ),
        )
    return RebootRequest(
        id=request_id,
        state=state,
        force=False,
        requester=requester,
        channel="C100",
        created_at=created_at,
        expires_at=created_at + TTL,
        instances=instances,
        command_text="/ecs-reboot i-bp1aaaaaaaa",
    )


def alarm_card(
    card_id: str = "c1",
    *,
    rule: str = "cpu-high",
    instance_id: str = "i-bp1aaaaaaaa",
    at: datetime = T0,
) -> AlarmCard:
    """An open alarm card of ``rule`` on ``instance_id``, first seen ``at``."""
    return AlarmCard(
        id=card_id,
        rule=rule,
        alert_name="CPU above 90 %",
        metric_name="CPUUtilization",
        instance_id=instance_id,
        region="cn-hangzhou",
        channel="C100",
        state=CardState.OPEN,
        count=1,
        last_value="97.5",
        first_at=at,
        last_at=at,
    )


def add(store: StoreFactory, *requests: RebootRequest) -> None:
    with store() as uow:
        for request in requests:
            uow.requests.add(request)
        uow.commit()


def run_concurrently(count: int, work: Callable[[], T]) -> list[T]:
    """Run ``work`` on ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def aligned() -> T:
        barrier.wait(timeout=10)
        return work()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(aligned) for _ in range(count)]
        return [future.result(timeout=30) for future in futures]


def after_another_commits(
    store: StoreFactory,
    read: Callable[[Any], object],
    other: Callable[[Any], object],
    write: Callable[[Any], T],
) -> T:
    """``write``'s result in a unit of work that ran ``read`` before another unit ran
    ``other`` and committed: the race concurrent threads may or may not hit, made
    certain. A store must decide ``write`` on the row as it is now, not as it was read."""
    was_read, committed = threading.Event(), threading.Event()

    def late() -> T:
        with store() as uow:
            read(uow)
            was_read.set()
            if not committed.wait(timeout=10):
                raise TimeoutError("the other unit of work never committed")
            result = write(uow)
            uow.commit()
            return result

    with ThreadPoolExecutor(max_workers=1) as pool:
        outcome = pool.submit(late)
        if not was_read.wait(timeout=10):
            raise TimeoutError(f"the late unit of work never read: {outcome.exception()}")
        with store() as uow:
            other(uow)
            uow.commit()
        committed.set()
        return outcome.result(timeout=30)

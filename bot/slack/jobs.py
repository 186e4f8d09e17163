"""The worker pool for everything slow that follows an ack (docs/PRODUCT.md §5.1).

Separate from Bolt's own listener pool so that twenty slow previews can never starve
the threads that ack. A job that fails is logged with its traceback and the person is
told, since an exception after the ack is invisible to Slack.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

from bot.domain.errors import BotError
from bot.logs import request_context
from bot.services.answers import JobFailed
from bot.services.ports import Presenter

log = logging.getLogger(__name__)


# How long a job waits, at most, for the acks being answered before it starts.
ACKS_FIRST_SECONDS = 0.25


class AckGate:
    """Acks first (docs/decisions/0010): counts the Slack requests being answered, and
    lets slow work wait for a moment when none is.

    Python threads have no priorities and share one interpreter lock: twenty previews
    starting (each signing and sending its DescribeInstances, then building blocks)
    while twenty more commands are still being acked make those acks wait for the
    lock. A job that waits for the burst of acks to be answered before it starts costs
    the person a few milliseconds on work that takes seconds, and the ack is what Slack
    times."""

    def __init__(self) -> None:
        self._answering = 0
        self._quiet = threading.Condition()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one Slack request, up to its ack."""
        with self._quiet:
            self._answering += 1
        try:
            yield
        finally:
            with self._quiet:
                self._answering -= 1
                if not self._answering:
                    self._quiet.notify_all()

    def wait_quiet(self, timeout: float = ACKS_FIRST_SECONDS) -> bool:
        """Wait until no Slack request is being answered (at most ``timeout``)."""
        with self._quiet:
            return self._quiet.wait_for(lambda: not self._answering, timeout=timeout)


class Jobs:
    def __init__(self, presenter: Presenter, *, workers: int = 16) -> None:
        self._presenter = presenter
        self.workers = workers
        # The HTTP front (bot.server.WebApp) counts its acks here; jobs yield to them.
        self.gate = AckGate()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ecsbot-job")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(
        self,
        work: Callable[[], object],
        *,
        channel: str,
        user: str,
        request_id: str | None = None,
    ) -> None:
        future = self._executor.submit(self._run, work, channel, user, request_id)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(
        self, work: Callable[[], object], channel: str, user: str, request_id: str | None
    ) -> None:
        self.gate.wait_quiet()
        try:
            with request_context(request_id):
                work()
        except BotError as error:
            log.warning("job failed: %s", error)
            self._presenter.tell(channel, user, JobFailed(error))
        except Exception:
            log.exception("job failed unexpectedly")
            self._presenter.tell(channel, user, JobFailed())

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every submitted job finished (tests and graceful shutdown)."""
        with self._lock:
            pending = set(self._pending)
        while pending:
            _, not_done = wait(pending, timeout=timeout)
            if not_done:
                return False
            with self._lock:
                pending = set(self._pending)
        return True

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)

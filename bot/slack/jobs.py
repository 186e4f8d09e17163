"""The worker pool for everything slow that follows an ack (docs/PRODUCT.md §5.1).

Separate from Bolt's own listener pool so that twenty slow previews can never starve
the threads that ack. A job that fails is logged with its traceback and the person is
told, since an exception after the ack is invisible to Slack.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from bot.domain.errors import BotError
from bot.logs import request_context
from bot.priority import AckGate
from bot.services.answers import JobFailed
from bot.services.ports import Presenter

log = logging.getLogger(__name__)


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

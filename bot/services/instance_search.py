"""The form's instance search (docs/PRODUCT.md §5.14): what Slack's external select shows
while someone types, answered within Slack's 3 seconds.

A name fragment becomes ECS's own name filter (``*fragment*``); an id prefix is matched
against the region's instance list, which ECS cannot filter by prefix: that list is read
once and kept for ``LIST_TTL`` (and read ahead when a form opens, so typing finds it).
Answers are cached per person, region and query for ``ANSWER_TTL``. What someone types
is never trusted as a filter: ``*`` and anything outside a name's characters are dropped,
and the length is bounded.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.accounts import DEFAULT_ACCOUNT, command_accounts
from bot.domain.ecs_values import InstanceInfo
from bot.domain.errors import EcsError
from bot.services.context import Context

MAX_OPTIONS = 100  # Slack shows at most 100 options
MAX_QUERY = 64
ANSWER_TTL = timedelta(seconds=30)
LIST_TTL = timedelta(seconds=120)
_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-/ ]")
_ID_PREFIX = re.compile(r"i-[a-z0-9]*")


def clean_query(typed: str) -> str:
    """What of ``typed`` may reach a filter: name characters only, at most 64."""
    return _UNSAFE.sub("", typed).strip()[:MAX_QUERY]


@dataclass(frozen=True)
class _Cached:
    at: datetime
    instances: tuple[InstanceInfo, ...]


class InstanceSearch:
    """Searches instances for one bot process; safe to share between threads."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._answers: dict[tuple[str, str, str], _Cached] = {}
        self._lists: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def search(
        self, user: str, region: str, typed: str, *, account: str = ""
    ) -> tuple[InstanceInfo, ...]:
        """At most 100 instances of ``region`` (in ``account``, else the one a command
        naming none acts in) whose id starts with, or whose name contains, what ``user``
        typed; nothing for a query too short to mean anything or an unknown account."""
        query = clean_query(typed)
        account = account or self._default_account()
        if len(query) < 2 or account not in self._ctx.config.accounts:
            return ()
        now = self._ctx.clock()
        key = (user, f"{account}:{region}", query.lower())
        with self._lock:
            cached = self._answers.get(key)
        if cached is not None and now - cached.at < ANSWER_TTL:
            return cached.instances
        try:
            found = self._find(account, region, query, now)
        except EcsError:
            return ()
        with self._lock:
            if len(self._answers) > 1000:
                self._answers.clear()  # bounded: an old answer is cheap to ask again
            self._answers[key] = _Cached(now, found)
        return found

    def read_ahead(self, region: str) -> None:
        """Read the region's list now (when a form opens), so id prefixes are quick."""
        # On failure the search will say nothing; the form works without it.
        with contextlib.suppress(EcsError):
            self._listing(self._default_account(), region, self._ctx.clock())

    def _default_account(self) -> str:
        config = self._ctx.config
        settled = command_accounts((), tuple(config.accounts), config.default_account)
        return settled[0] if isinstance(settled, tuple) and settled else DEFAULT_ACCOUNT

    def _find(
        self, account: str, region: str, query: str, now: datetime
    ) -> tuple[InstanceInfo, ...]:
        if _ID_PREFIX.fullmatch(query):
            listed = self._listing(account, region, now)
            return tuple(i for i in listed if i.instance_id.startswith(query))[:MAX_OPTIONS]
        found = self._ctx.ecs.find_instances(region, tags=(), name=f"*{query}*", account=account)
        return found.instances[:MAX_OPTIONS]

    def _listing(self, account: str, region: str, now: datetime) -> tuple[InstanceInfo, ...]:
        with self._lock:
            cached = self._lists.get(f"{account}:{region}")
        if cached is not None and now - cached.at < LIST_TTL:
            return cached.instances
        listed = self._ctx.ecs.find_instances(region, tags=(), name=None, account=account)
        with self._lock:
            self._lists[f"{account}:{region}"] = _Cached(now, listed.instances)
        return listed.instances

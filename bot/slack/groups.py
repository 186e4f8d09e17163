"""Slack user-group membership, cached briefly (docs/PRODUCT.md §5.2: the only thing that may be
cached in an authorization decision)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)


class CachedGroupDirectory:
    """``usergroups.users.list`` with a TTL cache. A failed lookup counts as "not a
    member" (deny by default) and is not cached, so the next decision asks again."""

    def __init__(
        self,
        client: WebClient,
        *,
        ttl_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, group_id: str) -> frozenset[str]:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(group_id)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
        except (SlackApiError, SlackClientError) as error:
            log.warning("usergroups.users.list %s failed: %s", group_id, error)
            return frozenset()
        users = frozenset(str(user) for user in response.get("users") or [])
        with self._lock:
            self._cache[group_id] = (now, users)
        return users

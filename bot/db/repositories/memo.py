"""A bounded memo in two generations, shared by threads: what the repositories keep of
what they read, so that an unchanged row is not decoded (``rows.instance_from_stored``,
docs/decisions/0011) nor read again (``RequestRepository.get``, docs/decisions/0015).

The key must hold everything the value depends on: then nothing found can be stale, and
a lost race between threads costs one extra read or decode, never a wrong value.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TwoGenerations(Generic[K, V]):
    """A lookup finds this generation's value or the last one's (and keeps it); when this
    generation is full it becomes the last, and the one before is dropped. At most twice
    ``size`` values; those not looked up for two generations are forgotten."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._current: dict[K, V] = {}
        self._previous: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        found = self._current.get(key)
        if found is None:
            found = self._previous.get(key)
            if found is not None:
                self.put(key, found)
        return found

    def put(self, key: K, value: V) -> None:
        if len(self._current) >= self._size:
            self._previous, self._current = self._current, {}
        self._current[key] = value

"""The record of every API call the simulator answered, so tests can count them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request to the ECS endpoint and how it was answered.

    ``status`` 0 and ``code`` ``"ConnectionDropped"`` mean no answer was sent.
    ``applied`` is True when the action changed state (a real reboot went through),
    even if the caller then saw an error (``timeout_after_apply``). ``account`` is the
    simulated account the call acted in (``home`` for the simulator's own key pair) and
    ``session_name`` the ``RoleSessionName`` of the temporary credentials that signed it
    (None for a key pair): what ActionTrail would show as the actor.
    """

    action: str
    region: str
    params: Mapping[str, str]
    signature_version: str | None
    dry_run: bool
    ids: tuple[str, ...]
    status: int
    code: str | None
    request_id: str
    at: datetime
    applied: bool = False
    account: str | None = None
    session_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "region": self.region,
            "params": dict(self.params),
            "signature_version": self.signature_version,
            "dry_run": self.dry_run,
            "ids": list(self.ids),
            "status": self.status,
            "code": self.code,
            "request_id": self.request_id,
            "at": self.at.isoformat(),
            "applied": self.applied,
            "account": self.account,
            "session_name": self.session_name,
        }


class CallLog:
    """Append-only, thread-safe list of ``Call`` (``Simulator.calls``)."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def all(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def of(self, action: str, *, dry_run: bool | None = None) -> list[Call]:
        """The calls of one action, optionally only the dry (or only the real) ones."""
        return [
            call
            for call in self.all()
            if call.action == action and (dry_run is None or call.dry_run == dry_run)
        ]

    def count(self, action: str | None = None, *, dry_run: bool | None = None) -> int:
        if action is None:
            return len(self)
        return len(self.of(action, dry_run=dry_run))

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self.all())

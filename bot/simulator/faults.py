"""Fault injection: make the next N calls of an action fail the way real ECS fails.

Lost answers, before the effect (nothing applied): ``fail`` (a 5xx, e.g. 500
``InternalError``), ``drop_connection`` (the socket closes at once), ``hang_then_drop``
(no answer for ``seconds``, then the socket closes: a client timeout). After the effect
(``timeout_after_apply``, the call applied): ``mode`` ``error`` (500 ``InternalError``),
``drop`` (the socket closes) or ``slow`` (the real answer, ``seconds`` late); ``seconds``
also delays ``error`` and ``drop``. Still in flight (``in_flight``, for
``RebootInstances``): the call answers 500 ``InternalError`` at once (or drops, with
``mode="drop"``) and the reboot starts ``delay`` seconds later, so a second call made in
between finds the instance still ``Running``.

Rules are kept in the order they were added. For each call the server asks
``for_call(action)`` once; it gets the latency to add and at most one fault (the
oldest matching rule with calls left), which it then plays. ``action="*"`` matches
every action.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal[
    "throttle", "fail", "drop_connection", "hang_then_drop", "timeout_after_apply", "in_flight"
]
KINDS: tuple[str, ...] = (
    "throttle",
    "fail",
    "drop_connection",
    "hang_then_drop",
    "timeout_after_apply",
    "in_flight",
    "latency",
)
Mode = Literal["error", "drop", "slow"]

_MESSAGES = {
    "Throttling": "Request was denied due to request throttling.",
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error.",
}


@dataclass
class Fault:
    """One rule. ``times=None`` means for every call until cleared."""

    kind: FaultKind
    action: str
    times: int | None
    code: str = ""
    status: int = 0
    message: str = ""
    retry_after_ms: int | None = None
    # timeout_after_apply: answer 500 ("error"), close the socket ("drop") or answer
    # late ("slow"); in_flight: "error" or "drop".
    mode: Mode = "error"
    # hang_then_drop / timeout_after_apply: how long to wait before (not) answering.
    seconds: float = 0.0
    # in_flight: how long after the call the reboot really starts.
    delay: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """What to do to one call: sleep ``latency`` seconds first, then play ``fault``."""

    latency: float
    fault: Fault | None


class Faults:
    """Thread-safe registry of injected faults (``Simulator.faults``)."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._latency: dict[str, float] = {}
        self._lock = threading.Lock()

    def throttle(
        self,
        action: str = "*",
        times: int | None = 1,
        code: str = "Throttling.User",
        status: int = 400,
        retry_after_ms: int | None = None,
    ) -> Fault:
        """Refuse the next ``times`` calls as throttled; nothing is applied.

        ``retry_after_ms`` adds the ``x-acs-retry-after`` hint header.
        """
        return self._add(
            Fault("throttle", action, times, code, status, _message(code), retry_after_ms)
        )

    def fail(
        self,
        action: str = "*",
        times: int | None = 1,
        code: str = "ServiceUnavailable",
        status: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` calls with a server error; nothing is applied."""
        if status is None:
            status = 500 if code == "InternalError" else 503
        return self._add(Fault("fail", action, times, code, status, message or _message(code)))

    def drop_connection(self, action: str = "*", times: int | None = 1) -> Fault:
        """Close the socket without answering; nothing is applied."""
        return self._add(Fault("drop_connection", action, times))

    def hang_then_drop(
        self, action: str = "*", times: int | None = 1, seconds: float = 5.0
    ) -> Fault:
        """Say nothing for ``seconds``, then close the socket; nothing is applied."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        return self._add(Fault("hang_then_drop", action, times, seconds=seconds))

    def timeout_after_apply(
        self,
        action: str = "*",
        times: int | None = 1,
        mode: Mode = "error",
        seconds: float | None = None,
    ) -> Fault:
        """Apply the call, then (after ``seconds``) answer 500 InternalError, drop, or
        send the real answer late (``slow``; ``seconds`` defaults to 5 then): "outcome
        unknown" to a client that gave up."""
        if mode not in ("error", "drop", "slow"):
            raise ValueError("mode must be 'error', 'drop' or 'slow'")
        wait = (5.0 if mode == "slow" else 0.0) if seconds is None else seconds
        if wait < 0:
            raise ValueError("seconds must not be negative")
        return self._add(
            Fault(
                "timeout_after_apply",
                action,
                times,
                "InternalError",
                500,
                _message("InternalError"),
                mode=mode,
                seconds=wait,
            )
        )

    def in_flight(
        self,
        action: str = "RebootInstances",
        times: int | None = 1,
        delay: float = 5.0,
        mode: Mode = "error",
    ) -> Fault:
        """Accept the reboot but start it ``delay`` seconds later, and answer 500
        InternalError (or drop) at once: the first call is still in flight when the
        client looks again. Only ``RebootInstances`` has an effect to hold back; any
        other action is answered normally."""
        if mode not in ("error", "drop"):
            raise ValueError("mode must be 'error' or 'drop'")
        if delay < 0:
            raise ValueError("delay must not be negative")
        return self._add(
            Fault(
                "in_flight",
                action,
                times,
                "InternalError",
                500,
                _message("InternalError"),
                mode=mode,
                delay=delay,
            )
        )

    def latency(self, action: str, seconds: float) -> None:
        """Delay every call of ``action`` by ``seconds`` (0 removes the delay)."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        with self._lock:
            if seconds == 0:
                self._latency.pop(action, None)
            else:
                self._latency[action] = seconds

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._latency.clear()

    def active(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults": [rule.to_json() for rule in self._rules],
                "latency": dict(self._latency),
            }

    def for_call(self, action: str) -> Plan:
        """Consume the fault (if any) for one call of ``action``."""
        with self._lock:
            if not self._rules and not self._latency:  # the common, fast case
                return Plan(0.0, None)
            latency = self._latency.get(action, 0.0) + self._latency.get("*", 0.0)
            for index, rule in enumerate(self._rules):
                if rule.action not in (action, "*"):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._rules[index]
                return Plan(latency, rule)
            return Plan(latency, None)

    def _add(self, rule: Fault) -> Fault:
        if rule.times is not None and rule.times < 1:
            raise ValueError("times must be at least 1 (or None for always)")
        with self._lock:
            self._rules.append(rule)
        return rule


def _message(code: str) -> str:
    return _MESSAGES.get(code, f"Injected fault {code}.")


def add_from_json(faults: Faults, spec: dict[str, Any]) -> dict[str, Any]:
    """Apply one ``POST /_sim/faults`` body, e.g. ``{"kind": "throttle", "times": 2}``.

    Raises ``ValueError`` (or ``TypeError``) with a readable reason for a bad body.
    """
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind == "clear":
        faults.clear()
        return faults.active()
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join((*KINDS, 'clear'))}")
    action = options.pop("action", "*")
    if not isinstance(action, str):
        raise ValueError("action must be a string")
    if kind == "latency":
        seconds = options.pop("seconds", None)
        if not isinstance(seconds, int | float) or options:
            raise ValueError("latency takes action and seconds (a number) only")
        faults.latency(action, float(seconds))
        return faults.active()
    adders: dict[str, Callable[..., Fault]] = {
        "throttle": faults.throttle,
        "fail": faults.fail,
        "drop_connection": faults.drop_connection,
        "hang_then_drop": faults.hang_then_drop,
        "timeout_after_apply": faults.timeout_after_apply,
        "in_flight": faults.in_flight,
    }
    rule: Fault = adders[kind](action, **options)
    return rule.to_json()

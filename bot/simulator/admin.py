"""The ``/_sim/`` admin surface, for users in another process (console, benchmarks,
acceptance suites) that cannot reach ``Simulator.fleet`` / ``.faults`` / ``.calls``.

No signature is asked: this is a test fixture on loopback, not part of the ECS API.

    GET    /_sim/state       the regions, their instances (status now) and the clock
    GET    /_sim/calls       every call recorded (``?action=RebootInstances`` filters)
    DELETE /_sim/calls       forget them
    GET    /_sim/faults      the faults waiting to fire
    POST   /_sim/faults      {"kind": "throttle"|"fail"|"drop_connection"|
                              "timeout_after_apply"|"latency"|"clear", "action": …, …}
    DELETE /_sim/faults      clear them
    POST   /_sim/instances   {"region": …, "instance_id"?, "name"?, "status"?, "tags"?,
                              "zone"?, "security_lock"?, "expired"?, "never_returns"?}
                             → 201 {"instance_id": …}; with "update": true, changes the
                             status/flags of an existing instance instead
    POST   /_sim/clock       {"advance": seconds} or {"set": ISO 8601}; only when the
                             simulator runs on a ManualClock (409 otherwise)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.simulator.calls import CallLog
from bot.simulator.clock import Clock, ManualClock
from bot.simulator.faults import Faults, add_from_json
from bot.simulator.fleet import Fleet, InstanceView
from bot.simulator.server import HttpRequest, Reply

_ADD_FIELDS = {
    "instance_id",
    "name",
    "status",
    "tags",
    "zone",
    "security_lock",
    "expired",
    "never_returns",
}
_UPDATE_FIELDS = {"status", "security_lock", "expired", "never_returns"}


def instance_json(view: InstanceView) -> dict[str, Any]:
    return {
        "instance_id": view.instance_id,
        "name": view.name,
        "status": view.status,
        "start_time": view.start_time.isoformat(),
        "creation_time": view.creation_time.isoformat(),
        "zone": view.zone,
        "tags": dict(view.tags),
        "security_lock": view.security_lock,
        "expired": view.expired,
        "never_returns": view.never_returns,
    }


class AdminRoutes:
    def __init__(
        self,
        fleet: Fleet,
        calls: CallLog,
        faults: Faults,
        clock: Clock,
        describe: Callable[[], dict[str, Any]],
    ) -> None:
        self._fleet = fleet
        self._calls = calls
        self._faults = faults
        self._clock = clock
        self._describe = describe
        self._routes: dict[tuple[str, str], Callable[[HttpRequest], Reply]] = {
            ("GET", "/_sim/state"): self._state,
            ("GET", "/_sim/calls"): self._list_calls,
            ("DELETE", "/_sim/calls"): self._clear_calls,
            ("GET", "/_sim/faults"): self._list_faults,
            ("POST", "/_sim/faults"): self._add_fault,
            ("DELETE", "/_sim/faults"): self._clear_faults,
            ("POST", "/_sim/instances"): self._add_instance,
            ("POST", "/_sim/clock"): self._move_clock,
        }

    def __call__(self, request: HttpRequest) -> Reply:
        route = self._routes.get((request.method, request.path.rstrip("/")))
        if route is None:
            known = sorted(f"{method} {path}" for method, path in self._routes)
            return Reply(
                404, {"error": f"no route {request.method} {request.path}", "routes": known}
            )
        try:
            return route(request)
        except (ValueError, TypeError, KeyError) as error:
            return Reply(400, {"error": str(error)})

    def _state(self, request: HttpRequest) -> Reply:
        regions = {
            region: [
                instance_json(view)
                for view in self._fleet.page(region, 0, self._fleet.count(region))
            ]
            for region in self._fleet.regions
        }
        return Reply(
            200, {**self._describe(), "now": self._clock().isoformat(), "regions": regions}
        )

    def _list_calls(self, request: HttpRequest) -> Reply:
        action = request.query.get("action")
        calls = self._calls.of(action) if action else self._calls.all()
        return Reply(200, {"calls": [call.to_json() for call in calls]})

    def _clear_calls(self, request: HttpRequest) -> Reply:
        self._calls.clear()
        return Reply(200, {"calls": []})

    def _list_faults(self, request: HttpRequest) -> Reply:
        return Reply(200, self._faults.active())

    def _add_fault(self, request: HttpRequest) -> Reply:
        spec = _object(request)
        return Reply(201, add_from_json(self._faults, spec))

    def _clear_faults(self, request: HttpRequest) -> Reply:
        self._faults.clear()
        return Reply(200, self._faults.active())

    def _add_instance(self, request: HttpRequest) -> Reply:
        spec = _object(request)
        region = spec.pop("region", None)
        if not isinstance(region, str) or not region:
            raise ValueError("region (a string) is required")
        if spec.pop("update", False):
            instance_id = spec.pop("instance_id", None)
            _only(spec, _UPDATE_FIELDS)
            if not isinstance(instance_id, str):
                raise ValueError("instance_id is required with update")
            view = self._fleet.update(region, instance_id, **spec)
            return Reply(200, instance_json(view))
        _only(spec, _ADD_FIELDS)
        instance_id = self._fleet.add_instance(region, **spec)
        return Reply(201, {"instance_id": instance_id, "region": region})

    def _move_clock(self, request: HttpRequest) -> Reply:
        if not isinstance(self._clock, ManualClock):
            return Reply(409, {"error": "the simulator runs on the real clock"})
        spec = _object(request)
        if "advance" in spec:
            self._clock.advance(float(spec["advance"]))
        elif "set" in spec:
            self._clock.set(datetime.fromisoformat(str(spec["set"])))
        else:
            raise ValueError('give "advance" (seconds) or "set" (ISO 8601)')
        return Reply(200, {"now": self._clock().isoformat()})


def _object(request: HttpRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _only(spec: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")

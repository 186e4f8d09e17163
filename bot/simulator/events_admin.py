"""The ``/_sim/events`` admin routes: system events for users in another process.

    GET    /_sim/events            {"events": [...], "platform_reboots": {region: {id: n}}}
                                   (``?region=`` narrows)
    POST   /_sim/events            {"region", "instance_ids": [...], "type"? (default
                                    SystemMaintenance.Reboot), "not_before"? (ISO 8601
                                    with a zone) or "in_seconds"? (from the simulator's
                                    clock; default one day), "avoidable"? (false: a
                                    reboot leaves it Scheduled), "fails"? (true: it ends
                                    Failed at NotBefore)}
                                   → 201 {"event_ids": [...]}
    POST   /_sim/events/cancel     {"region", "event_ids": [...]} → 200 the events
    PATCH  /_sim/events/{event_id} {"avoidable"} → 200 the event

Each takes an account (``"account"`` in a body, ``?account=`` on GET; default
``home``, the simulator's own) with ``simulator --accounts``.

No signature is asked, as for the rest of ``/_sim/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.simulator.clock import Clock
from bot.simulator.errors import ApiError
from bot.simulator.events import SystemEvents, event_json
from bot.simulator.server import HttpRequest, Reply

PREFIX = "/_sim/events"
_CREATE_FIELDS = {
    "account",
    "region",
    "instance_ids",
    "type",
    "not_before",
    "in_seconds",
    "avoidable",
    "fails",
}


class EventAdminRoutes:
    def __init__(self, events: Mapping[str, SystemEvents], clock: Clock) -> None:
        """``events``: each account's (``home`` first); a request names one with
        ``"account"`` (POST bodies) or ``?account=`` (GET), else ``home``."""
        self._by_account = dict(events)
        self._home = next(iter(self._by_account))
        self._clock = clock

    def _events_of(self, account: object) -> SystemEvents:
        name = str(account) if account else self._home
        if name not in self._by_account:
            raise ValueError(f"no account {name!r}; known: {', '.join(self._by_account)}")
        return self._by_account[name]

    def handles(self, path: str) -> bool:
        path = path.rstrip("/")
        return path == PREFIX or path.startswith(PREFIX + "/")

    def __call__(self, request: HttpRequest) -> Reply:
        path = request.path.rstrip("/")
        try:
            if path == PREFIX and request.method == "GET":
                return self._list(request)
            if path == PREFIX and request.method == "POST":
                return self._create(request)
            if path == PREFIX + "/cancel" and request.method == "POST":
                return self._cancel(request)
            if path.startswith(PREFIX + "/") and request.method == "PATCH":
                return self._patch(request, path.removeprefix(PREFIX + "/"))
        except ApiError as error:
            return Reply(error.status, {"error": error.message, "code": error.code})
        except KeyError as error:
            return Reply(404, {"error": f"no event {error}"})
        except (ValueError, TypeError) as error:
            return Reply(400, {"error": str(error)})
        return Reply(404, {"error": f"no route {request.method} {request.path}"})

    def _list(self, request: HttpRequest) -> Reply:
        region = request.query.get("region") or None
        chosen = self._events_of(request.query.get("account"))
        events = chosen.all(region)
        reboots: dict[str, dict[str, int]] = {}
        for (where, instance_id), count in chosen.platform_reboots.items():
            if region is None or where == region:
                reboots.setdefault(where, {})[instance_id] = count
        return Reply(
            200, {"events": [event_json(view) for view in events], "platform_reboots": reboots}
        )

    def _create(self, request: HttpRequest) -> Reply:
        spec = _object(request)
        unknown = set(spec) - _CREATE_FIELDS
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        region = spec.get("region")
        ids = spec.get("instance_ids")
        if not isinstance(region, str) or not region:
            raise ValueError("region (a string) is required")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("instance_ids (a list of strings) is required")
        not_before: datetime | None = None
        if spec.get("not_before") is not None:
            not_before = datetime.fromisoformat(str(spec["not_before"]))
            if not_before.tzinfo is None:
                raise ValueError("not_before needs a time zone")
        elif spec.get("in_seconds") is not None:
            not_before = self._clock() + timedelta(seconds=float(spec["in_seconds"]))
        event_ids = self._events_of(spec.get("account")).create(
            region,
            ids,
            str(spec.get("type", "SystemMaintenance.Reboot")),
            not_before,
            avoidable=bool(spec.get("avoidable", True)),
            fails=bool(spec.get("fails", False)),
        )
        return Reply(201, {"event_ids": event_ids})

    def _cancel(self, request: HttpRequest) -> Reply:
        spec = _object(request)
        region, ids = spec.get("region"), spec.get("event_ids")
        if not isinstance(region, str) or not isinstance(ids, list):
            raise ValueError("region (a string) and event_ids (a list) are required")
        chosen = self._events_of(spec.get("account"))
        chosen.cancel(region, [str(i) for i in ids])
        return Reply(200, {"events": [event_json(v) for v in chosen.all(region)]})

    def _patch(self, request: HttpRequest, event_id: str) -> Reply:
        spec = _object(request)
        chosen = self._events_of(spec.pop("account", None))
        if set(spec) != {"avoidable"}:
            raise ValueError('only "avoidable" can be changed')
        return Reply(200, event_json(chosen.set_avoidable(event_id, bool(spec["avoidable"]))))


def _object(request: HttpRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body

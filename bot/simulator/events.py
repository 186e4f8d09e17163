"""System events: the platform's own scheduled maintenance, as ECS reports and plays it.

The API pages (``DescribeInstanceHistoryEvents``, ``CreateSimulatedSystemEvents``,
``CancelSimulatedSystemEvents``) and the official SDK's models give the shapes; the
simulator plays what the platform does with a reboot event:

* created ``Scheduled`` with a ``NotBefore`` (``CreateSimulatedSystemEvents``);
* a reboot of the instance through ``RebootInstances`` (not a DryRun) before ``NotBefore``
  ends a ``Scheduled`` reboot-type event ``Avoided`` at the call's moment;
* at ``NotBefore`` a still ``Scheduled`` event goes ``Executing``: the platform reboots the
  instance (a reboot not counted among the API's reboots), and once the instance is
  ``Running`` again the event is ``Executed``; a non-reboot type goes ``Executed`` at
  ``NotBefore``;
* ``CancelSimulatedSystemEvents`` ends a ``Scheduled`` event ``Canceled``.

Two knobs exist for tests only (admin API and ``create``): ``avoidable=False`` keeps an
event ``Scheduled`` through a reboot (the case Alibaba's advice covers: "if its state
does not change, try again 12 hours later"), and ``fails=True`` ends it ``Failed`` at
``NotBefore`` instead of rebooting.

Like the fleet, nothing runs in the background: ``settle`` applies what the clock says
has happened, and the simulator calls it before every API call and admin request.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.simulator.api import (
    MAX_IDS,
    Body,
    Params,
    decode_token,
    encode_token,
    indexed_instance_ids,
    integer_param,
    iso_second,
)
from bot.simulator.clock import Clock
from bot.simulator.errors import ApiError, invalid_parameter, missing_parameter
from bot.simulator.fleet import INSTANCE_ID_PATTERN, Fleet

# The reboot-type maintenance events (what the bot watches) and the other documented
# types the simulator accepts. The numeric codes beside the names are what the API's
# samples show as far as they show them; no source settled all of them, and the bot
# reads the names only.
REBOOT_TYPES = (
    "SystemMaintenance.Reboot",
    "SystemMaintenance.RebootAndIsolateErrorDisk",
    "SystemMaintenance.RebootAndReInitErrorDisk",
)
EVENT_TYPES: dict[str, int] = {
    "SystemMaintenance.Reboot": 1,
    "SystemMaintenance.Redeploy": 2,
    "SystemFailure.Reboot": 65,
    "SystemFailure.Redeploy": 66,
    "InstanceFailure.Reboot": 67,
    "SystemMaintenance.Stop": 3,
    "SystemFailure.Stop": 68,
    "SystemMaintenance.RebootAndIsolateErrorDisk": 4,
    "SystemMaintenance.RebootAndReInitErrorDisk": 5,
}
CYCLE_STATES: dict[str, int] = {
    "Scheduled": 24,
    "Avoided": 35,
    "Executing": 33,
    "Executed": 34,
    "Canceled": 38,
    "Failed": 39,
    "Inquiring": 40,
}
FINISHED = ("Avoided", "Executed", "Canceled", "Failed")
MAX_STATUS_FILTERS = 7
MAX_TYPE_FILTERS = 30
_ALNUM = string.ascii_lowercase + string.digits


@dataclass
class _Event:
    event_id: str
    region: str
    instance_id: str
    event_type: str
    not_before: datetime
    published: datetime
    state: str = "Scheduled"
    finished: datetime | None = None
    avoidable: bool = True
    fails: bool = False
    back_at: datetime | None = None  # Executing until the instance is back up

    @property
    def reboots(self) -> bool:
        return self.event_type in REBOOT_TYPES


@dataclass(frozen=True)
class EventView:
    """One event as the API shows it at one moment."""

    event_id: str
    region: str
    instance_id: str
    event_type: str
    state: str
    not_before: datetime
    published: datetime
    finished: datetime | None


class SystemEvents:
    """The events of every region, their state machine, and the three API actions."""

    def __init__(self, fleet: Fleet, clock: Clock, seed: int | str = 0) -> None:
        self._fleet = fleet
        self._clock = clock
        self._random = random.Random(f"{seed}/events")
        self._lock = threading.RLock()
        self._events: dict[str, _Event] = {}  # in creation order
        # How many times the platform itself rebooted each (region, instance).
        self.platform_reboots: dict[tuple[str, str], int] = {}
        fleet.reboot_listeners.append(self._on_reboot)

    # --- the state machine ------------------------------------------------------------

    def create(
        self,
        region: str,
        instance_ids: Iterable[str],
        event_type: str = "SystemMaintenance.Reboot",
        not_before: datetime | None = None,
        *,
        avoidable: bool = True,
        fails: bool = False,
    ) -> list[str]:
        """Schedule one event per instance; returns their ids. ``not_before`` defaults
        to one day from now. Raises ``ApiError`` as the API would."""
        ids = list(instance_ids)
        if event_type not in EVENT_TYPES:
            raise invalid_parameter("EventType", f"Valid values: {', '.join(EVENT_TYPES)}.")
        if not ids:
            raise missing_parameter("InstanceId")
        if len(ids) > MAX_IDS:
            raise invalid_parameter("InstanceId", "It can hold at most 100 instance ids.")
        for instance_id in ids:
            if not INSTANCE_ID_PATTERN.fullmatch(instance_id) or (
                self._fleet.get(region, instance_id) is None
            ):
                raise ApiError(
                    404,
                    "InvalidInstanceId.NotFound",
                    f"The specified InstanceId {instance_id} does not exist.",
                )
        with self._lock:
            now = self._clock()
            when = not_before if not_before is not None else now + timedelta(days=1)
            created = []
            for instance_id in ids:
                event = _Event(
                    event_id=self._new_id(),
                    region=region,
                    instance_id=instance_id,
                    event_type=event_type,
                    not_before=when.astimezone(UTC),
                    published=now,
                    avoidable=avoidable,
                    fails=fails,
                )
                self._events[event.event_id] = event
                created.append(event.event_id)
            self.settle()
            return created

    def cancel(self, region: str, event_ids: Iterable[str]) -> None:
        """Cancel ``Scheduled`` events; an unknown id or one already over is refused."""
        ids = list(event_ids)
        if not ids:
            raise missing_parameter("EventId")
        if len(ids) > MAX_IDS:
            raise invalid_parameter("EventId", "It can hold at most 100 event ids.")
        with self._lock:
            self.settle()
            for event_id in ids:
                event = self._events.get(event_id)
                if event is None or event.region != region:
                    raise ApiError(
                        404,
                        "InvalidEventId.NotFound",
                        f"The specified EventId {event_id} does not exist.",
                    )
                if event.state != "Scheduled":
                    raise ApiError(
                        403,
                        "IncorrectEventStatus",
                        f"The current status of event {event_id} ({event.state}) does not "
                        "support this operation.",
                    )
            now = self._clock()
            for event_id in ids:
                self._end(self._events[event_id], "Canceled", now)

    def settle(self) -> None:
        """Play what the platform has done up to now: ``Scheduled`` events past their
        ``NotBefore`` start executing (the instance rebooted from that moment), and
        executing ones whose instance is back end ``Executed``."""
        with self._lock:
            now = self._clock()
            for event in self._events.values():
                if event.state == "Scheduled" and event.not_before <= now:
                    self._execute(event)
                back = event.back_at
                if event.state == "Executing" and back is not None and back <= now:
                    self._end(event, "Executed", back)

    def view(self, event_id: str) -> EventView | None:
        with self._lock:
            self.settle()
            event = self._events.get(event_id)
            return None if event is None else _view(event)

    def all(self, region: str | None = None) -> list[EventView]:
        with self._lock:
            self.settle()
            return [
                _view(event)
                for event in self._events.values()
                if region is None or event.region == region
            ]

    def set_avoidable(self, event_id: str, avoidable: bool) -> EventView:
        with self._lock:
            event = self._events.get(event_id)
            if event is None:
                raise KeyError(event_id)
            event.avoidable = avoidable
            return _view(event)

    def _execute(self, event: _Event) -> None:
        if event.fails:
            self._end(event, "Failed", event.not_before)
            return
        if not event.reboots:
            self._end(event, "Executed", event.not_before)
            return
        event.state = "Executing"
        view = self._fleet.get(event.region, event.instance_id)
        if view is None or view.status != "Running":
            # Nothing to reboot (released, or stopped): the maintenance is done without it.
            event.back_at = event.not_before
            return
        self._fleet.reboot(event.region, [event.instance_id], at=event.not_before, platform=True)
        key = (event.region, event.instance_id)
        self.platform_reboots[key] = self.platform_reboots.get(key, 0) + 1
        event.back_at = event.not_before + self._fleet.stop_duration + self._fleet.start_duration

    def _on_reboot(self, region: str, instance_ids: list[str], at: datetime) -> None:
        """A reboot through the API at ``at``: the instance's pending reboot events are
        avoided (unless a test made them stubborn)."""
        with self._lock:
            self.settle()
            wanted = set(instance_ids)
            for event in self._events.values():
                if (
                    event.region == region
                    and event.instance_id in wanted
                    and event.state == "Scheduled"
                    and event.reboots
                    and event.avoidable
                    and at < event.not_before
                ):
                    self._end(event, "Avoided", at)

    @staticmethod
    def _end(event: _Event, state: str, at: datetime) -> None:
        event.state = state
        event.finished = at

    def _new_id(self) -> str:
        while True:
            candidate = "e-" + "".join(self._random.choices(_ALNUM, k=20))
            if candidate not in self._events:
                return candidate

    # --- the API ----------------------------------------------------------------------

    def actions(self) -> dict[str, Callable[[str, Params], Body]]:
        """The three actions, for ``EcsApi.add_actions``."""
        return {
            "DescribeInstanceHistoryEvents": self.describe_history,
            "CreateSimulatedSystemEvents": self._create_action,
            "CancelSimulatedSystemEvents": self._cancel_action,
        }

    def describe_history(self, region: str, params: Params) -> Body:
        """``DescribeInstanceHistoryEvents``: filters hold together (AND). Without
        ``InstanceEventCycleStatus.N`` or ``EventCycleStatus`` only finished events come
        back. Paging by ``PageNumber``/``PageSize`` (1..100, default 10), or by
        ``MaxResults`` + ``NextToken`` when ``MaxResults`` is given. Events come in the
        order they were created."""
        states = _indexed(params, "InstanceEventCycleStatus", MAX_STATUS_FILTERS, CYCLE_STATES)
        if not states and params.get("EventCycleStatus"):
            states = [_known(params["EventCycleStatus"], "EventCycleStatus", CYCLE_STATES)]
        types = _indexed(params, "InstanceEventType", MAX_TYPE_FILTERS, EVENT_TYPES)
        if not types and params.get("EventType"):
            types = [_known(params["EventType"], "EventType", EVENT_TYPES)]
        event_ids = _indexed(params, "EventId", MAX_IDS, None)
        resource_ids = _indexed(params, "ResourceId", MAX_IDS, None)
        instance_id = params.get("InstanceId") or None
        not_before = _range(params, "NotBefore")
        published = _range(params, "EventPublishTime")
        by_token = "MaxResults" in params
        if by_token:
            page_size = integer_param(params, "MaxResults", default=10, low=1, high=100)
            offset = decode_token(params.get("NextToken") or "")
        else:
            page_size = integer_param(params, "PageSize", default=10, low=1, high=100)
            page_number = integer_param(params, "PageNumber", default=1, low=1, high=10**9)
            offset = (page_number - 1) * page_size
        wanted_states = set(states) if states else set(FINISHED)
        with self._lock:
            self.settle()
            matched = [
                event
                for event in self._events.values()
                if event.region == region
                and event.state in wanted_states
                and (not types or event.event_type in types)
                and (not event_ids or event.event_id in event_ids)
                and (not resource_ids or event.instance_id in resource_ids)
                and (instance_id is None or event.instance_id == instance_id)
                and _within(event.not_before, not_before)
                and _within(event.published, published)
            ]
            page = [_event_json(event) for event in matched[offset : offset + page_size]]
        body: Body = {
            "InstanceSystemEventSet": {"InstanceSystemEventType": page},
            "TotalCount": len(matched),
            "PageNumber": offset // page_size + 1,
            "PageSize": page_size,
        }
        next_offset = offset + len(page)
        if by_token:
            body["NextToken"] = encode_token(next_offset) if next_offset < len(matched) else ""
        return body

    def _create_action(self, region: str, params: Params) -> Body:
        event_type = params.get("EventType")
        if not event_type:
            raise missing_parameter("EventType")
        raw = params.get("NotBefore")
        if not raw:
            raise missing_parameter("NotBefore")
        not_before = _parse_time(raw, "NotBefore")
        ids = self.create(region, indexed_instance_ids(params), event_type, not_before)
        return {"EventIdSet": {"EventId": ids}}

    def _cancel_action(self, region: str, params: Params) -> Body:
        self.cancel(region, _indexed(params, "EventId", MAX_IDS, None))
        return {}


# --- helpers ------------------------------------------------------------------------------


def _view(event: _Event) -> EventView:
    return EventView(
        event_id=event.event_id,
        region=event.region,
        instance_id=event.instance_id,
        event_type=event.event_type,
        state=event.state,
        not_before=event.not_before,
        published=event.published,
        finished=event.finished,
    )


def event_json(view: EventView) -> dict[str, Any]:
    """An event for the admin API."""
    return {
        "event_id": view.event_id,
        "region": view.region,
        "instance_id": view.instance_id,
        "type": view.event_type,
        "state": view.state,
        "not_before": view.not_before.isoformat(),
        "published": view.published.isoformat(),
        "finished": view.finished.isoformat() if view.finished else None,
    }


def _event_json(event: _Event) -> Body:
    body: Body = {
        "EventId": event.event_id,
        "InstanceId": event.instance_id,
        "EventType": {"Code": EVENT_TYPES[event.event_type], "Name": event.event_type},
        "EventCycleStatus": {"Code": CYCLE_STATES[event.state], "Name": event.state},
        "NotBefore": iso_second(event.not_before),
        "EventPublishTime": iso_second(event.published),
        "Reason": "Simulated system event.",
        "ReasonCode": "SystemMaintenance",
        "ImpactLevel": "100",
        "ResourceType": "instance",
        "ExtendedAttribute": {"Device": "", "DiskId": ""},
    }
    if event.finished is not None:
        body["EventFinishTime"] = iso_second(event.finished)
    return body


def _indexed(params: Params, name: str, most: int, allowed: dict[str, int] | None) -> list[str]:
    """``Name.1`` … ``Name.N`` in order of N; N beyond ``most`` or a value not in
    ``allowed`` is an ``InvalidParameter``."""
    prefix = f"{name}."
    found: dict[int, str] = {}
    for key, value in params.items():
        if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
            continue
        number = int(key[len(prefix) :])
        if not 1 <= number <= most:
            raise invalid_parameter(key, f"N must be from 1 to {most}.")
        if value:
            found[number] = value if allowed is None else _known(value, key, allowed)
    return [found[n] for n in sorted(found)]


def _known(value: str, name: str, allowed: dict[str, int]) -> str:
    if value not in allowed:
        raise invalid_parameter(name, f"Valid values: {', '.join(allowed)}.")
    return value


def _range(params: Params, name: str) -> tuple[datetime | None, datetime | None]:
    start = params.get(f"{name}.Start")
    end = params.get(f"{name}.End")
    return (
        _parse_time(start, f"{name}.Start") if start else None,
        _parse_time(end, f"{name}.End") if end else None,
    )


def _within(moment: datetime, bounds: tuple[datetime | None, datetime | None]) -> bool:
    start, end = bounds
    return (start is None or moment >= start) and (end is None or moment <= end)


def _parse_time(raw: str, name: str) -> datetime:
    """``yyyy-MM-ddTHH:mm:ssZ`` (UTC), as the pages ask; minutes alone are accepted too."""
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ"):
        try:
            return datetime.strptime(raw, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise invalid_parameter(name, "Use the UTC format yyyy-MM-ddTHH:mm:ssZ.")

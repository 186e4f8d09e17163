"""Reading ECS platform events: ``DescribeInstanceHistoryEvents``, its batches of event
ids and its pages, and each answer's events parsed into :class:`PlatformEvent`.

:meth:`bot.ecs.client.EcsClient.describe_events` hands :func:`read_events` the signed,
retried call; this module holds what the action asks and what its answer means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.domain.events import MAX_EVENT_IDS_PER_CALL, EventState, PlatformEvent
from bot.ecs.wire import Params, as_int, indexed, list_at

Call = Callable[[Params], dict[str, Any]]
"""One ``DescribeInstanceHistoryEvents`` call with these parameters: its answer's body."""


def read_events(
    call: Call,
    region: str,
    account: str,
    *,
    states: Sequence[str] = (),
    types: Sequence[str] = (),
    event_ids: Sequence[str] = (),
) -> list[PlatformEvent]:
    """Every page of ``DescribeInstanceHistoryEvents`` through ``call`` (see
    ``EcsClient.describe_events``): ``event_ids`` batched ≤100 a call, events of a state
    or type the bot does not know skipped."""
    base: Params = {"RegionId": region, "PageSize": str(MAX_EVENT_IDS_PER_CALL)}
    base.update(indexed("InstanceEventCycleStatus", states))
    base.update(indexed("InstanceEventType", types))
    ids = tuple(event_ids)
    batches = (
        [ids[i : i + MAX_EVENT_IDS_PER_CALL] for i in range(0, len(ids), MAX_EVENT_IDS_PER_CALL)]
        if ids
        else [()]
    )
    found: dict[str, PlatformEvent] = {}
    for batch in batches:
        page = 1
        while True:
            params = {**base, **indexed("EventId", batch), "PageNumber": str(page)}
            body = call(params)
            items = list_at(body, "InstanceSystemEventSet", "InstanceSystemEventType")
            for item in items:
                event = _parse_event(item, region, account)
                if event is not None:
                    # Keyed by id: an event that moved across a page boundary
                    # between two calls is kept once.
                    found[event.event_id] = event
            if not items or page * MAX_EVENT_IDS_PER_CALL >= as_int(body.get("TotalCount")):
                break
            page += 1
    return list(found.values())


def _parse_event(item: Mapping[str, Any], region: str, account: str) -> PlatformEvent | None:
    """One ``InstanceSystemEventType``; None for a state the bot does not know or a
    missing deadline (nothing to act on)."""
    status = item.get("EventCycleStatus")
    kind = item.get("EventType")
    state_name = status.get("Name") if isinstance(status, Mapping) else None
    type_name = kind.get("Name") if isinstance(kind, Mapping) else None
    not_before = _event_time(item.get("NotBefore"))
    try:
        state = EventState(str(state_name))
    except ValueError:
        return None
    if not type_name or not_before is None:
        return None
    return PlatformEvent(
        event_id=str(item.get("EventId")),
        account=account,
        region=region,
        instance_id=str(item.get("InstanceId") or ""),
        event_type=str(type_name),
        state=state,
        not_before=not_before,
        published_at=_event_time(item.get("EventPublishTime")),
        finished_at=_event_time(item.get("EventFinishTime")),
    )


def _event_time(value: object) -> datetime | None:
    """``yyyy-MM-ddTHH:mm:ssZ`` (or with minutes only, or an offset) as aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""What the bot knows of platform events, for ``ecs-reboot-bot events [--json]`` and for
``history --json`` (each request's ``events``, and ``source`` ``event``; §2, §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.domain.events import KnownEvent
from bot.services.event_watch import EventUnitOfWork


def event_json(known: KnownEvent) -> dict[str, Any]:
    """One event as ``events --json`` prints it. Field names are public interface."""
    event = known.event
    return {
        "event_id": event.event_id,
        "account": event.account,
        "region": event.region,
        "instance_id": event.instance_id,
        "type": event.event_type,
        "state": event.state.value,
        "not_before": event.not_before.isoformat(),
        "request_id": known.request_id,
    }


def event_rows(uow: Callable[[], EventUnitOfWork], *, limit: int = 1000) -> list[dict[str, Any]]:
    """Every event the bot knows, newest deadline first."""
    with uow() as unit:
        return [event_json(known) for known in unit.events.all(limit)]


def events_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no platform maintenance events known"
    lines = [f"{'EVENT':<24} {'INSTANCE':<24} {'STATE':<10} {'NOT BEFORE':<26} REQUEST"]
    for row in rows:
        lines.append(
            f"{row['event_id']:<24} {row['region'] + '/' + row['instance_id']:<24} "
            f"{row['state']:<10} {row['not_before']:<26} {row['request_id'] or '-'}"
        )
    return "\n".join(lines)


def with_events(
    uow: Callable[[], EventUnitOfWork], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``history --json`` rows with ``events`` (what each request rebooted for); the
    request's own ``source`` (``event`` for one opened from a card) is kept when the row
    has one."""
    with uow() as unit:
        for row in rows:
            linked = unit.events.of_request(str(row["id"]))
            row["events"] = [
                {
                    "event_id": k.event_id,
                    "type": k.event.event_type,
                    "not_before": k.event.not_before.isoformat(),
                    "state": k.event.state.value,
                }
                for k in linked
            ]
            if "source" not in row:
                row["source"] = (
                    "event" if linked else ("retry" if row.get("retry_of") else "command")
                )
    return rows

"""``history``: recent requests in the schema of docs/PRODUCT.md §7 (``--json``) or as a table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.domain.model import RequestState
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.ports import UnitOfWorkFactory

# An instance's ``message`` in words: what happened to it, else its preview verdict. The
# words are the renderer's (``bot.slack.outcomes.instance_message``); the core has none.
MessageOf = Callable[[RebootRequest, PlannedInstance], str | None]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def request_json(request: RebootRequest, *, message: MessageOf) -> dict[str, Any]:
    """One request as ``history --json`` prints it. Field names are public interface."""
    return {
        "id": request.id,
        "state": request.state.value,
        "requester": request.requester,
        "channel": request.channel,
        "force": request.force,
        "created_at": _iso(request.created_at),
        "expires_at": _iso(request.expires_at),
        "confirmed_by": request.confirmed_by,
        "confirmed_at": _iso(request.confirmed_at),
        "cancelled_by": request.cancelled_by,
        "finished_at": _iso(request.finished_at),
        "regions": list(request.regions),
        "accounts": list(request.accounts),
        "rollout": {
            "waves": request.rollout_waves,
            "canary": request.rollout_canary,
            "batch": request.rollout_batch,
            "max_errors": request.rollout_max_errors,
        },
        "stop_reason": request.stop_reason.value if request.stop_reason else None,
        "reason": request.reason,
        "approvals": [{"user": a.user, "at": _iso(a.at)} for a in request.approvals],
        "approvals_needed": request.approvals_needed,
        "rejected_by": request.rejected_by,
        "retry_of": request.retry_of,
        "retried_by": request.retried_by_request,
        "selectors": list(request.selectors),
        "scheduled_for": _iso(request.scheduled_for),
        "window": request.window,
        "source": request.source.value,
        "instances": [
            {
                "instance_id": i.ref.instance_id,
                "account": i.ref.account,
                "region": i.ref.region,
                "name": i.name,
                "verdict": i.verdict.value,
                "outcome": i.outcome.value,
                "code": i.code if i.code is not None else i.verdict_code,
                "message": message(request, i),
                "wave": i.wave,
                # Real (not DryRun) reboot calls it was sent, each counted before it went out.
                "reboot_calls": i.reboot_calls,
            }
            for i in request.instances
        ],
    }


def history_rows(
    uow_factory: UnitOfWorkFactory,
    *,
    limit: int,
    state: RequestState | None = None,
    user: str | None = None,
    since: datetime | None = None,
    message: MessageOf,
) -> list[dict[str, Any]]:
    """Newest first."""
    with uow_factory() as uow:
        requests = uow.requests.list_recent(limit, state=state, user=user, since=since)
    return [request_json(request, message=message) for request in requests]


def history_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no reboot requests yet"
    lines = [f"{'ID':<13} {'STATE':<17} {'MODE':<6} {'BY':<12} {'CREATED':<20} OUTCOMES"]
    for row in rows:
        outcomes: dict[str, int] = {}
        for instance in row["instances"]:
            outcomes[instance["outcome"]] = outcomes.get(instance["outcome"], 0) + 1
        summary = ", ".join(f"{count} {outcome}" for outcome, count in outcomes.items())
        lines.append(
            f"{row['id']:<13} {row['state']:<17} {'force' if row['force'] else 'normal':<6} "
            f"{row['requester']:<12} {str(row['created_at'])[:19]:<20} {summary}"
        )
    return "\n".join(lines)

"""A rollout in a maintenance window (docs/PRODUCT.md §5.10): between waves, a closed window
pauses it ("window closed") until its next opening, and that opening resumes it by
itself. The decision is ``bot.domain.schedule.between_waves``; this writes it, in one
conditional update each, and tells the message, the thread and the notify channel."""

from __future__ import annotations

from datetime import datetime

from bot.domain.model import RequestState
from bot.domain.request import RebootRequest
from bot.domain.schedule import HoldForWindow, ScheduleEvent, ScheduleEventKind, between_waves
from bot.domain.windows import is_open
from bot.services.context import Context
from bot.services.ports import RequestUpdate
from bot.services.scheduled import SCHEDULER
from bot.services.writes import move_by_itself


def reopen_if_due(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """A rollout paused because its window closed goes on once it is open again (a
    person's Pause meanwhile cleared ``window_reopens_at``: then only Resume does)."""
    if request.state is not RequestState.PAUSED or request.window_reopens_at is None:
        return request
    window = ctx.config.windows.get(request.window or "")
    if now < request.window_reopens_at or (window is not None and not is_open(window, now)):
        return request
    latest, won = move_by_itself(
        ctx,
        request,
        (RequestState.PAUSED, RequestState.EXECUTING),
        RequestUpdate(window_reopens_at=None),
        now=now,
        actor=SCHEDULER,
        action="resume",
        detail={"why": "window_open"},
    )
    if won:
        ctx.presenter.refresh_request(latest)
        ctx.presenter.announce_schedule(latest, ScheduleEvent(ScheduleEventKind.WINDOW_REOPENED))
    return latest


def held_for_window(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest | None:
    """The request paused until its window's next opening when the window is closed now
    (None when the next wave may go: no window, or it is open)."""
    if request.window is None:
        return None
    gate = between_waves(ctx.config.windows.get(request.window), now)
    if not isinstance(gate, HoldForWindow):
        return None
    return _pause_for_window(ctx, request, now, gate.reopens)


def _pause_for_window(
    ctx: Context, request: RebootRequest, now: datetime, reopens: datetime
) -> RebootRequest:
    latest, won = move_by_itself(
        ctx,
        request,
        (RequestState.EXECUTING, RequestState.PAUSED),
        RequestUpdate(paused_by=None, window_reopens_at=reopens),
        now=now,
        actor=SCHEDULER,
        action="pause",
        detail={"why": "window_closed", "reopens": reopens.isoformat()},
    )
    if won:
        ctx.presenter.refresh_request(latest)
        ctx.presenter.announce_schedule(
            latest, ScheduleEvent(ScheduleEventKind.WINDOW_CLOSED, at=reopens)
        )
    return latest

"""Pause, Resume and Abort a running rollout (docs/PRODUCT.md §5.8).

Decided like a confirm click (docs/decisions/0001): before the ack, on the database
only: the request is loaded, the clicker checked (the requester or an admin, holding
the role the reboot needs, checked now), and one conditional update records the choice
with its audit line. The poller does the rest on its next tick: a pause lets the wave in
flight finish and sends no new one; an abort ends the request ``aborted`` once the wave
in flight is over. What runs after the ack is only the redraw and the notification.
"""

from __future__ import annotations

from bot.domain.model import RequestState, RolloutEvent, StopReason
from bot.domain.policy import check_may_act_on
from bot.domain.request import RebootRequest
from bot.services.answers import NoSuchRequest, NotRunning, OtherChannel
from bot.services.clicks import Click, Later, if_allowed, telling
from bot.services.context import Context
from bot.services.ports import RequestUpdate


def _authorized(ctx: Context, click: Click) -> RebootRequest | Later:
    with ctx.uow() as uow:
        request = uow.requests.get(click.request_id)
        principal = ctx.principal(uow, click.user) if request is not None else None
    if request is None or principal is None:
        return telling(ctx, click, NoSuchRequest(click.request_id))
    if request.channel != click.channel:
        return telling(ctx, click, OtherChannel())
    return if_allowed(ctx, click, request, principal, check=check_may_act_on)


def _done(ctx: Context, request_id: str, event: RolloutEvent) -> Later:
    def redraw_and_notify() -> bool:
        with ctx.uow() as uow:
            latest = uow.requests.get(request_id)
        if latest is None:
            return False
        ctx.presenter.refresh_request(latest)
        if ctx.config.notify_channel:
            ctx.presenter.notify_rollout(latest, event)
        return True

    return redraw_and_notify


def pause(ctx: Context, click: Click) -> Later:
    """``reboot_pause``: no new wave until someone resumes; the wave in flight finishes.
    A rollout waiting for its window to open again (docs/PRODUCT.md §5.10) then waits for a
    person's Resume instead."""
    with ctx.uow() as uow:
        current = uow.requests.get(click.request_id)
    if (
        current is not None
        and current.state is RequestState.PAUSED
        and current.window_reopens_at is not None
    ):
        return _hold_through_window(ctx, click)
    return _move(
        ctx,
        click,
        RequestState.EXECUTING,
        RequestState.PAUSED,
        # A person's pause waits for a person's Resume, never for a window.
        RequestUpdate(paused_by=click.user, pause_after_wave=None, window_reopens_at=None),
        action="pause",
        event=RolloutEvent.PAUSED,
    )


def _hold_through_window(ctx: Context, click: Click) -> Later:
    request = _authorized(ctx, click)
    if not isinstance(request, RebootRequest):
        return request
    now = ctx.clock()
    with ctx.uow() as uow:
        # Only while still waiting for the window, in the same statement.
        won = request.stop_reason is None and uow.requests.set_fields(
            request.id,
            RequestUpdate(paused_by=click.user, window_reopens_at=None),
            while_in=RequestState.PAUSED,
        )
        if won:
            uow.audit.append(
                at=now,
                actor=click.user,
                action="pause",
                request_id=request.id,
                detail={"why": "held_through_window"},
            )
        uow.commit()
    if not won:
        return _not_running(ctx, click, "pause")
    return _done(ctx, request.id, RolloutEvent.PAUSED)


def resume(ctx: Context, click: Click) -> Later:
    """``reboot_resume``: the next wave goes out on the poller's next tick."""
    return _move(
        ctx,
        click,
        RequestState.PAUSED,
        RequestState.EXECUTING,
        # Due at once, so the next wave does not wait for a slow poll.
        # Outside its window the poller pauses it again until the window reopens.
        RequestUpdate(pause_after_wave=None, next_poll_at=ctx.clock(), window_reopens_at=None),
        action="resume",
        event=RolloutEvent.RESUMED,
    )


def _move(
    ctx: Context,
    click: Click,
    from_state: RequestState,
    to_state: RequestState,
    changes: RequestUpdate,
    *,
    action: str,
    event: RolloutEvent,
) -> Later:
    """One authorized click that moves a rollout ``from_state`` → ``to_state`` in one
    conditional update with its audit line; any other state gets "not running"."""
    request = _authorized(ctx, click)
    if not isinstance(request, RebootRequest):
        return request
    now = ctx.clock()
    with ctx.uow() as uow:
        won = request.stop_reason is None and uow.requests.transition(
            request.id, [from_state], to_state, changes
        )
        if won:
            uow.audit.append(at=now, actor=click.user, action=action, request_id=request.id)
        uow.commit()
    if not won:
        return _not_running(ctx, click, action)
    return _done(ctx, request.id, event)


def abort(ctx: Context, click: Click) -> Later:
    """``reboot_abort``: no new wave; the request ends ``aborted`` once the wave in flight
    is over, and the instances never sent end ``aborted``."""
    request = _authorized(ctx, click)
    if not isinstance(request, RebootRequest):
        return request
    now = ctx.clock()
    stop = RequestUpdate(stop_reason=StopReason.ABORT, stopped_by=click.user, next_poll_at=now)
    with ctx.uow() as uow:
        won = False
        if request.stop_reason is None and request.state is RequestState.PAUSED:
            # Back to executing with the stop recorded: the poller ends it aborted.
            won = uow.requests.transition(
                request.id, [RequestState.PAUSED], RequestState.EXECUTING, stop
            )
        elif request.stop_reason is None and request.state is RequestState.EXECUTING:
            # Only while still executing, in the same statement: a request that
            # finished since it was loaded has nothing left to abort.
            won = uow.requests.set_fields(request.id, stop, while_in=RequestState.EXECUTING)
        if won:
            uow.audit.append(at=now, actor=click.user, action="abort", request_id=request.id)
            uow.commit()
    if not won:
        return _not_running(ctx, click, "abort")
    return _done(ctx, request.id, RolloutEvent.ABORTED)


def _not_running(ctx: Context, click: Click, action: str) -> Later:
    with ctx.uow() as uow:
        latest = uow.requests.get(click.request_id)
    if latest is None:
        return telling(ctx, click, NoSuchRequest(click.request_id))
    return telling(ctx, click, NotRunning(latest, action))

"""Scheduled reboots (docs/PRODUCT.md §5.10): what the poller does with a ``scheduled``
request, and the window a rollout waits for.

The poller claims a ``scheduled`` request (under the same lease as any other) when its
reminder or its start is due (``next_poll_at``). The decision is the pure
``bot.domain.schedule.scheduled_step``; here it is carried out:

* **remind**: the thread and the notify channel, once (``reminded_at``, recorded after
  Slack took it, so a crash repeats a reminder at worst);
* **start**: the confirmer's permission checked again (lost: ``cancelled``, the thread
  says whose and why), every instance described and dry-run afresh (no longer
  rebootable: its new verdict, and it is skipped; none left: ``cancelled``), then the
  single conditional ``scheduled → executing`` update that guards every start, so two
  replicas or a restart start it once. ``execution.advance`` sends the first wave in
  the same step;
* **expire**: a start missed by more than ``ECSBOT_SCHEDULE_GRACE`` ends ``expired``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.ecs_values import RUNNING
from bot.domain.errors import EcsError
from bot.domain.model import RequestState
from bot.domain.policy import Target, check_may_act_on
from bot.domain.policy import role_needed_to_reboot as needed_role
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.schedule import (
    ScheduledStep,
    ScheduleEvent,
    ScheduleEventKind,
    When,
    WhenProblem,
    next_look,
    resolve_when,
    scheduled_step,
)
from bot.domain.verdicts import plan_instances
from bot.domain.windows import Window, current, next_opening
from bot.services.catch_up import redraw
from bot.services.context import Context
from bot.services.lookups import describe_all, dry_run_all
from bot.services.ports import RequestUpdate

log = logging.getLogger(__name__)

# The actor of the audit lines the scheduler writes by itself.
SCHEDULER = "scheduler"


@dataclass(frozen=True)
class Waited:
    """What one look at a scheduled request left: the latest snapshot, when to look
    again (None: it left ``scheduled`` and is polled as any other), and whether it was
    started just now (the caller sends the first wave at once)."""

    request: RebootRequest | None
    next_poll_at: datetime | None = None
    started: bool = False


def scheduled_at(request: RebootRequest) -> datetime:
    """When the request was scheduled (older rows: its confirm, or its preview)."""
    return request.scheduled_at or request.confirmed_at or request.created_at


def first_look(ctx: Context, request: RebootRequest, now: datetime) -> datetime:
    """When the poller first needs to look at a request scheduled ``now``."""
    assert request.scheduled_for is not None
    return next_look(
        start=request.scheduled_for,
        scheduled_at=now,
        reminded=False,
        times=ctx.config.schedule_times,
    )


def step_scheduled(ctx: Context, request: RebootRequest, now: datetime) -> Waited:
    """One look at a ``scheduled`` request, by the poller holding its lease."""
    start = request.scheduled_for or now
    times = ctx.config.schedule_times
    step = scheduled_step(
        start=start,
        scheduled_at=scheduled_at(request),
        reminded=request.reminded_at is not None,
        now=now,
        times=times,
    )
    if step is ScheduledStep.EXPIRE:
        return _expire(ctx, request, now)
    if step is ScheduledStep.REMIND:
        request = _remind(ctx, request, now)
    if step is ScheduledStep.START:
        return _start(ctx, request, now)
    look = next_look(
        start=start,
        scheduled_at=scheduled_at(request),
        reminded=request.reminded_at is not None,
        times=times,
    )
    if step is ScheduledStep.REMIND and request.reminded_at is None:
        # Slack did not take the reminder: try again after a poll interval.
        look = min(start, now + timedelta(seconds=ctx.config.poll_interval))
    return Waited(request, look)


def _remind(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    event = ScheduleEvent(ScheduleEventKind.REMINDER, at=request.scheduled_for)
    if not ctx.presenter.announce_schedule(request, event):
        return request
    update = RequestUpdate(reminded_at=now)
    with ctx.uow() as uow:
        uow.requests.set_fields(request.id, update, while_in=RequestState.SCHEDULED)
        uow.audit.append(at=now, actor=SCHEDULER, action="remind", request_id=request.id)
        uow.commit()
    return update.applied_to(request)


def _end(
    ctx: Context,
    request: RebootRequest,
    now: datetime,
    to_state: RequestState,
    event: ScheduleEvent,
    detail: dict[str, object],
) -> Waited:
    """``scheduled`` → ``cancelled`` or ``expired``: nothing was rebooted; say why."""
    update = RequestUpdate(finished_at=now)
    with ctx.uow() as uow:
        won = uow.requests.transition(request.id, RequestState.SCHEDULED, to_state, update)
        if won:
            uow.requests.skip_pending(request.id)
            uow.audit.append(
                at=now,
                actor=SCHEDULER,
                action="expire" if to_state is RequestState.EXPIRED else "cancel",
                request_id=request.id,
                detail=detail,
            )
        uow.commit()
        latest = uow.requests.get(request.id)
    if won and latest is not None:
        ctx.presenter.announce_schedule(latest, event)
        redraw(ctx, latest)
    return Waited(latest)


def _expire(ctx: Context, request: RebootRequest, now: datetime) -> Waited:
    start = request.scheduled_for or now
    late = int((now - start).total_seconds())
    event = ScheduleEvent(ScheduleEventKind.EXPIRED, at=start)
    return _end(
        ctx,
        request,
        now,
        RequestState.EXPIRED,
        event,
        {"scheduled_for": start.isoformat(), "late_by_seconds": late},
    )


def _start(ctx: Context, request: RebootRequest, now: datetime) -> Waited:
    confirmer = request.confirmed_by or request.requester
    with ctx.uow() as uow:
        principal = ctx.principal(uow, confirmer)
    decision = check_may_act_on(
        principal,
        requester=request.requester,
        needed=needed_role(force=request.force),
        targets=[Target.at(i.ref, i.tags) for i in request.to_reboot],
    )
    if decision.denial is not None:
        event = ScheduleEvent(
            ScheduleEventKind.PERMISSION_LOST, user=confirmer, denial=decision.denial
        )
        return _end(
            ctx,
            request,
            now,
            RequestState.CANCELLED,
            event,
            {"why": "permission_lost", "confirmer": confirmer},
        )
    try:
        fresh = _checked_again(ctx, request)
    except EcsError as error:
        # ECS did not answer: try again next poll; past the grace the request expires.
        log.warning("request %s: the check before its start failed: %s", request.id, error)
        return Waited(request, now + timedelta(seconds=ctx.config.poll_interval))
    left = [i for i in fresh if i.will_reboot]
    if not left:
        event = ScheduleEvent(ScheduleEventKind.NOTHING_LEFT, count=len(fresh))
        with ctx.uow() as uow:
            uow.requests.save_instances(request.id, fresh)
            uow.commit()
        return _end(ctx, request, now, RequestState.CANCELLED, event, {"why": "nothing_left"})
    with ctx.uow() as uow:
        # The single conditional update that guards every start: a Cancel click, another
        # replica or a restarted process that got here first makes this one a no-op
        # (and the fresh verdicts are not written: left uncommitted).
        won = uow.requests.transition(request.id, RequestState.SCHEDULED, RequestState.EXECUTING)
        if won:
            uow.requests.save_instances(request.id, fresh)
            uow.audit.append(
                at=now,
                actor=SCHEDULER,
                action="start",
                request_id=request.id,
                detail={
                    "confirmed_by": confirmer,
                    "scheduled_for": (request.scheduled_for or now).isoformat(),
                    "instances": len(left),
                },
            )
            uow.commit()
    with ctx.uow() as uow:
        latest = uow.requests.get(request.id)
    if not won or latest is None:
        return Waited(latest)
    skipped = len(fresh) - len(left)
    start = request.scheduled_for or now
    # Later than a poller running on time would be (two intervals): say so.
    late = now - start > timedelta(seconds=max(5.0, 2 * ctx.config.poll_interval))
    if skipped:
        ctx.presenter.announce_schedule(
            latest, ScheduleEvent(ScheduleEventKind.SOME_SKIPPED, count=skipped)
        )
    if late:
        ctx.presenter.announce_schedule(
            latest, ScheduleEvent(ScheduleEventKind.STARTED_LATE, at=start)
        )
    return Waited(latest, started=True)


def _checked_again(ctx: Context, request: RebootRequest) -> list[PlannedInstance]:
    """The instances to reboot, described and dry-run now: each with its new verdict,
    status and ``StartTime`` (the completion rule counts a restart from this one, not
    from the preview's hours ago)."""
    planned = request.to_reboot
    refs = [i.ref for i in planned]
    found = describe_all(ctx, refs)
    candidates = [
        ref
        for ref in refs
        if ref in found and found[ref].status == RUNNING and not found[ref].operation_locks
    ]
    dry_runs = dry_run_all(ctx, candidates, force=request.force)
    now_seen = {i.ref: i for i in plan_instances(refs, found, dry_runs)}
    return [
        dataclasses.replace(
            old,
            verdict=now_seen[old.ref].verdict,
            verdict_code=now_seen[old.ref].verdict_code,
            verdict_message=now_seen[old.ref].verdict_message,
            status=now_seen[old.ref].status or old.status,
            start_time_before=now_seen[old.ref].start_time_before,
        )
        for old in planned
    ]


# ── /ecs-reboot scheduled ─────────────────────────────────────────────────────────

# The most requests the ephemeral list shows (Slack's message limits are far above).
LISTED = 50


@dataclass(frozen=True)
class WindowView:
    """A window and, at the time of the look, when it next opens and whether it is open
    (then ``open_until`` is its closing)."""

    window: Window
    next_opening: datetime
    open_until: datetime | None = None


@dataclass(frozen=True)
class ScheduledView:
    """What ``/ecs-reboot scheduled`` answers (docs/PRODUCT.md §5.10): the scheduled requests,
    soonest first, the rollouts waiting for their window to reopen, and the windows."""

    scheduled: tuple[RebootRequest, ...]
    waiting_for_window: tuple[RebootRequest, ...]
    windows: tuple[WindowView, ...]
    timezone: str


def scheduled_view(ctx: Context, now: datetime | None = None) -> ScheduledView:
    """Read what is scheduled now; the database only (fast enough before the ack)."""
    now = now or ctx.clock()
    with ctx.uow() as uow:
        scheduled = uow.requests.list_recent(LISTED, state=RequestState.SCHEDULED)
        paused = uow.requests.list_recent(LISTED, state=RequestState.PAUSED)
    waiting = [r for r in paused if r.window_reopens_at is not None]
    windows = []
    for name in sorted(ctx.config.windows):
        window = ctx.config.windows[name]
        open_now = current(window, now)
        windows.append(
            WindowView(
                window,
                next_opening(window, now),
                open_now.closes if open_now is not None else None,
            )
        )
    return ScheduledView(
        scheduled=tuple(sorted(scheduled, key=lambda r: (r.scheduled_for or now, r.id))),
        waiting_for_window=tuple(sorted(waiting, key=lambda r: (r.window_reopens_at, r.id))),
        windows=tuple(windows),
        timezone=ctx.config.timezone,
    )


__all__ = [
    "SCHEDULER",
    "ScheduledView",
    "Waited",
    "WindowView",
    "first_look",
    "scheduled_at",
    "scheduled_view",
    "step_scheduled",
]


def when_problem(ctx: Context, when: When) -> WhenProblem | None:
    """A WHEN's problem on the clock now (too soon, too far, an unknown window), so the
    parser reports it with every other problem (the command's and the form's); the
    preview places it again."""
    placed = resolve_when(
        when,
        now=ctx.clock(),
        tz=ctx.config.timezone,
        windows=ctx.config.windows,
        limits=ctx.config.schedule_limits,
    )
    return placed if isinstance(placed, WhenProblem) else None

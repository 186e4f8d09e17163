"""Reporting and finishing (docs/PRODUCT.md §5.6–5.7): coalesced thread replies while the
instances come back, the ``3/10 back`` line on the request message, and the summary with
the move to the final state.

Thread replies are posted before they are recorded as posted, so a crash repeats a
reply at worst and never loses one.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from bot.domain.model import InstanceOutcome, RequestState, final_request_state
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.rollout import sent_wave
from bot.services.catch_up import announce_end, redraw
from bot.services.context import Context
from bot.services.ports import RequestUpdate
from bot.services.writes import save_instances, set_fields

log = logging.getLogger(__name__)


def _unreported(request: RebootRequest) -> list[PlannedInstance]:
    # Cheapest test first: asked of every request in flight, each poller step.
    return [
        i
        for i in request.instances
        if i.outcome is not i.reported_outcome
        and i.outcome is not InstanceOutcome.PENDING
        and i.will_reboot
    ]


def report(ctx: Context, request: RebootRequest, now: datetime) -> RebootRequest:
    """Post what changed since the last reply, coalesced: the first reply lists every API
    result; later ones come at most as often as :func:`report_gap` allows; the end is
    left to the summary."""
    changed = _unreported(request)
    if not changed:
        return request
    first = all(i.reported_outcome is None for i in request.instances if i.will_reboot)
    done = all(i.outcome.is_final for i in request.instances)
    last = request.reported_at
    if not first and not done and last is not None and now - last < report_gap(request, now):
        return request
    if first:
        ctx.presenter.reply_execution(request)
    elif not done:
        # At the end the summary says it all: no progress reply just before it.
        ctx.presenter.reply_progress(request, changed)
    request = save_instances(
        ctx, request, [dataclasses.replace(i, reported_outcome=i.outcome) for i in changed]
    )
    progress = progress_line(request)
    if progress != request.progress_text:
        ctx.presenter.refresh_request(dataclasses.replace(request, progress_text=progress))
    return set_fields(ctx, request, RequestUpdate(progress_text=progress, reported_at=now))


def progress_line(request: RebootRequest) -> str:
    """``3/10 back``; for a rollout ``wave 2/5 · 30/100 back``."""
    back, attempted = request.progress()
    if request.rollout_waves <= 1:
        return f"{back}/{attempted} back"
    wave = max(1, sent_wave(request.instances))
    return f"wave {wave}/{request.rollout_waves} · {back}/{attempted} back"


def report_gap(request: RebootRequest, now: datetime) -> timedelta:
    """The least time between two progress replies: half the time since the reboot
    started, at least five seconds. A reboot of any size makes a handful of replies
    (about log1.5 of its duration), never one per poll."""
    started = request.confirmed_at or request.created_at
    return max(timedelta(seconds=5), (now - started) / 2)


def finish(ctx: Context, request: RebootRequest) -> RebootRequest | None:
    """Sum up, move to the final state, then notify and redraw. Posting first means a
    crash in between repeats the summary rather than losing it; a summary Slack did not
    take (an error, 429s beyond the retries) leaves the request executing, so the next
    tick posts it again. None in that case. The notification and the redraw are owed
    from the move on (``notify_end_due``, ``message_redraw_due``), so one Slack did not
    take is posted by a later tick."""
    now = ctx.clock()
    final = final_request_state(
        [i.outcome for i in request.instances], stopped=request.stop_reason is not None
    )
    notify = bool(ctx.config.notify_channel)
    finished = dataclasses.replace(
        request, state=final, finished_at=now, message_redraw_due=True, notify_end_due=notify
    )
    if not ctx.presenter.reply_summary(finished):
        log.warning("the summary of request %s was not posted; trying again", request.id)
        return None
    with ctx.uow() as uow:
        won = uow.requests.transition(
            request.id,
            [RequestState.EXECUTING, RequestState.PAUSED],
            final,
            RequestUpdate(finished_at=now, notify_end_due=notify),
            # Decided without a stop: only while none is recorded. An Abort that won
            # meanwhile makes the next step end the request aborted, never succeeded
            # with a stop on it.
            unstopped=request.stop_reason is None,
        )
        if won:
            uow.audit.append(
                at=now,
                actor="system",
                action="outcome",
                request_id=request.id,
                detail={
                    "state": final.value,
                    "outcomes": {str(i.ref): i.outcome.value for i in request.instances},
                },
            )
        uow.commit()
    if won:
        if notify:
            announce_end(ctx, finished)
        redraw(ctx, finished)
    return finished

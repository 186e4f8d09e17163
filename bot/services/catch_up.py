"""What a finished request still owes Slack: its message redrawn for the final state,
and the notify channel told how it ended; tried again when Slack did not take them.

Every move to a final state sets the request's ``message_redraw_due`` in the same
statement, and the end of an executed request sets ``notify_end_due`` when a notify
channel is configured; :func:`redraw` and :func:`announce_end` clear them once Slack
took the message. What 429s beyond the retries, a Slack outage or a crash right after
the move left set, the poller's :func:`catch_up` posts on a later tick, so a channel
never keeps showing "rebooting…" or live buttons for a request that is over, and the
ops channel hears how every reboot ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.request import RebootRequest
from bot.services.context import Context
from bot.services.ports import RequestUpdate, UnitOfWork

log = logging.getLogger(__name__)

# The worker that finished a request posts first; the poller only steps in after.
GRACE_SECONDS = 10.0
# A message Slack refuses for this long (deleted, a channel the app left) is given up.
GIVE_UP_SECONDS = 3600.0
# At most this many of each per tick, so a long Slack outage does not make ticks long.
PER_TICK = 20


def redraw(ctx: Context, request: RebootRequest) -> bool:
    """Redraw ``request``'s message; for a finished request, record that it is drawn.
    False when Slack did not take it."""
    drawn = ctx.presenter.refresh_request(request)
    if drawn and request.state.is_final:
        with ctx.uow() as uow:
            uow.requests.set_fields(request.id, RequestUpdate(message_redraw_due=False))
            uow.commit()
    return drawn


def announce_end(ctx: Context, request: RebootRequest) -> bool:
    """Tell the notify channel how ``request`` ended and record that it was told.
    False when Slack did not take it."""
    told = ctx.presenter.notify_finished(request)
    if told:
        with ctx.uow() as uow:
            uow.requests.set_fields(request.id, RequestUpdate(notify_end_due=False))
            uow.commit()
    return told


@dataclass(frozen=True)
class CaughtUp:
    redrawn: list[str]
    notified: list[str]


def catch_up(ctx: Context, now: datetime) -> CaughtUp:
    """Post what finished requests still owe Slack; the ids drawn and notified."""
    before = now - timedelta(seconds=GRACE_SECONDS)
    after = now - timedelta(seconds=GIVE_UP_SECONDS)
    notified = _each_due(
        ctx, lambda uow: uow.requests.notify_end_due(before, after, PER_TICK), announce_end
    )
    redrawn = _each_due(ctx, lambda uow: uow.requests.redraw_due(before, after, PER_TICK), redraw)
    return CaughtUp(redrawn=redrawn, notified=notified)


def _each_due(
    ctx: Context,
    due: Callable[[UnitOfWork], list[str]],
    post: Callable[[Context, RebootRequest], bool],
) -> list[str]:
    with ctx.uow() as uow:
        requests = [r for r in (uow.requests.get(rid) for rid in due(uow)) if r is not None]
    posted = []
    for request in requests:
        if not post(ctx, request):
            # Slack is still refusing: the rest would most likely fail too.
            log.warning("Slack did not take what request %s owes; trying again", request.id)
            break
        posted.append(request.id)
    return posted

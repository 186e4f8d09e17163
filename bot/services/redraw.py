"""Drawing a finished request's message, and trying again when Slack did not take it.

Every move to a final state sets the request's ``message_redraw_due`` in the same
statement; :func:`redraw` clears it once Slack took the new message. A redraw lost to
429s beyond the retries, a Slack outage or a crash right after the move is left set,
and the poller's :func:`redraw_stale` draws it on a later tick, so a channel never keeps
showing "rebooting…" or live buttons for a request that is over.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain.request import RebootRequest
from bot.services.context import Context

log = logging.getLogger(__name__)

# The worker that finished a request draws it first; the poller only steps in after.
GRACE_SECONDS = 10.0
# At most this many redraws per tick, so a long Slack outage does not make one tick long.
REDRAWS_PER_TICK = 20


def redraw(ctx: Context, request: RebootRequest) -> bool:
    """Redraw ``request``'s message; for a finished request, record that it is drawn.
    False when Slack did not take it."""
    drawn = ctx.presenter.refresh_request(request)
    if drawn and request.state.is_final:
        with ctx.uow() as uow:
            uow.requests.set_fields(request.id, message_redraw_due=False)
            uow.commit()
    return drawn


def redraw_stale(ctx: Context, now: datetime) -> list[str]:
    """Redraw finished requests whose message Slack did not take; the ids drawn."""
    with ctx.uow() as uow:
        due = uow.requests.redraw_due(now - timedelta(seconds=GRACE_SECONDS), REDRAWS_PER_TICK)
        requests = [r for r in (uow.requests.get(rid) for rid in due) if r is not None]
    drawn = []
    for request in requests:
        if redraw(ctx, request):
            drawn.append(request.id)
        else:
            # Slack is still refusing: the rest would most likely fail too.
            log.warning("redrawing request %s failed; trying again next tick", request.id)
            break
    return drawn

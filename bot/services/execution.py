"""Driving an ``executing`` request forward (docs/PRODUCT.md §5.4–5.7): send the reboot calls
not sent yet, resolve lost answers, watch the instances come back, report in the thread,
finish. Each job has its module; this one is the step that puts them in order.

``advance`` is the one step both the confirm click and the poller take, so a request
left half-done by a crash resumes exactly where it stopped:

* an instance whose reboot call was never sent (no ``reboot_sent_at``) is sent now
  (``bot.services.waves``), wave by wave;
* an instance whose call was sent but whose answer was lost (a timeout, a 5xx, a crash
  before the answer was recorded) stays ``pending`` and is resolved at once, in the same
  step (``bot.services.lost_answers``): described, then watched when a call acted, or
  sent the call again only as docs/decisions/0003 allows (a further call once none can
  still act: past ECSBOT_INFLIGHT_BOUND, with doubling gaps). ``reboot_calls`` is committed
  before each call, so that rule holds across crashes, lost leases and replicas;
* the instances being rebooted are watched until back or timed out
  (``bot.services.watching``), and the thread told (``bot.services.reporting``).

The caller holds the request's lease, so no two processes advance one request at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.completion import next_delay
from bot.domain.model import RequestState
from bot.domain.request import RebootRequest
from bot.domain.rollout import next_wave, sent_wave, throttled_unsent, wave_in_flight
from bot.services.context import Context
from bot.services.lost_answers import (
    call_again_when_safe,
    further_call_due,
    lost,
    resolve_lost_answers,
    unanswered,
)
from bot.services.ports import RequestUpdate
from bot.services.reporting import finish, report
from bot.services.scheduled import step_scheduled
from bot.services.watching import watch
from bot.services.waves import between_waves, retry_unsent
from bot.services.writes import load, set_fields

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What one ``advance`` left: the latest snapshot, and when to look again (None when
    the request is finished or gone). The caller writes the time as it gives the lease
    back, in the same statement."""

    request: RebootRequest | None
    next_poll_at: datetime | None = None


def advance(
    ctx: Context,
    request_id: str,
    *,
    now: datetime | None = None,
    observe_instances: bool = True,
    loaded: RebootRequest | None = None,
) -> Step:
    """One step for one ``executing`` (or ``paused``) request; for a ``scheduled`` one,
    its reminder or its start (``bot.services.scheduled``), and after a start its
    first wave at once. ``loaded``: the request as read under the lease just taken (the
    poller reads it in the claiming transaction), else it is read here."""
    request = loaded if loaded is not None else load(ctx, request_id)
    if request is not None and request.state is RequestState.SCHEDULED:
        now = now or ctx.clock()
        waited = step_scheduled(ctx, request, now)
        if not waited.started or waited.request is None:
            return Step(waited.request, next_poll_at=waited.next_poll_at)
        request = waited.request
    if request is None or not request.state.is_running:
        return Step(request)
    now = now or ctx.clock()
    # First calls ECS refused earlier before they reached it (throttled) go out again.
    request = retry_unsent(ctx, request, now)
    # Between waves: stop, pause, or send the next wave (the first, after a confirm).
    request = between_waves(ctx, request, now)
    # A call whose answer was just lost is looked at at once (§5.4), at the moment of the
    # look: the quicker the look, the more "still Running" proves.
    request = resolve_lost_answers(ctx, request, ctx.clock())
    if ctx.config.notify_channel and request.notify_ts is None:
        ts = ctx.presenter.notify_started(request)
        request = set_fields(ctx, request, RequestUpdate(notify_ts=ts or ""))
    changed = False
    if observe_instances:
        request, changed = watch(ctx, request, now)
        # The wave just over is followed by the next one in the same tick (§5.8), and a
        # lost answer of its calls is resolved at once too.
        request = between_waves(ctx, request, now)
        request = resolve_lost_answers(ctx, request, ctx.clock())
        # Instances whose every call lost its answer, past the in-flight bound.
        request = call_again_when_safe(ctx, request)
    request = report(ctx, request, now)
    if all(i.outcome.is_final for i in request.instances):
        finished = finish(ctx, request)
        if finished is None:
            # The summary did not get through: stay executing and try again soon.
            return Step(request, next_poll_at=now + timedelta(seconds=ctx.config.poll_interval))
        return Step(finished)
    return Step(request, next_poll_at=_next_poll_at(ctx, request, now, changed=changed))


def _next_poll_at(
    ctx: Context, request: RebootRequest, now: datetime, *, changed: bool
) -> datetime:
    if (
        request.state is RequestState.PAUSED
        and request.window_reopens_at is not None
        and not wave_in_flight(request.instances)
    ):
        # Closed window: nothing to do until it opens again.
        return max(request.window_reopens_at, now + timedelta(seconds=ctx.config.poll_interval))
    if request.state is RequestState.PAUSED and not wave_in_flight(request.instances):
        # Nothing to watch: a Resume or Abort click asks for a poll at once; this is
        # only the fallback should a click and a release cross.
        return now + timedelta(seconds=ctx.config.poll_interval * 8)
    if throttled_unsent(request.instances):
        # Calls ECS refused before they reached it are tried again at the plain interval.
        return now + timedelta(seconds=ctx.config.poll_interval)
    if next_wave(request.instances) and request.stop_reason is None:
        # A wave is waiting on this one: look at the plain interval (no backoff), so the
        # next wave goes out within one interval of this one being over.
        return now + timedelta(seconds=ctx.config.poll_interval)
    # The wave in flight sets the pace: a later wave is polled as fast as the first.
    wave = sent_wave(request.instances)
    sent = [
        i.reboot_sent_at
        for i in request.instances
        if i.reboot_sent_at is not None and i.wave == wave
    ]
    since = now - min(sent) if sent else timedelta(0)
    delay = next_delay(interval=ctx.config.poll_interval, since_sent=since, changed=changed)
    at = now + timedelta(seconds=delay)
    # A lost answer not resolved yet (its describe failed) is looked at again at the
    # plain interval, not a slow poll later.
    if lost(request):
        return min(at, now + timedelta(seconds=ctx.config.poll_interval))
    # A further call is made at the first look once it is due, not a slow poll later.
    due = [d for i in unanswered(request) if (d := further_call_due(ctx, i)) is not None]
    if due:
        # Past due (its look failed): again at the plain interval.
        return min(at, max(min(due), now + timedelta(seconds=ctx.config.poll_interval)))
    return at

"""What one person's App Home shows (docs/PRODUCT.md §5.14): requests waiting for their
approval, their own in flight and finished, and their roles. Read from the database at
each opening, so it is as fresh as the messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.events import KnownEvent
from bot.domain.model import RequestState, Role
from bot.domain.policy import Binding, Target, check_may_approve, check_role
from bot.domain.policy import role_needed_to_reboot as needed_role
from bot.domain.request import RebootRequest
from bot.services.context import Context

SHOWN = 10
SHOWN_EVENTS = 20
_LOOKED_AT = 100  # requests read per list, newest first


@dataclass(frozen=True)
class Home:
    user: str
    awaiting_me: Sequence[RebootRequest] = ()
    mine_in_flight: Sequence[RebootRequest] = ()
    mine_finished: Sequence[RebootRequest] = ()
    bindings: Sequence[Binding] = ()
    bootstrap_admin: bool = False
    # Pending platform maintenance reboots this person may see (docs/PRODUCT.md §5.11).
    platform_events: Sequence[KnownEvent] = ()
    now: datetime | None = None  # when it was read: the events' countdowns count from it


def home_of(
    ctx: Context, user: str, pending_events: Callable[[], Sequence[KnownEvent]] | None = None
) -> Home:
    """The App Home of ``user`` now: only approvals this person could give count, and
    only platform events on instances this person may view (with the event watch on)."""
    with ctx.uow() as uow:
        principal = ctx.principal(uow, user)
        waiting = uow.requests.list_recent(_LOOKED_AT, state=RequestState.AWAITING_APPROVAL)
        mine = uow.requests.list_recent(_LOOKED_AT, user=user)
    awaiting_me = [
        request
        for request in waiting
        if not any(a.user == user for a in request.approvals)
        and check_may_approve(
            principal,
            requester=request.requester,
            needed=needed_role(force=request.force),
            targets=[Target.at(i.ref, i.tags) for i in request.to_reboot],
        ).allowed
    ]
    events = [
        known
        for known in (pending_events() if pending_events is not None else ())
        if check_role(
            principal,
            Role.VIEWER,
            [Target.at(known.event.ref)],
        ).allowed
    ]
    return Home(
        user=user,
        platform_events=events[:SHOWN_EVENTS],
        now=ctx.clock(),
        awaiting_me=awaiting_me[:SHOWN],
        mine_in_flight=[r for r in mine if not r.state.is_final][:SHOWN],
        mine_finished=[r for r in mine if r.state.is_final][:SHOWN],
        bindings=principal.bindings,
        bootstrap_admin=principal.bootstrap_admin,
    )

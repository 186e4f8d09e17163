"""What every button click shares (docs/PRODUCT.md §5.4, §5.8, §6): who clicked on which
request, the slow rest returned for after the ack, loading the clicked request (and
expiring it when its time ran out), checking the clicker against the roles as they are
now, and the answers told back.

A click is decided while Slack waits for the ack, on the database alone; what follows
(Slack messages, the reboot calls) is returned as a :data:`Later` for the worker pool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.model import RequestState, Role
from bot.domain.policy import Decision, Principal, Target
from bot.domain.policy import role_needed_to_reboot as needed_role
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.answers import (
    AlreadyDecided,
    Answer,
    Denied,
    NoSuchRequest,
    OtherChannel,
    RequestExpired,
)
from bot.services.catch_up import redraw
from bot.services.context import Context
from bot.services.expiry import expire_in_database
from bot.services.ports import RequestUpdate

Later = Callable[[], bool]
"""The slow rest of a click, run after the ack: True when this click started the
reboot (or cancelled the request)."""


@dataclass(frozen=True)
class Click:
    """A button click: who, where, on which request."""

    user: str
    channel: str
    request_id: str
    # The message the button was on: the preview, even if a crash kept its ts from
    # being recorded.
    message_ts: str | None = None


def telling(ctx: Context, click: Click, answer: Answer) -> Later:
    def tell() -> bool:
        ctx.presenter.tell(click.channel, click.user, answer)
        return False

    return tell


def redrawing(ctx: Context, request: RebootRequest) -> Later:
    """The rest of a click that ended ``request``: its message redrawn, buttons gone."""

    def redraw_ended() -> bool:
        redraw(ctx, request)
        return True

    return redraw_ended


def _targets(instances: Sequence[PlannedInstance]) -> list[Target]:
    return [Target.at(i.ref, i.tags) for i in instances]


class _ClickerCheck(Protocol):
    """A policy rule for the person clicking on a request (``check_may_act_on``,
    ``check_may_approve``)."""

    def __call__(
        self, principal: Principal, *, requester: str, needed: Role, targets: Sequence[Target]
    ) -> Decision: ...


def if_allowed(
    ctx: Context,
    click: Click,
    request: RebootRequest,
    principal: Principal,
    *,
    check: _ClickerCheck,
    needed: Role | None = None,
    instances: Sequence[PlannedInstance] | None = None,
) -> RebootRequest | Later:
    """``request`` when ``check`` lets the clicker act on ``instances`` with the
    ``needed`` role (by default the reboot's: its role, its instances to reboot);
    otherwise the denial to tell them. Every click is checked again with the roles as
    they are now, never those of the preview."""
    decision = check(
        principal,
        requester=request.requester,
        needed=needed_role(force=request.force) if needed is None else needed,
        targets=_targets(request.to_reboot if instances is None else instances),
    )
    if decision.denial is not None:
        return telling(ctx, click, Denied(decision.denial))
    return request


def adopting_message(ctx: Context, click: Click, request: RebootRequest) -> RebootRequest:
    """``request``, with the clicked message recorded as its own when it has none."""
    if request.message_ts is None and click.message_ts:
        # The process died between posting the preview and recording its ts; Slack's
        # signed click names the message, so adopt it and every update can follow.
        with ctx.uow() as uow:
            uow.requests.set_fields(request.id, RequestUpdate(message_ts=click.message_ts))
            uow.commit()
        request = dataclasses.replace(request, message_ts=click.message_ts)
    return request


def load_for_click(
    ctx: Context,
    click: Click,
    now: datetime,
    *,
    states: Collection[RequestState] = (RequestState.PREVIEWED,),
    wrong_state: Callable[[RebootRequest], Answer] = AlreadyDecided,
) -> RebootRequest | Later:
    """The clicked request if it is in one of ``states`` (and not expired); otherwise
    what to tell (``wrong_state`` of the request when it is in another state)."""
    with ctx.uow() as uow:
        request = uow.requests.get(click.request_id)
    if request is None:
        return telling(ctx, click, NoSuchRequest(click.request_id))
    if request.channel != click.channel:
        return telling(ctx, click, OtherChannel())
    request = adopting_message(ctx, click, request)
    if request.is_expired(now) and request.state in states:
        expired = expire_in_database(ctx, request.id, now, actor=click.user)
        waited_for_approval = request.state is RequestState.AWAITING_APPROVAL
        ttl = ctx.config.approval_ttl if waited_for_approval else ctx.config.confirm_ttl
        answer = RequestExpired(request.id, ttl)

        def redraw_and_tell() -> bool:
            if expired is not None:
                redraw(ctx, expired)
            return telling(ctx, click, answer)()

        return redraw_and_tell
    if request.state not in states:
        return telling(ctx, click, wrong_state(request))
    return request

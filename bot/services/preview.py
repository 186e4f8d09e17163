"""The preview use case (docs/PRODUCT.md §5.2–5.3): look the instances up, dry-run the reboot,
decide who may do what, record the request and show it in the channel."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.accounts import DEFAULT_ACCOUNT, AccountProblem, command_accounts
from bot.domain.approval import ApprovalNeed, approval_need
from bot.domain.commands import RebootCommand
from bot.domain.ecs_values import RUNNING, TAG_FILTER_LIMIT, DryRunBatch, InstanceInfo
from bot.domain.errors import EcsError, RoleNotAssumable
from bot.domain.model import InstanceRef, RequestSource, RequestState, Role
from bot.domain.policy import (
    Decision,
    Denial,
    NoRole,
    RoleMissing,
    Target,
    check_channel,
    check_role,
)
from bot.domain.policy import role_needed_to_reboot as needed_role
from bot.domain.request import PlannedInstance, RebootRequest, expiry
from bot.domain.rollout import (
    plan_rollout,
)
from bot.domain.schedule import Schedule, WhenProblem, resolve_when
from bot.domain.selectors import InstanceFilter
from bot.domain.verdicts import plan_instances
from bot.services.answers import (
    CannotSchedule,
    Denied,
    LookupFailed,
    MatchCapped,
    NoMatch,
    PreviewNote,
    Selection,
    TooManyMatched,
)
from bot.services.context import Context
from bot.services.lookups import describe_reachable, dry_run_all
from bot.services.ports import RequestUpdate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreviewAsked:
    """A reboot command to preview: the command as parsed (``bot.domain.parser``), who
    asked for it, where, and the text they typed. A retry (docs/PRODUCT.md §6.2) also
    names the request it retries and the id claimed for it there."""

    user: str
    channel: str
    command: RebootCommand
    command_text: str = ""
    retry_of: str | None = None
    request_id: str | None = None
    # What opened it (docs/PRODUCT.md §7): a command, an alarm card's button, a Retry, …
    source: RequestSource = RequestSource.COMMAND
    # Post the preview in this thread (a message shortcut's message) instead of as a
    # message of its own.
    thread_ts: str | None = None


def early_check(ctx: Context, asked: PreviewAsked) -> Decision:
    """What can be decided before ECS is asked anything (the ack path): the channel, and
    whether the person holds a role that could cover these regions at all.

    Tags are not known yet, so a tag-scoped binding counts as "may cover"; the full
    decision is made again with the tags in :func:`preview`.
    """
    channel = check_channel(asked.channel, ctx.config.allowed_channels)
    if not channel.allowed:
        return channel
    with ctx.uow() as uow:
        principal = ctx.principal(uow, asked.user)
    accounts = command_accounts(
        asked.command.accounts,
        ctx.config.accounts,
        ctx.config.default_account,
        bare_ids=bool(asked.command.instances),
    )
    if isinstance(accounts, AccountProblem):
        return Decision.allow()  # the preview says so, before ECS is asked anything
    command = _in_account(asked.command, accounts)
    targets = [Target.at(ref) for ref in command.instances]
    if command.selectors:
        # What a selector matches is not known yet: the accounts and regions it searches
        # stand in (an empty id reads "instances in that region").
        targets += [
            Target(region, "", None, account)
            for account in accounts
            for region in command.search_regions
        ]
    least = needed_role(force=True) if command.force else Role.VIEWER
    return check_role(principal, least, targets)


def preview(ctx: Context, asked: PreviewAsked) -> RebootRequest | None:
    """Run the whole preview. Problems are told to the person (ephemeral); returns the
    recorded request, or None when nothing was recorded."""
    try:
        return _preview(ctx, asked)
    except EcsError as error:
        log.warning("preview failed: %s", error)
        regions = asked.command.all_regions
        ctx.presenter.tell(asked.channel, asked.user, LookupFailed(regions, error))
        return None


def _preview(ctx: Context, asked: PreviewAsked) -> RebootRequest | None:
    decision = early_check(ctx, asked)
    if decision.denial is not None:
        ctx.presenter.tell(asked.channel, asked.user, Denied(decision.denial))
        return None
    schedule = _schedule(ctx, asked)
    if isinstance(schedule, WhenProblem):
        ctx.presenter.tell(asked.channel, asked.user, CannotSchedule(schedule))
        return None

    accounts = command_accounts(
        asked.command.accounts,
        ctx.config.accounts,
        ctx.config.default_account,
        bare_ids=bool(asked.command.instances),
    )
    if isinstance(accounts, AccountProblem):
        ctx.presenter.tell(asked.channel, asked.user, accounts)
        return None
    asked = dataclasses.replace(asked, command=_in_account(asked.command, accounts))
    refs, duplicates = asked.command.instances, asked.command.duplicates
    found: dict[InstanceRef, InstanceInfo] = {}
    selection: Selection | None = None
    if asked.command.selectors:
        resolved = resolve_selectors(ctx, asked, accounts)
        if isinstance(resolved, NoMatch | TooManyMatched | MatchCapped):
            ctx.presenter.tell(asked.channel, asked.user, resolved)
            return None
        matched, selection = resolved
        found.update(matched)
        # Ids given as well are added to what the filter matched; one it matched
        # already is a repeat, dropped and reported like any other.
        duplicates += tuple(ref for ref in asked.command.instances if ref in matched)
        refs = tuple(matched) + tuple(ref for ref in asked.command.instances if ref not in matched)
    described, unreachable = describe_reachable(ctx, [ref for ref in refs if ref not in found])
    found.update(described)
    with ctx.uow() as uow:
        principal = ctx.principal(uow, asked.user)
    targets = [Target.at(ref, found[ref].tags) for ref in refs if ref in found]
    may_view = check_role(principal, Role.VIEWER, targets)
    may_execute = check_role(principal, needed_role(force=asked.command.force), targets)
    # A force reboot from someone who may not force is a denial, not a preview (§5.2).
    for verdict in (may_view, may_execute if asked.command.force else Decision.allow()):
        if verdict.denial is not None:
            ctx.presenter.tell(asked.channel, asked.user, Denied(verdict.denial))
            _audit_denial(ctx, asked, verdict.denial)
            return None

    # Locked instances would only fail their batch: they are not dry-run at all.
    candidates = [
        ref
        for ref in refs
        if ref in found and found[ref].status == RUNNING and not found[ref].operation_locks
    ]
    batches = dry_run_all(ctx, candidates, force=asked.command.force, acting_user=asked.user)
    for ref, refusal in unreachable.items():
        batches[ref] = DryRunBatch(ref.region, (ref.instance_id,), refusal, per_instance=False)
    instances = plan_instances(refs, found, batches)
    instances, rollout = plan_rollout(instances, asked.command.rollout, ctx.config.rollout)
    need = approval_need(
        ctx.config.approval_rules,
        force=asked.command.force,
        instance_tags=[i.tags for i in instances if i.will_reboot],
        instance_accounts=[i.ref.account for i in instances if i.will_reboot],
    )

    now = ctx.clock()
    request = RebootRequest(
        id=asked.request_id or ctx.new_id(),
        state=RequestState.PREVIEWED,
        force=asked.command.force,
        requester=asked.user,
        channel=asked.channel,
        created_at=now,
        expires_at=expiry(now, ctx.config.confirm_ttl),
        instances=instances,
        command_text=asked.command_text,
        rollout_waves=rollout.waves,
        rollout_canary=rollout.canary,
        rollout_batch=rollout.batch,
        rollout_max_errors=rollout.max_errors,
        pause_after_wave=1 if rollout.pause_after_canary and rollout.waves > 1 else None,
        reason=asked.command.reason,
        approvals_needed=need.count,
        retry_of=asked.retry_of,
        selectors=tuple(str(selector) for selector in asked.command.selectors),
        scheduled_for=schedule.start if schedule else None,
        window=schedule.window if schedule else None,
        source=asked.source,
        thread_ts=asked.thread_ts,
    )
    with ctx.uow() as uow:
        uow.requests.add(request)
        uow.audit.append(
            at=now,
            actor=asked.user,
            action="preview",
            request_id=request.id,
            detail={
                "force": asked.command.force,
                "channel": asked.channel,
                "instances": [str(i.ref) for i in instances],
                "will_reboot": len(request.to_reboot),
                "waves": rollout.waves,
                "reason": asked.command.reason,
                "approvals_needed": need.count,
                "retry_of": asked.retry_of,
                "selectors": list(request.selectors),
            },
        )
        uow.commit()

    note = _note(asked, may_execute, duplicates, selection, need)
    note = _with_avoided_events(ctx, note, asked.user, request.to_reboot)
    ts = ctx.presenter.publish_request(request, can_execute=may_execute.allowed, note=note)
    if ts:
        # Recorded at once (the permalink is one more Slack call away).
        with ctx.uow() as uow:
            uow.requests.set_fields(request.id, RequestUpdate(message_ts=ts))
            uow.commit()
        link = ctx.presenter.permalink(asked.channel, ts)
        if link:
            with ctx.uow() as uow:
                uow.requests.set_fields(request.id, RequestUpdate(permalink=link))
                uow.commit()
        # Its message is known now: a confirm click on it is checked against this
        # (bot.services.confirm), not against the instance rows read back.
        ctx.previewed.remember(dataclasses.replace(request, message_ts=ts, permalink=link))
    return request


def _with_avoided_events(
    ctx: Context, note: PreviewNote | None, user: str, to_reboot: Sequence[PlannedInstance]
) -> PreviewNote | None:
    """The note, saying which platform reboot events this reboot avoids (§5.11)."""
    if ctx.pending_events is None or not to_reboot:
        return note
    events = tuple(ctx.pending_events([i.ref for i in to_reboot]))
    if not events:
        return note
    return dataclasses.replace(note or PreviewNote(user), avoids=events)


def _note(
    asked: PreviewAsked,
    may_execute: Decision,
    duplicates: tuple[InstanceRef, ...],
    selection: Selection | None,
    need: ApprovalNeed,
) -> PreviewNote | None:
    """What the selectors matched, the dropped repeats, why the requester may view but
    not reboot, what this retries and why approval is needed; None when there is
    nothing of that."""
    if (
        not duplicates
        and may_execute.allowed
        and selection is None
        and not asked.retry_of
        and not need.needed
    ):
        return None
    return PreviewNote(
        asked.user,
        duplicates=duplicates,
        view_only=may_execute.denial,
        selection=selection,
        retry_of=asked.retry_of,
        approval=need if need.needed else None,
    )


def _schedule(ctx: Context, asked: PreviewAsked) -> Schedule | WhenProblem | None:
    """The WHEN placed on the clock now: the command's parse read it, but only now are
    the clock, the time zone and the windows known (and the person may have waited)."""
    when = asked.command.when
    if when is None:
        return None
    config = ctx.config
    return resolve_when(
        when,
        now=ctx.clock(),
        tz=config.timezone,
        windows=config.windows,
        limits=config.schedule_limits,
    )


def _in_account(command: RebootCommand, accounts: tuple[str, ...]) -> RebootCommand:
    """The ids as belonging to the command's account (there is one when ids are given:
    ``command_accounts`` refused bare ids with several)."""
    if not command.instances and not command.duplicates:
        return command
    account = accounts[0]
    refs = command.instances + command.duplicates
    if all(ref.account == account for ref in refs):
        # The usual case (one account, the parser's default): nothing to copy. On the
        # ack path, fifty ``dataclasses.replace`` calls cost more than the role check.
        return command
    return dataclasses.replace(
        command,
        instances=tuple(dataclasses.replace(r, account=account) for r in command.instances),
        duplicates=tuple(dataclasses.replace(r, account=account) for r in command.duplicates),
    )


def resolve_selectors(
    ctx: Context, asked: PreviewAsked, accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
) -> tuple[dict[InstanceRef, InstanceInfo], Selection] | NoMatch | TooManyMatched | MatchCapped:
    """The instances the selectors match together, in every account × region searched,
    in the order the accounts and regions were asked and ECS listed them; or the answer
    that says why there is nothing to preview (no match, too many, a tag filter ECS cut
    at 1,000).

    One filtered ``DescribeInstances`` per account and region (all pages); the listed
    instances carry everything the preview needs, so they are not described again. An
    account whose role cannot be assumed matches nothing there, and the answer says so.
    """
    wanted = InstanceFilter.of(asked.command.selectors)
    typed = tuple(str(selector) for selector in asked.command.selectors)
    # ECS takes one InstanceName: a further name pattern is applied to what it listed.
    first_name = wanted.names[0] if wanted.names else None
    matched: dict[InstanceRef, InstanceInfo] = {}
    per_region: list[tuple[str, int]] = []
    unreachable: dict[str, str] = {}
    capped: list[str] = []
    places = [
        (account, region, region if account == DEFAULT_ACCOUNT else f"{account}:{region}")
        for account in accounts
        for region in asked.command.search_regions
    ]
    if not wanted.contradictory:
        for account, region, label in places:
            try:
                page = ctx.ecs.find_instances(
                    region, tags=wanted.tags, name=first_name, account=account
                )
            except RoleNotAssumable as refusal:
                log.warning("account %s unreachable: %s", account, refusal)
                per_region.append((label, 0))
                unreachable.setdefault(account, refusal.code)
                continue
            if page.capped:
                capped.append(label)
            hits = [info for info in page.instances if wanted.matches(info.name, info.tags)]
            for info in hits:
                matched[InstanceRef(region, info.instance_id, account)] = info
            per_region.append((label, len(hits)))
    else:
        per_region = [(label, 0) for _, _, label in places]
    extra = [ref for ref in asked.command.instances if ref not in matched]
    selection = Selection(
        typed, tuple(per_region), ids_given=len(extra), unreachable=tuple(unreachable.items())
    )
    if capped:
        return MatchCapped(selection, tuple(capped), TAG_FILTER_LIMIT)
    if not matched and not extra:
        # With ids given as well, those are still previewed (§4: they are added to what
        # the filter matched), and the preview says the selectors matched nothing.
        return NoMatch(selection, contradictory=wanted.contradictory)
    count = len(matched) + len(extra)
    if count > ctx.config.max_instances:
        return TooManyMatched(selection, count, ctx.config.max_instances)
    return matched, selection


def _audit_denial(ctx: Context, asked: PreviewAsked, denial: Denial) -> None:
    with ctx.uow() as uow:
        uow.audit.append(
            at=ctx.clock(),
            actor=asked.user,
            action="denied",
            detail={
                **denial_detail(denial),
                "force": asked.command.force,
                "channel": asked.channel,
            },
        )
        uow.commit()


def denial_detail(denial: Denial) -> dict[str, object]:
    """A denial as audit detail: which permission was missing, as plain values."""
    detail: dict[str, object] = {"reason": type(denial).__name__}
    if isinstance(denial, NoRole | RoleMissing):
        detail["needed"] = denial.needed.value
    if isinstance(denial, RoleMissing):
        detail["uncovered"] = [f"{t.region}/{t.instance_id}" for t in denial.uncovered]
    return detail

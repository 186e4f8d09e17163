"""The thread replies of a running request (the first with each API result, progress,
the summary), ``/ecs-reboot status``, and the notify channel's messages, built from
``slack_sdk.models`` objects like the request message (``bot.slack.blocks``, whose
parts and limits they share). Pure: snapshots in, ``Message`` values out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, MarkdownTextObject, SectionBlock

from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.model import (
    RETRYABLE_OUTCOMES,
    AgentFinding,
    InstanceOutcome,
    RequestState,
    RolloutEvent,
)
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.rollout import sent_wave
from bot.slack.blocks import (
    ACTION_RETRY,
    MAX_BLOCKS,
    STATE_TEXT,
    Message,
    approvals_line,
    button,
    chunk_lines,
    code,
    escape,
    instance_line,
    mention,
    mode_text,
    outcome_text,
    plural,
    reason_line,
    rollout_line,
    rollout_plan_text,
    slack_date,
    status_words,
)
from bot.slack.outcomes import first_result, outcome_sentence


def execution_reply(request: RebootRequest) -> Message:
    """The first thread reply after a confirm: each instance's API result."""
    planned = [i for i in request.instances if i.will_reboot]
    # A rollout's later waves are not sent yet: listed when they go out, not here.
    sent = [
        i
        for i in planned
        if i.reboot_sent_at is not None or i.outcome is not InstanceOutcome.PENDING
    ]
    waiting = len(planned) - len(sent)
    accepted = [i for i in sent if _api_accepted(i)]
    lines = []
    for instance in sent:
        if _api_accepted(instance):
            emoji = ":arrows_counterclockwise:"
        elif instance.outcome is InstanceOutcome.FAILED:
            emoji = ":x:"
        else:
            # Sent, but the answer was lost: resolved (docs/decisions/0003), not failed.
            emoji = ":grey_question:"
        result = f"{emoji} {escape(first_result(instance))}"
        name = f" {code(instance.name)}" if instance.name else ""
        lines.append(f"• `{instance.ref.instance_id}`{name} · {result}")
    skipped = len(request.instances) - len(planned)
    head = (
        f"{mention(request.confirmed_by)} confirmed. RebootInstances accepted "
        f"{len(accepted)}/{len(sent)}"
    )
    if waiting:
        head += f" (wave 1 of {request.rollout_waves}; {waiting} more in the next waves)"
    if skipped:
        head += f"; {skipped} skipped (see the preview)"
    head += ". I will post here as they come back."
    chunks = chunk_lines(lines)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    room = MAX_BLOCKS - 1
    blocks.extend(SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks[:room])
    overflow = tuple(
        Message(text="Results (continued)", blocks=(SectionBlock(text=MarkdownTextObject(text=c)),))
        for c in chunks[room:]
    )
    return Message(text=head, blocks=tuple(blocks), overflow=overflow)


def _api_accepted(instance: PlannedInstance) -> bool:
    """The API answered and accepted the reboot, whatever happened since: the first reply
    may be posted late (after a restart), when the instance is already back."""
    return instance.reboot_acked_at is not None and instance.outcome is not InstanceOutcome.FAILED


def status_text(request: RebootRequest, *, permalink: str | None = None) -> str:
    """``/ecs-reboot status ID``: a compact text summary (ephemeral)."""
    lines = [
        f"*Request `{request.id}`* · {mode_text(request.force)} · "
        f"{escape(', '.join(request.regions))}",
        f"Requested by {mention(request.requester)} {slack_date(request.created_at)} · "
        f"status: {status_words(request)}",
    ]
    if request.confirmed_by and request.confirmed_at:
        lines.append(
            f"Confirmed by {mention(request.confirmed_by)} {slack_date(request.confirmed_at)}"
        )
    if request.cancelled_by:
        lines.append(f"Cancelled by {mention(request.cancelled_by)}")
    lines.extend(line for line in (reason_line(request), approvals_line(request)) if line)
    if request.retry_of:
        lines.append(f"Retries the failed instances of `{request.retry_of}`")
    if permalink:
        lines.append(f"Thread: {permalink}")
    with_outcome = request.state is not RequestState.PREVIEWED
    lines.extend(instance_line(i, with_outcome=with_outcome) for i in request.instances[:40])
    if len(request.instances) > 40:
        lines.append(f"…and {len(request.instances) - 40} more")
    return "\n".join(lines)


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "?"
    seconds = max(0, int((end - start).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def progress_reply(request: RebootRequest, changed: Sequence[PlannedInstance]) -> Message:
    """One thread reply for all the changes of one poll."""
    back, attempted = request.progress()
    lines = []
    for instance in changed:
        detail = outcome_text(instance.outcome)
        if instance.outcome is InstanceOutcome.SUCCEEDED:
            detail += f" after {_duration(instance.reboot_sent_at, instance.finished_at)}"
        elif instance.outcome.is_final and (
            sentence := outcome_sentence(instance, max_errors=request.rollout_max_errors)
        ):
            detail += f": {escape(sentence)}"
        name = f" {code(instance.name)}" if instance.name else ""
        lines.append(f"• `{instance.ref.instance_id}`{name} · {detail}")
    head = f"*{back}/{attempted} back*"
    if request.rollout_waves > 1:
        head = f"*wave {max(1, sent_wave(request.instances))}/{request.rollout_waves}* · {head}"
    chunks = chunk_lines(lines)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    blocks.extend(SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks[: MAX_BLOCKS - 1])
    overflow = tuple(
        Message(
            text="Progress (continued)", blocks=(SectionBlock(text=MarkdownTextObject(text=c)),)
        )
        for c in chunks[MAX_BLOCKS - 1 :]
    )
    return Message(text=f"{back}/{attempted} back", blocks=tuple(blocks), overflow=overflow)


def summary_reply(request: RebootRequest) -> Message:
    """The final reply: the outcome, how long it took, and every failure in words."""
    back, attempted = request.progress()
    counts: dict[InstanceOutcome, int] = {}
    for instance in request.instances:
        counts[instance.outcome] = counts.get(instance.outcome, 0) + 1
    tally = ", ".join(
        f"{count} {outcome.value.replace('_', ' ')}" for outcome, count in counts.items()
    )
    took = _duration(request.confirmed_at, request.finished_at)
    head = (
        f"*Done: {STATE_TEXT[request.state]}* · {back}/{attempted} back in {took} ({tally}). "
        f"Requested by {mention(request.requester)}, confirmed by {mention(request.confirmed_by)}"
        f"{_approved_by(request)}."
    )
    durations = [
        (i.finished_at - i.reboot_sent_at).total_seconds()
        for i in request.instances
        if i.outcome is InstanceOutcome.SUCCEEDED and i.finished_at and i.reboot_sent_at
    ]
    if durations:
        durations.sort()
        head += (
            f" Time to come back: median {int(durations[len(durations) // 2])}s, "
            f"slowest {int(durations[-1])}s."
        )
    max_errors = request.rollout_max_errors
    problems = [
        instance_line(i, with_outcome=True)
        + (
            f" — {escape(sentence)}"
            if (sentence := outcome_sentence(i, max_errors=max_errors))
            and i.outcome is not InstanceOutcome.FAILED
            else ""
        )
        for i in request.instances
        if i.outcome in RETRYABLE_OUTCOMES
    ]
    no_agent = sum(1 for i in request.instances if i.agent is AgentFinding.ABSENT)
    if no_agent:
        head += (
            f"\n:information_source: {plural(no_agent, 'instance')} without the Cloud "
            "Assistant agent counted as back on Running alone."
        )
    stopped = rollout_line(request)
    if stopped and request.state is RequestState.ABORTED:
        head += f"\n{stopped}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    chunks = chunk_lines(problems)
    room = MAX_BLOCKS - 2  # the head, and the Retry button
    blocks.extend(SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks[:room])
    retryable = request.retryable
    if retryable:
        blocks.append(
            ActionsBlock(
                block_id="reboot_retry_actions",
                elements=[
                    button(
                        f"Retry the {plural(len(retryable), 'failed one')}", ACTION_RETRY, request
                    )
                ],
            )
        )
    overflow = tuple(
        Message(
            text="Failures (continued)", blocks=(SectionBlock(text=MarkdownTextObject(text=c)),)
        )
        for c in chunks[room:]
    )
    return Message(
        text=f"Done: {request.state.value}, {back}/{attempted} back",
        blocks=tuple(blocks),
        overflow=overflow,
    )


def _approved_by(request: RebootRequest) -> str:
    if not request.approvals:
        return ""
    return ", approved by " + ", ".join(mention(a.user) for a in request.approvals)


def _reason_suffix(request: RebootRequest) -> str:
    return f" Reason: {escape(request.reason)}" if request.reason else ""


def notify_awaiting_approval(
    request: RebootRequest, permalink: str | None, approver_group: str | None
) -> Message:
    """The notify channel's call for approvers (docs/PRODUCT.md §6.1)."""
    verb = "Force reboot" if request.force else "Reboot"
    count = len(request.to_reboot)
    link = f" · <{permalink}|approve or reject>" if permalink else ""
    group = f"<!subteam^{approver_group}> " if approver_group else ""
    wait = (
        f", until {slack_date(request.approval_expires_at)}" if request.approval_expires_at else ""
    )
    text = (
        f":raised_hand: {group}{verb} of {plural(count, 'instance')} in "
        f"{escape(', '.join(request.regions))} needs "
        f"{plural(request.approvals_needed, 'approval')}{wait}: requested by "
        f"{mention(request.requester)} in <#{request.channel}> (request `{request.id}`)."
        f"{_reason_suffix(request)}{link}"
    )
    return Message(text=text, blocks=(SectionBlock(text=MarkdownTextObject(text=text)),))


def _where(request: RebootRequest) -> str:
    """Its regions, and its accounts once any is not ``default`` (§5.13)."""
    regions = escape(", ".join(request.regions))
    if request.accounts == (DEFAULT_ACCOUNT,):
        return regions
    return f"{regions} of account {escape(', '.join(request.accounts))}"


def notify_started(request: RebootRequest, permalink: str | None) -> Message:
    verb = "Force reboot" if request.force else "Reboot"
    count = len(request.to_reboot)
    link = f" · <{permalink}|thread>" if permalink else ""
    text = (
        f":arrows_counterclockwise: {verb} of {plural(count, 'instance')} in "
        f"{_where(request)} started: requested by {mention(request.requester)}, "
        f"confirmed by {mention(request.confirmed_by)}{_approved_by(request)} in "
        f"<#{request.channel}> (request `{request.id}`).{_reason_suffix(request)}{link}"
    )
    plan = rollout_plan_text(request)
    if plan:
        text += f"\nRollout: {plan}."
    return Message(text=text, blocks=(SectionBlock(text=MarkdownTextObject(text=text)),))


def notify_rollout(request: RebootRequest, event: RolloutEvent, permalink: str | None) -> Message:
    """A rollout paused, resumed or aborted, for the notify channel."""
    link = f" · <{permalink}|thread>" if permalink else ""
    back, attempted = request.progress()
    where = (
        f"after wave {max(1, sent_wave(request.instances))}/{request.rollout_waves}, "
        f"{back}/{attempted} back"
    )
    if event is RolloutEvent.PAUSED:
        who = f" by {mention(request.paused_by)}" if request.paused_by else " after the canary"
        head = f":double_vertical_bar: Rollout `{request.id}` paused{who} ({where})"
    elif event is RolloutEvent.RESUMED:
        head = f":arrow_forward: Rollout `{request.id}` resumed ({where})"
    else:
        who = f" by {mention(request.stopped_by)}" if request.stopped_by else ""
        head = f":octagonal_sign: Rollout `{request.id}` aborted{who} ({where}): no new wave"
    text = f"{head}. Requested by {mention(request.requester)}{link}"
    return Message(text=text, blocks=(SectionBlock(text=MarkdownTextObject(text=text)),))


def notify_finished(request: RebootRequest, permalink: str | None) -> Message:
    verb = "Force reboot" if request.force else "Reboot"
    back, attempted = request.progress()
    link = f" · <{permalink}|thread>" if permalink else ""
    failed = [
        i
        for i in request.instances
        if i.outcome in (InstanceOutcome.FAILED, InstanceOutcome.TIMED_OUT)
    ]
    text = (
        f"{STATE_TEXT[request.state]}: {verb.lower()} of {plural(attempted, 'instance')} in "
        f"{_where(request)} (request `{request.id}`): {back}/{attempted} back"
        f"{f', {len(failed)} failed or timed out' if failed else ''}. Requested by "
        f"{mention(request.requester)}, confirmed by {mention(request.confirmed_by)}"
        f"{_approved_by(request)}.{_reason_suffix(request)}{link}"
    )
    return Message(text=text, blocks=(SectionBlock(text=MarkdownTextObject(text=text)),))

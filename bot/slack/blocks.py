"""Every Block Kit message the bot sends, built from ``slack_sdk.models`` objects.

One module so that the look of the bot is in one place and the action ids are named
constants. Functions here are pure: they take snapshots and plain values and return
``Message`` values; the Slack adapter sends them.

Slack's limits (docs/SLACK-API.md): 50 blocks a message, 3000 characters a
section. Long instance lists are split into several sections, and what does not fit
goes into thread replies (``overflow``), so nothing is ever cut silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.accounts import DEFAULT_ACCOUNT
from bot.domain.model import RETRYABLE_OUTCOMES, InstanceOutcome, RequestState, Verdict
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.rollout import errors, sent_wave

ACTION_CONFIRM = "reboot_confirm"
ACTION_CANCEL = "reboot_cancel"
# A running rollout's buttons (docs/PRODUCT.md §5.8).
ACTION_PAUSE = "reboot_pause"
ACTION_RESUME = "reboot_resume"
ACTION_ABORT = "reboot_abort"
ACTION_APPROVE = "reboot_approve"
ACTION_REJECT = "reboot_reject"
ACTION_RETRY = "reboot_retry"
ACTIONS_BLOCK_ID = "reboot_actions"
ROLLOUT_BLOCK_ID = "rollout_actions"

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_BUTTON_CHARS = 75
# Blocks the preview keeps besides the instance list: header, facts, force warning,
# verdict counts, "rest in the thread", divider, status, note, buttons, reason,
# approvals. All of them can appear at once (a large force preview with a note).
_RESERVED_BLOCKS = 11

_VERDICT_TEXT = {
    Verdict.WILL_REBOOT: ":large_green_circle: will reboot",
    Verdict.NOT_FOUND: ":grey_question: not found",
    Verdict.NOT_RUNNING: ":white_circle: not Running",
    Verdict.DENIED: ":no_entry: denied",
    Verdict.LOCKED: ":lock: locked",
    Verdict.REFUSED: ":warning: refused",
}

_OUTCOME_TEXT = {
    InstanceOutcome.PENDING: ":hourglass: pending",
    InstanceOutcome.SKIPPED: ":white_circle: skipped",
    InstanceOutcome.REBOOTING: ":arrows_counterclockwise: rebooting",
    InstanceOutcome.SUCCEEDED: ":white_check_mark: back",
    InstanceOutcome.FAILED: ":x: failed",
    InstanceOutcome.TIMED_OUT: ":alarm_clock: timed out",
    InstanceOutcome.ABORTED: ":octagonal_sign: not sent (rollout stopped)",
}
# Outcomes added by other features are drawn by their value until they get an emoji.
_OUTCOME_FALLBACK = ":grey_question: "

_STATE_TEXT = {
    RequestState.PREVIEWED: "waiting for confirmation",
    RequestState.AWAITING_APPROVAL: ":raised_hand: waiting for approval",
    RequestState.REJECTED: ":no_entry: rejected (nothing was rebooted)",
    RequestState.CANCELLED: ":no_entry_sign: cancelled",
    RequestState.EXPIRED: ":hourglass: expired (nothing was rebooted)",
    RequestState.EXECUTING: ":arrows_counterclockwise: rebooting",
    RequestState.SUCCEEDED: ":white_check_mark: succeeded",
    RequestState.PARTIALLY_FAILED: ":warning: partially failed",
    RequestState.FAILED: ":x: failed",
    RequestState.PAUSED: ":double_vertical_bar: paused",
    RequestState.ABORTED: ":octagonal_sign: aborted",
}


@dataclass(frozen=True)
class Message:
    """What to post: ``text`` is the notification fallback, ``blocks`` the layout, and
    ``overflow`` further messages for the thread when the layout could not hold all."""

    text: str
    blocks: tuple[Block, ...] = ()
    overflow: tuple[Message, ...] = field(default_factory=tuple)

    def block_dicts(self) -> list[dict[str, object]]:
        return [block.to_dict() for block in self.blocks]


# --- text helpers ----------------------------------------------------------------------


def escape(text: str) -> str:
    """mrkdwn escaping: only ``&``, ``<`` and ``>`` have escapes (and that is what stops
    mention injection such as ``<!channel>`` hidden in an instance name)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """User-supplied text in a code span, so ``*``, ``_`` and ``~`` stay literal."""
    return "`" + escape(text).replace("`", "ˋ") + "`"


def mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "someone"


def slack_date(moment: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    epoch = int(moment.timestamp())
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def _mode(force: bool) -> str:
    return ":rotating_light: *force* (power cycle)" if force else "normal"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _chunk_lines(lines: Iterable[str], limit: int = MAX_SECTION_CHARS) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit and current:
            chunks.append(current)
            current = line[:limit]
        else:
            current = candidate[:limit]
    if current:
        chunks.append(current)
    return chunks


# --- instance lines ---------------------------------------------------------------------


def _verdict_detail(instance: PlannedInstance) -> str:
    text = _VERDICT_TEXT[instance.verdict]
    if instance.verdict is Verdict.NOT_RUNNING and instance.status:
        text = f":white_circle: not Running ({escape(instance.status)})"
    explained = (Verdict.REFUSED, Verdict.DENIED, Verdict.LOCKED)
    if instance.verdict in explained and instance.verdict_message:
        text += f": {escape(instance.verdict_message)}"
    return text


def instance_line(instance: PlannedInstance, *, with_outcome: bool) -> str:
    name = f" {code(instance.name)}" if instance.name else ""
    where = instance.ref.region
    if instance.ref.account != DEFAULT_ACCOUNT:  # several accounts: say whose (§5.13)
        where = f"{instance.ref.account} · {where}"
    region = f" _{escape(where)}_"
    status = f" · {escape(instance.status)}" if instance.status else ""
    if with_outcome and instance.outcome is not InstanceOutcome.PENDING:
        detail = _outcome_text(instance.outcome)
        if instance.outcome is InstanceOutcome.FAILED and instance.message:
            detail += f": {escape(instance.message)}"
    else:
        detail = _verdict_detail(instance)
    return f"• `{instance.ref.instance_id}`{name}{region}{status} · {detail}"


def grouped_instance_lines(request: RebootRequest, *, with_outcome: bool) -> list[str]:
    """The instance lines; with several accounts, grouped under an ``account · region``
    heading each (§5.13), the person's order kept within a group."""
    if len(request.accounts) < 2:
        return [instance_line(i, with_outcome=with_outcome) for i in request.instances]
    groups: dict[tuple[str, str], list[PlannedInstance]] = {}
    for instance in request.instances:
        groups.setdefault((instance.ref.account, instance.ref.region), []).append(instance)
    lines = []
    for (account, region), members in groups.items():
        lines.append(f"*{escape(account)} · {escape(region)}*")
        lines.extend(instance_line(i, with_outcome=with_outcome) for i in members)
    return lines


def _outcome_text(outcome: InstanceOutcome) -> str:
    return _OUTCOME_TEXT.get(outcome) or _OUTCOME_FALLBACK + outcome.value.replace("_", " ")


def reason_line(request: RebootRequest) -> str | None:
    """``--reason`` as the messages show it, or None without one."""
    return f"*Reason:* {escape(request.reason)}" if request.reason else None


def approvals_line(request: RebootRequest) -> str | None:
    """The approvals so far (``1/2: <@U…>``) and when the wait ends; None when the
    request needs no approval."""
    if request.approvals_needed <= 0:
        return None
    who = ", ".join(mention(a.user) for a in request.approvals)
    text = f"*Approvals:* {len(request.approvals)}/{request.approvals_needed}"
    text += f" ({who})" if who else ""
    if request.state is RequestState.PREVIEWED:
        return (
            f":raised_hand: *Approval needed:* after you confirm, "
            f"{_plural(request.approvals_needed, 'other person')} with the role to confirm "
            "it must approve before anything reboots."
        )
    if request.state is RequestState.AWAITING_APPROVAL and request.approval_expires_at:
        text += f" · the wait ends {slack_date(request.approval_expires_at)}"
    if request.rejected_by and request.rejected_at:
        text += f" · rejected by {mention(request.rejected_by)} {slack_date(request.rejected_at)}"
    return text


def verdict_counts(instances: Sequence[PlannedInstance]) -> str:
    counts: dict[Verdict, int] = {}
    for instance in instances:
        counts[instance.verdict] = counts.get(instance.verdict, 0) + 1
    return " · ".join(
        f"{_VERDICT_TEXT[verdict]}: {count}" for verdict, count in counts.items() if count
    )


# --- the request message (preview, then live status) ------------------------------------


def request_message(
    request: RebootRequest,
    *,
    can_execute: bool,
    note: str | None = None,
    permalink: str | None = None,
) -> Message:
    """The message in the channel: the preview while ``previewed`` (with buttons when
    ``can_execute`` and something can be rebooted), then the same list with who
    confirmed or cancelled, live progress and the final state."""
    total = len(request.instances)
    verb = "Force reboot" if request.force else "Reboot"
    header = HeaderBlock(text=PlainTextObject(text=f"{verb} {_plural(total, 'instance')}?"[:150]))
    if request.state is not RequestState.PREVIEWED:
        header = HeaderBlock(text=PlainTextObject(text=f"{verb} of {_plural(total, 'instance')}"))
    facts = SectionBlock(
        fields=[
            MarkdownTextObject(text=f"*Requested by*\n{mention(request.requester)}"),
            MarkdownTextObject(text=f"*Mode*\n{_mode(request.force)}"),
            MarkdownTextObject(text=f"*Region(s)*\n{escape(', '.join(request.regions))}"),
            MarkdownTextObject(text=f"*Request*\n`{request.id}`"),
        ]
    )
    blocks: list[Block] = [header, facts]
    plan = rollout_plan_text(request)
    if plan:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"*Rollout:* {plan}")]))
    if request.force and request.state is RequestState.PREVIEWED:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=":rotating_light: *Force reboot* cuts the power: data not yet "
                    "written to disk is lost."
                )
            )
        )

    with_outcome = request.state is not RequestState.PREVIEWED
    lines = grouped_instance_lines(request, with_outcome=with_outcome)
    chunks = _chunk_lines(lines)
    room = MAX_BLOCKS - _RESERVED_BLOCKS
    shown, rest = chunks[:room], chunks[room:]
    if total > 10:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=verdict_counts(request.instances))])
        )
    blocks.extend(SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in shown)
    if rest:
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text="The rest of the list is in the thread.")]
            )
        )
    blocks.append(DividerBlock())
    blocks.append(_status_block(request, permalink=permalink))
    for extra in (reason_line(request), approvals_line(request)):
        if extra:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=extra[:MAX_SECTION_CHARS])))
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))

    if request.state is RequestState.AWAITING_APPROVAL:
        blocks.append(_approval_buttons(request))
    if request.state is RequestState.PREVIEWED:
        if can_execute and request.to_reboot:
            blocks.append(_buttons(request))
        elif not request.to_reboot:
            blocks.append(
                ContextBlock(elements=[MarkdownTextObject(text="Nothing here can be rebooted.")])
            )
    elif request.state.is_running and request.rollout_waves > 1 and request.stop_reason is None:
        blocks.append(_rollout_buttons(request))

    text = f"{verb} of {_plural(total, 'instance')} requested by {mention(request.requester)}: "
    text += _status_text(request)
    overflow = tuple(
        Message(
            text="Instances (continued)", blocks=(SectionBlock(text=MarkdownTextObject(text=c)),)
        )
        for c in rest
    )
    return Message(text=text, blocks=tuple(blocks), overflow=overflow)


def _status_text(request: RebootRequest) -> str:
    back, attempted = request.progress()
    state = _STATE_TEXT[request.state]
    if request.state is RequestState.PREVIEWED:
        return f"{state} (expires {slack_date(request.expires_at)})"
    if request.state is RequestState.AWAITING_APPROVAL:
        return f"{state} ({len(request.approvals)}/{request.approvals_needed})"
    if request.state is RequestState.EXPIRED and request.approval_expires_at:
        return ":hourglass: expired waiting for approval (nothing was rebooted)"
    if request.state.is_running or (request.state.is_final and request.confirmed_by):
        skipped = sum(1 for i in request.instances if i.outcome is InstanceOutcome.SKIPPED)
        aborted = sum(1 for i in request.instances if i.outcome is InstanceOutcome.ABORTED)
        # Skipped instances do not count against the request (docs/PRODUCT.md §7); say how many.
        extra = f", {skipped} skipped" if skipped else ""
        extra += f", {aborted} never sent" if aborted else ""
        wave = ""
        if request.rollout_waves > 1 and request.state.is_running:
            wave = f"wave {max(1, sent_wave(request.instances))}/{request.rollout_waves} · "
        return f"{state}: {wave}{back}/{attempted} back{extra}"
    return state


def rollout_plan_text(request: RebootRequest) -> str | None:
    """The plan in words ("canary 1, then 4 waves of ≤ 25; stops after the first
    failure"); None for a request that reboots all at once (or nothing)."""
    if request.rollout_waves <= 1 or request.rollout_canary is None:
        return None
    later = request.rollout_waves - (1 if request.rollout_canary else 0)
    parts = []
    if request.rollout_canary:
        parts.append(f"canary {request.rollout_canary}")
    if later:
        waves = f"{later} wave{'s' if later != 1 else ''} of ≤ {request.rollout_batch}"
        parts.append(f"then {waves}" if parts else waves)
    plan = ", ".join(parts)
    tolerated = request.rollout_max_errors or 0
    if tolerated == 0:
        plan += "; stops after the first failure"
    else:
        plan += f"; stops after more than {_plural(tolerated, 'failure')}"
    if request.pause_after_wave == 1:
        plan += "; pauses after the canary until resumed"
    return plan


def _rollout_line(request: RebootRequest) -> str | None:
    """Who paused or stopped the rollout, and what happens next."""
    if request.stop_reason == "abort":
        who = f" by {mention(request.stopped_by)}" if request.stopped_by else ""
        if request.state.is_running:
            return f":octagonal_sign: Aborted{who}: no new wave; the wave in flight finishes."
        return f":octagonal_sign: Aborted{who}."
    if request.stop_reason == "max_errors":
        failed = errors(request.instances)
        return (
            f":octagonal_sign: Stopped: {_plural(failed, 'instance')} failed or timed out, "
            f"more than the {request.rollout_max_errors} tolerated; no new wave."
        )
    if request.state is RequestState.PAUSED:
        who = f"by {mention(request.paused_by)}" if request.paused_by else "after the canary"
        return f":double_vertical_bar: Paused {who}: no new wave until someone clicks Resume."
    return None


def _button(
    label: str,
    action_id: str,
    request: RebootRequest,
    *,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    """A button acting on ``request`` (its id is the value every click handler reads).
    The label is cut to Slack's limit, which would otherwise refuse the whole message."""
    return ButtonElement(
        text=PlainTextObject(text=label[:MAX_BUTTON_CHARS]),
        action_id=action_id,
        value=request.id,
        style=style,
        confirm=confirm,
    )


def _are_you_sure(title: str, question: str, *, yes: str, no: str) -> ConfirmObject:
    """The red dialog Slack shows before sending the click of a button that cannot be
    taken back."""
    return ConfirmObject(
        title=PlainTextObject(text=title),
        text=PlainTextObject(text=question),
        confirm=PlainTextObject(text=yes),
        deny=PlainTextObject(text=no),
        style="danger",
    )


def _rollout_buttons(request: RebootRequest) -> ActionsBlock:
    if request.state is RequestState.PAUSED:
        toggle = _button("Resume", ACTION_RESUME, request, style="primary")
    else:
        toggle = _button("Pause", ACTION_PAUSE, request)
    left = sum(1 for i in request.instances if i.will_reboot and i.reboot_sent_at is None)
    abort = _button(
        "Abort",
        ACTION_ABORT,
        request,
        style="danger",
        confirm=_are_you_sure(
            "Abort the rollout?",
            f"No new wave is sent: {_plural(left, 'instance')} will not be rebooted. "
            "The wave in flight finishes.",
            yes="Abort",
            no="Keep going",
        ),
    )
    return ActionsBlock(block_id=ROLLOUT_BLOCK_ID, elements=[toggle, abort])


def _status_block(request: RebootRequest, *, permalink: str | None) -> Block:
    parts = [f"*Status:* {_status_text(request)}"]
    if request.confirmed_by and request.confirmed_at:
        parts.append(
            f"Confirmed by {mention(request.confirmed_by)} {slack_date(request.confirmed_at)}"
        )
    if request.cancelled_by and request.cancelled_at:
        parts.append(
            f"Cancelled by {mention(request.cancelled_by)} {slack_date(request.cancelled_at)}"
        )
    if request.state is RequestState.EXPIRED:
        parts.append(f"Expired {slack_date(request.approval_expires_at or request.expires_at)}")
    rollout = _rollout_line(request)
    if rollout:
        parts.append(rollout)
    if request.finished_at and request.state.is_final and request.confirmed_by:
        parts.append(f"Finished {slack_date(request.finished_at)}")
    if permalink:
        parts.append(f"<{permalink}|thread>")
    return SectionBlock(text=MarkdownTextObject(text=" · ".join(parts)))


def _buttons(request: RebootRequest) -> ActionsBlock:
    count = len(request.to_reboot)
    if request.force:
        confirm = _button(
            f"Force reboot {count}",
            ACTION_CONFIRM,
            request,
            style="danger",
            confirm=_are_you_sure(
                "Force reboot?",
                f"Power-cycle {_plural(count, 'instance')} now? Data not yet written "
                "to disk will be lost. This cannot be undone.",
                yes="Force reboot",
                no="Keep running",
            ),
        )
    else:
        confirm = _button(f"Reboot {count}", ACTION_CONFIRM, request, style="primary")
    cancel = _button("Cancel", ACTION_CANCEL, request)
    return ActionsBlock(block_id=ACTIONS_BLOCK_ID, elements=[confirm, cancel])


def _approval_buttons(request: RebootRequest) -> ActionsBlock:
    approve = _button(
        "Approve", ACTION_APPROVE, request, style="danger" if request.force else "primary"
    )
    reject = _button("Reject", ACTION_REJECT, request)
    cancel = _button("Cancel", ACTION_CANCEL, request)
    return ActionsBlock(block_id=ACTIONS_BLOCK_ID, elements=[approve, reject, cancel])


# --- thread replies ------------------------------------------------------------------------


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
        if _api_accepted(instance) and instance.reboot_calls > 2:
            result = (
                ":arrows_counterclockwise: answers lost; the instance had not restarted; "
                f"call {instance.reboot_calls}: reboot accepted"
            )
        elif _api_accepted(instance) and instance.reboot_calls > 1:
            result = (
                ":arrows_counterclockwise: answer lost; the instance had not restarted; "
                "sent once more: reboot accepted"
            )
        elif _api_accepted(instance):
            result = ":arrows_counterclockwise: reboot accepted"
        elif instance.outcome is InstanceOutcome.FAILED:
            result = f":x: {escape(instance.message or 'failed')}"
        else:
            # Sent, but the answer was lost: resolved (docs/decisions/0003), not failed.
            result = f":grey_question: {_lost_answer(instance)}"
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
    chunks = _chunk_lines(lines)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    room = MAX_BLOCKS - 1
    blocks.extend(SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks[:room])
    overflow = tuple(
        Message(text="Results (continued)", blocks=(SectionBlock(text=MarkdownTextObject(text=c)),))
        for c in chunks[room:]
    )
    return Message(text=head, blocks=tuple(blocks), overflow=overflow)


def _lost_answer(instance: PlannedInstance) -> str:
    """What became of an instance whose reboot call's answer was lost."""
    if instance.outcome is InstanceOutcome.PENDING:
        return "answer lost; checking whether the instance restarted"
    if instance.reboot_calls > 1 and instance.seen_leaving_running:
        return (
            f"{instance.reboot_calls} answers lost; the instance has since restarted: "
            "not sent again"
        )
    if instance.reboot_calls > 1:
        return (
            f"{instance.reboot_calls} answers lost; sent again only once no earlier call "
            "can still act and the instance is seen not to have restarted"
        )
    if instance.seen_leaving_running:
        return "answer lost; the instance had restarted, so that call rebooted it: not sent again"
    return "answer lost; not sent again; watching whether the instance restarts"


def _api_accepted(instance: PlannedInstance) -> bool:
    """The API answered and accepted the reboot, whatever happened since: the first reply
    may be posted late (after a restart), when the instance is already back."""
    return instance.reboot_acked_at is not None and instance.outcome is not InstanceOutcome.FAILED


def status_text(request: RebootRequest, *, permalink: str | None = None) -> str:
    """``/ecs-reboot status ID``: a compact text summary (ephemeral)."""
    lines = [
        f"*Request `{request.id}`* · {_mode(request.force)} · {escape(', '.join(request.regions))}",
        f"Requested by {mention(request.requester)} {slack_date(request.created_at)} · "
        f"status: {_status_text(request)}",
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
        detail = _outcome_text(instance.outcome)
        if instance.outcome is InstanceOutcome.SUCCEEDED:
            detail += f" after {_duration(instance.reboot_sent_at, instance.finished_at)}"
        elif instance.message and instance.outcome.is_final:
            detail += f": {escape(instance.message)}"
        name = f" {code(instance.name)}" if instance.name else ""
        lines.append(f"• `{instance.ref.instance_id}`{name} · {detail}")
    head = f"*{back}/{attempted} back*"
    if request.rollout_waves > 1:
        head = f"*wave {max(1, sent_wave(request.instances))}/{request.rollout_waves}* · {head}"
    chunks = _chunk_lines(lines)
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
        f"*Done: {_STATE_TEXT[request.state]}* · {back}/{attempted} back in {took} ({tally}). "
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
    problems = [
        instance_line(i, with_outcome=True)
        + (
            f" — {escape(i.message)}"
            if i.message and i.outcome is not InstanceOutcome.FAILED
            else ""
        )
        for i in request.instances
        if i.outcome in RETRYABLE_OUTCOMES
    ]
    no_agent = sum(1 for i in request.instances if i.agent == "absent")
    if no_agent:
        head += (
            f"\n:information_source: {_plural(no_agent, 'instance')} without the Cloud "
            "Assistant agent counted as back on Running alone."
        )
    stopped = _rollout_line(request)
    if stopped and request.state is RequestState.ABORTED:
        head += f"\n{stopped}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    chunks = _chunk_lines(problems)
    room = MAX_BLOCKS - 2  # the head, and the Retry button
    blocks.extend(SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks[:room])
    retryable = request.retryable
    if retryable:
        blocks.append(
            ActionsBlock(
                block_id="reboot_retry_actions",
                elements=[
                    _button(
                        f"Retry the {_plural(len(retryable), 'failed one')}", ACTION_RETRY, request
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
        f":raised_hand: {group}{verb} of {_plural(count, 'instance')} in "
        f"{escape(', '.join(request.regions))} needs "
        f"{_plural(request.approvals_needed, 'approval')}{wait}: requested by "
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
        f":arrows_counterclockwise: {verb} of {_plural(count, 'instance')} in "
        f"{_where(request)} started: requested by {mention(request.requester)}, "
        f"confirmed by {mention(request.confirmed_by)}{_approved_by(request)} in "
        f"<#{request.channel}> (request `{request.id}`).{_reason_suffix(request)}{link}"
    )
    plan = rollout_plan_text(request)
    if plan:
        text += f"\nRollout: {plan}."
    return Message(text=text, blocks=(SectionBlock(text=MarkdownTextObject(text=text)),))


def notify_rollout(request: RebootRequest, event: str, permalink: str | None) -> Message:
    """A rollout paused, resumed or aborted, for the notify channel."""
    link = f" · <{permalink}|thread>" if permalink else ""
    back, attempted = request.progress()
    where = (
        f"after wave {max(1, sent_wave(request.instances))}/{request.rollout_waves}, "
        f"{back}/{attempted} back"
    )
    if event == "paused":
        who = f" by {mention(request.paused_by)}" if request.paused_by else " after the canary"
        head = f":double_vertical_bar: Rollout `{request.id}` paused{who} ({where})"
    elif event == "resumed":
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
        f"{_STATE_TEXT[request.state]}: {verb.lower()} of {_plural(attempted, 'instance')} in "
        f"{_where(request)} (request `{request.id}`): {back}/{attempted} back"
        f"{f', {len(failed)} failed or timed out' if failed else ''}. Requested by "
        f"{mention(request.requester)}, confirmed by {mention(request.confirmed_by)}"
        f"{_approved_by(request)}.{_reason_suffix(request)}{link}"
    )
    return Message(text=text, blocks=(SectionBlock(text=MarkdownTextObject(text=text)),))

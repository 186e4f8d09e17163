"""Every Block Kit message the bot sends, built from ``slack_sdk.models`` objects.

One module so that the look of the bot is in one place and the action ids are named
constants. Functions here are pure: they take snapshots and plain values and return
``Message`` values; the Slack adapter sends them.

Slack's limits (docs/SLACK-API.md): 50 blocks a message, 3000 characters a
section. Long instance lists are split into several sections, and what does not fit
goes into thread replies (``overflow``), so nothing is ever cut silently.

Why one file of about 550 lines: the request message in each of its states is one
layout, and its parts (instance lines, status, rollout and approval buttons) are drawn
together; thread replies and notifications are in ``replies.py``, cards in
``cards.py`` and ``event_cards.py``.
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
from bot.domain.model import (
    InstanceOutcome,
    RequestState,
    StopReason,
    Verdict,
)
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.rollout import errors, sent_wave
from bot.domain.schedule import duration_words
from bot.slack.outcomes import outcome_sentence

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
# Blocks the preview keeps besides the instance list: header, facts, rollout plan, force
# warning, verdict counts, "rest in the thread", divider, status, schedule, reason,
# approvals, note, buttons. All of them can appear at once (a large scheduled force
# rollout with a note).
_RESERVED_BLOCKS = 13

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

STATE_TEXT = {
    RequestState.PREVIEWED: "waiting for confirmation",
    RequestState.AWAITING_APPROVAL: ":raised_hand: waiting for approval",
    RequestState.SCHEDULED: ":calendar: scheduled",
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


def mode_text(force: bool) -> str:
    return ":rotating_light: *force* (power cycle)" if force else "normal"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def chunk_lines(lines: Iterable[str], limit: int = MAX_SECTION_CHARS) -> list[str]:
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
        detail = outcome_text(instance.outcome)
        # Only a failure's words: other outcomes speak for themselves on this line.
        sentence = outcome_sentence(instance)
        if instance.outcome is InstanceOutcome.FAILED and sentence:
            detail += f": {escape(sentence)}"
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


def outcome_text(outcome: InstanceOutcome) -> str:
    return _OUTCOME_TEXT.get(outcome) or _OUTCOME_FALLBACK + outcome.value.replace("_", " ")


def schedule_line(request: RebootRequest) -> str | None:
    """When a scheduled request runs (docs/PRODUCT.md §5.10): a Slack date and how far
    ahead, counted from when the message was drawn for that state."""
    if request.scheduled_for is None or request.state not in (
        RequestState.PREVIEWED,
        RequestState.AWAITING_APPROVAL,
        RequestState.SCHEDULED,
    ):
        return None
    since = request.scheduled_at or request.created_at
    ahead = duration_words(max(0.0, (request.scheduled_for - since).total_seconds()))
    verb = "Scheduled for" if request.state is RequestState.SCHEDULED else "Runs"
    line = f":calendar: *{verb}* {slack_date(request.scheduled_for)} (in {ahead})"
    if request.window:
        line += (
            f", the next opening of window {code(request.window)}; waves go out only while "
            "it is open, and a rollout left at its closing goes on at its next opening"
        )
    if request.state is RequestState.PREVIEWED:
        line += ". *Reboot* schedules it; nothing reboots before then"
    return line + "."


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
            f"{plural(request.approvals_needed, 'other person')} with the role to confirm "
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
    header = HeaderBlock(text=PlainTextObject(text=f"{verb} {plural(total, 'instance')}?"[:150]))
    if request.state is not RequestState.PREVIEWED:
        header = HeaderBlock(text=PlainTextObject(text=f"{verb} of {plural(total, 'instance')}"))
    facts = SectionBlock(
        fields=[
            MarkdownTextObject(text=f"*Requested by*\n{mention(request.requester)}"),
            MarkdownTextObject(text=f"*Mode*\n{mode_text(request.force)}"),
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
    chunks = chunk_lines(lines)
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
    for extra in (schedule_line(request), reason_line(request), approvals_line(request)):
        if extra:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=extra[:MAX_SECTION_CHARS])))
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))

    if request.state is RequestState.AWAITING_APPROVAL:
        blocks.append(_approval_buttons(request))
    if request.state is RequestState.SCHEDULED:
        blocks.append(
            ActionsBlock(
                block_id=ACTIONS_BLOCK_ID, elements=[button("Cancel", ACTION_CANCEL, request)]
            )
        )
    if request.state is RequestState.PREVIEWED:
        if can_execute and request.to_reboot:
            blocks.append(_buttons(request))
        elif not request.to_reboot:
            blocks.append(
                ContextBlock(elements=[MarkdownTextObject(text="Nothing here can be rebooted.")])
            )
    elif request.state.is_running and request.rollout_waves > 1 and request.stop_reason is None:
        blocks.append(_rollout_buttons(request))

    text = f"{verb} of {plural(total, 'instance')} requested by {mention(request.requester)}: "
    text += status_words(request)
    overflow = tuple(
        Message(
            text="Instances (continued)", blocks=(SectionBlock(text=MarkdownTextObject(text=c)),)
        )
        for c in rest
    )
    return Message(text=text, blocks=tuple(blocks), overflow=overflow)


def status_words(request: RebootRequest) -> str:
    back, attempted = request.progress()
    state = STATE_TEXT[request.state]
    if request.state is RequestState.PREVIEWED:
        return f"{state} (expires {slack_date(request.expires_at)})"
    if request.state is RequestState.AWAITING_APPROVAL:
        return f"{state} ({len(request.approvals)}/{request.approvals_needed})"
    if request.state is RequestState.SCHEDULED and request.scheduled_for is not None:
        return f"{state} for {slack_date(request.scheduled_for)}"
    if request.state is RequestState.EXPIRED and request.scheduled_for and request.scheduled_at:
        return ":hourglass: expired: its start was missed (nothing was rebooted)"
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
        plan += f"; stops after more than {plural(tolerated, 'failure')}"
    if request.pause_after_wave == 1:
        plan += "; pauses after the canary until resumed"
    return plan


def rollout_line(request: RebootRequest) -> str | None:
    """Who paused or stopped the rollout, and what happens next."""
    if request.stop_reason is StopReason.ABORT:
        who = f" by {mention(request.stopped_by)}" if request.stopped_by else ""
        if request.state.is_running:
            return f":octagonal_sign: Aborted{who}: no new wave; the wave in flight finishes."
        return f":octagonal_sign: Aborted{who}."
    if request.stop_reason is StopReason.MAX_ERRORS:
        failed = errors(request.instances)
        return (
            f":octagonal_sign: Stopped: {plural(failed, 'instance')} failed or timed out, "
            f"more than the {request.rollout_max_errors} tolerated; no new wave."
        )
    if request.state is RequestState.PAUSED and request.window_reopens_at is not None:
        return (
            f":crescent_moon: Paused: window {code(request.window or '?')} closed; continues by "
            f"itself {slack_date(request.window_reopens_at)}."
        )
    if request.state is RequestState.PAUSED:
        who = f"by {mention(request.paused_by)}" if request.paused_by else "after the canary"
        return f":double_vertical_bar: Paused {who}: no new wave until someone clicks Resume."
    return None


def button(
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
    if request.state is RequestState.PAUSED and request.window_reopens_at is None:
        toggle = button("Resume", ACTION_RESUME, request, style="primary")
    else:
        toggle = button("Pause", ACTION_PAUSE, request)
    left = sum(1 for i in request.instances if i.will_reboot and i.reboot_sent_at is None)
    abort = button(
        "Abort",
        ACTION_ABORT,
        request,
        style="danger",
        confirm=_are_you_sure(
            "Abort the rollout?",
            f"No new wave is sent: {plural(left, 'instance')} will not be rebooted. "
            "The wave in flight finishes.",
            yes="Abort",
            no="Keep going",
        ),
    )
    return ActionsBlock(block_id=ROLLOUT_BLOCK_ID, elements=[toggle, abort])


def _status_block(request: RebootRequest, *, permalink: str | None) -> Block:
    parts = [f"*Status:* {status_words(request)}"]
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
    rollout = rollout_line(request)
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
        confirm = button(
            f"Force reboot {count}",
            ACTION_CONFIRM,
            request,
            style="danger",
            confirm=_are_you_sure(
                "Force reboot?",
                f"Power-cycle {plural(count, 'instance')} {_when(request)}? Data not yet "
                "written to disk will be lost. This cannot be undone.",
                yes="Force reboot",
                no="Keep running",
            ),
        )
    else:
        confirm = button(f"Reboot {count}", ACTION_CONFIRM, request, style="primary")
    cancel = button("Cancel", ACTION_CANCEL, request)
    return ActionsBlock(block_id=ACTIONS_BLOCK_ID, elements=[confirm, cancel])


def _when(request: RebootRequest) -> str:
    if request.scheduled_for is None:
        return "now"
    return f"at {request.scheduled_for:%Y-%m-%d %H:%M} UTC"


def _approval_buttons(request: RebootRequest) -> ActionsBlock:
    approve = button(
        "Approve", ACTION_APPROVE, request, style="danger" if request.force else "primary"
    )
    reject = button("Reject", ACTION_REJECT, request)
    cancel = button("Cancel", ACTION_CANCEL, request)
    return ActionsBlock(block_id=ACTIONS_BLOCK_ID, elements=[approve, reject, cancel])


# --- thread replies ------------------------------------------------------------------------

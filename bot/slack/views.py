"""The modal and the App Home (docs/PRODUCT.md §5.14), built from ``slack_sdk.models``.

Pure like ``blocks``: plain values in, ``View`` objects out. Slack's limits: 100 blocks
a view, 3000 characters a section, 150 characters an input's initial value hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    ConversationSelectElement,
    DividerBlock,
    ExternalDataMultiSelectElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain import form
from bot.domain.events import KnownEvent
from bot.domain.request import RebootRequest
from bot.services.home import Home
from bot.slack.blocks import ACTION_APPROVE, ACTION_REJECT, code, escape, slack_date
from bot.slack.event_cards import ACTION_EVENT_REBOOT, event_line

CALLBACK_FORM = "reboot_form"
SHORTCUT_OPEN = "reboot_open"
SHORTCUT_FROM_MESSAGE = "reboot_from_message"
MAX_VIEW_BLOCKS = 100
_HOME_LIST = 10  # requests shown per list of the App Home
_MAX_INITIAL_TARGETS = 3000  # a plain text input's initial value
_HOME_ROLES = 30  # bindings listed in App Home; `/ecs-reboot roles` has them all
_MAX_SECTION = 3000


@dataclass(frozen=True)
class FormSeed:
    """What the form opens with: where its preview goes (``channel``, None when the form
    must ask), what it is filled with, and what this person may choose."""

    metadata: str
    channel: str | None = None
    # With several accounts, the form asks which (the default one picked).
    accounts: tuple[str, ...] = ()
    # The names of ECSBOT_WINDOWS, offered in the "when" field's hint.
    windows: tuple[str, ...] = ()
    default_account: str | None = None
    region: str = ""
    targets: str = ""
    note: str | None = None
    may_force: bool = False
    reason_required: bool = False


def reboot_form(seed: FormSeed) -> View:
    """The reboot form: each input's block id is its field's name (``bot.domain.form``)."""
    blocks: list[Block] = []
    if seed.note:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=seed.note)))
    if seed.channel is None:
        blocks.append(
            InputBlock(
                block_id=form.FIELD_CHANNEL,
                label="Post the preview in",
                element=ConversationSelectElement(
                    action_id=form.FIELD_CHANNEL, default_to_current_conversation=True
                ),
            )
        )
    if len(seed.accounts) > 1:
        options = [Option(value=name, label=name) for name in seed.accounts]
        initial = next((o for o in options if o.value == seed.default_account), None)
        blocks.append(
            InputBlock(
                block_id=form.FIELD_ACCOUNT,
                label="Account",
                element=StaticSelectElement(
                    action_id=form.FIELD_ACCOUNT, options=options, initial_option=initial
                ),
            )
        )
    blocks += [
        InputBlock(
            block_id=form.FIELD_INSTANCES,
            label="Instances",
            optional=True,
            hint="Type part of a name, or the start of an id (i-…).",
            element=ExternalDataMultiSelectElement(
                action_id=form.FIELD_INSTANCES, min_query_length=2, placeholder="Search…"
            ),
        ),
        InputBlock(
            block_id=form.FIELD_TARGETS,
            label="Or paste ids, console lines, selectors",
            optional=True,
            hint="As in /ecs-reboot: i-… ids, REGION/i-…, tag:KEY=VALUE, name:web-*",
            element=PlainTextInputElement(
                action_id=form.FIELD_TARGETS,
                multiline=True,
                initial_value=seed.targets[:_MAX_INITIAL_TARGETS] or None,
            ),
        ),
        InputBlock(
            block_id=form.FIELD_REGION,
            label="Region",
            optional=True,
            hint="One region, or several separated by commas.",
            element=PlainTextInputElement(
                action_id=form.FIELD_REGION, initial_value=seed.region or None
            ),
        ),
    ]
    if seed.may_force:
        blocks.append(
            InputBlock(
                block_id=form.FIELD_FORCE,
                label="Mode",
                optional=True,
                element=CheckboxesElement(
                    action_id=form.FIELD_FORCE,
                    options=[
                        Option(
                            value="force",
                            label="Force reboot (a power cycle: unwritten data can be lost)",
                        )
                    ],
                ),
            )
        )
    blocks += [
        InputBlock(
            block_id=form.FIELD_REASON,
            label="Reason",
            optional=not seed.reason_required,
            element=PlainTextInputElement(action_id=form.FIELD_REASON, max_length=500),
        ),
        InputBlock(
            block_id=form.FIELD_WHEN,
            label="When",
            optional=True,
            hint=_when_hint(seed.windows),
            element=PlainTextInputElement(action_id=form.FIELD_WHEN),
        ),
        InputBlock(
            block_id=form.FIELD_ROLLOUT,
            label="Rollout",
            optional=True,
            hint="Blank for the default; or e.g. --batch 5 --canary 1, --all-at-once",
            element=PlainTextInputElement(action_id=form.FIELD_ROLLOUT),
        ),
    ]
    return View(
        type="modal",
        callback_id=CALLBACK_FORM,
        title="Reboot ECS instances",
        submit="Preview",
        close="Cancel",
        private_metadata=seed.metadata,
        blocks=blocks,
    )


def home_view(home: Home) -> View:
    """The App Home: approvals waiting for this person (with the same buttons as the
    messages), their requests in flight, their last finished ones, their roles."""
    blocks: list[Block] = [HeaderBlock(text="ECS reboots")]
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Waiting for your approval*")))
    if not home.awaiting_me:
        blocks.append(_context("Nothing waits for you."))
    for request in home.awaiting_me[:_HOME_LIST]:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_request_line(request))))
        blocks.append(
            ActionsBlock(
                block_id=f"home_approval_{request.id}",
                elements=[
                    ButtonElement(
                        text="Approve", action_id=ACTION_APPROVE, value=request.id, style="primary"
                    ),
                    ButtonElement(
                        text="Reject", action_id=ACTION_REJECT, value=request.id, style="danger"
                    ),
                ],
            )
        )
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text="*Your requests now*"))]
    if not home.mine_in_flight:
        blocks.append(_context("None in flight."))
    blocks += [
        SectionBlock(text=MarkdownTextObject(text=_request_line(r)))
        for r in home.mine_in_flight[:_HOME_LIST]
    ]
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text="*Your last requests*"))]
    if not home.mine_finished:
        blocks.append(_context("None yet."))
    blocks += [
        SectionBlock(text=MarkdownTextObject(text=_request_line(r)))
        for r in home.mine_finished[:_HOME_LIST]
    ]
    if home.platform_events and home.now is not None:
        blocks += _platform_events(home, home.now)
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=_roles_text(home)))]
    return View(type="home", blocks=blocks[:MAX_VIEW_BLOCKS])


def _platform_events(home: Home, now: datetime) -> list[Block]:
    """Pending platform reboots, one section per card with its **Reboot now**."""
    blocks: list[Block] = [
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text="*Platform maintenance reboots pending*")),
    ]
    by_card: dict[str, list[KnownEvent]] = {}
    for known in home.platform_events:
        by_card.setdefault(known.card_id or "", []).append(known)
    for card_id, events in list(by_card.items())[:_HOME_LIST]:
        lines = "\n".join(event_line(known, now) for known in events)[:_MAX_SECTION]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=lines)))
        if card_id:
            blocks.append(
                ActionsBlock(
                    block_id=f"home_event_{card_id}",
                    elements=[
                        ButtonElement(
                            text="Reboot now", action_id=ACTION_EVENT_REBOOT, value=card_id
                        )
                    ],
                )
            )
    return blocks


def _when_hint(windows: Sequence[str]) -> str:
    hint = "Blank: now. Or a time (02:00, 2026-12-24T02:00), a delay (3h, in 90m)"
    if windows:
        hint += ", or a window: " + ", ".join(windows[:5])
    return hint[:150]


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _request_line(request: RebootRequest) -> str:
    count = len(request.to_reboot) or len(request.instances)
    what = f"{count} instance{'s' if count != 1 else ''} in {', '.join(request.regions)}"
    link = f"<{request.permalink}|{code(request.id)}>" if request.permalink else code(request.id)
    line = f"{link} · *{request.state.value}* · {what} · {slack_date(request.created_at)}"
    line += f" · by <@{request.requester}>"
    if request.force:
        line += " · :rotating_light: force"
    if request.approvals_needed:
        line += f" · approvals {len(request.approvals)}/{request.approvals_needed}"
    if request.reason:
        line += f"\n_{escape(request.reason[:200])}_"
    return line[:_MAX_SECTION]


def _roles_text(home: Home) -> str:
    lines = ["*Your roles*"]
    if home.bootstrap_admin:
        lines.append("• admin everywhere (ECSBOT_ADMINS)")
    for binding in home.bindings[:_HOME_ROLES]:
        scope = [f"region {binding.region}"] if binding.region else []
        if binding.tag_key:
            scope.append(f"tag {binding.tag_key}={binding.tag_value}")
        via = "" if binding.subject == home.user else f" (through <!subteam^{binding.subject}>)"
        where = " in " + ", ".join(scope) if scope else " everywhere"
        lines.append(f"• {binding.role.value}{where}{via}")
    if len(home.bindings) > _HOME_ROLES:
        lines.append(f"…and {len(home.bindings) - _HOME_ROLES} more (`/ecs-reboot roles`)")
    if len(lines) == 1:
        lines.append("None: ask an admin for `/ecs-reboot grant`.")
    return "\n".join(lines)[:_MAX_SECTION]

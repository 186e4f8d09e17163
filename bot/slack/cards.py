"""Cards for reboots the bot did not start: CloudMonitor alarms (docs/PRODUCT.md §5.12).

Pure builders, like ``bot.slack.blocks``: a card snapshot in, a ``Message`` out.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.alarms import AlarmCard, CardState
from bot.slack.blocks import Message, code, escape, slack_date

ACTION_ALARM_REBOOT = "alarm_reboot"
ALARM_ACTIONS_BLOCK_ID = "alarm_actions"


def alarm_card(card: AlarmCard) -> Message:
    """The card of an alarm rule on one instance: what fired, on what, how often, and a
    **Reboot** button that opens an ordinary preview (never a reboot by itself)."""
    recovered = card.state is CardState.RECOVERED
    icon = ":large_green_circle:" if recovered else ":rotating_light:"
    headline = f"{icon} *CloudMonitor alarm* {code(card.alert_name)}" + (
        " — *recovered*" if recovered else ""
    )
    instance = code(card.instance_id)
    if card.instance_name:
        instance += f" ({escape(card.instance_name)})"
    if card.instance_status:
        instance += f", {escape(card.instance_status)}"
    where = f"{code(card.account)} · {code(card.region)}" if card.account else code(card.region)
    facts = [
        f"*Instance*\n{instance} in {where}",
        f"*Metric*\n{code(card.metric_name)} = {code(card.last_value or '?')}",
    ]
    if card.expression:
        facts.append(f"*Rule*\n{code(card.expression)}")
    times = "time" if card.count == 1 else "times"
    seen = (
        f"Fired {card.count} {times}, first {slack_date(card.first_at)}, "
        f"last {slack_date(card.last_at)}"
    )
    if recovered and card.recovered_at is not None:
        seen += f"; recovered {slack_date(card.recovered_at)}"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=headline)),
        SectionBlock(fields=[MarkdownTextObject(text=fact) for fact in facts]),
        ContextBlock(elements=[MarkdownTextObject(text=seen)]),
    ]
    if not recovered:
        blocks.append(
            ActionsBlock(
                block_id=ALARM_ACTIONS_BLOCK_ID,
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text="Reboot…"),
                        action_id=ACTION_ALARM_REBOOT,
                        value=card.id,
                    )
                ],
            )
        )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="*Reboot…* opens a preview; nothing reboots until someone "
                        "allowed to confirms it."
                    )
                ]
            )
        )
    state = "recovered" if recovered else "firing"
    text = f"CloudMonitor alarm {card.alert_name} on {card.instance_id}: {state}"
    return Message(text=text, blocks=tuple(blocks))

"""The console's rendering of Slack messages as terminal text: plain values in, text out."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.console.render import (
    RULE,
    block_lines,
    button_text,
    message_lines,
    mrkdwn_to_text,
    wrap,
)
from bot.console.transcript import Transcript, describe, describe_ack
from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Verdict
from bot.domain.request import PlannedInstance, RebootRequest
from bot.slack.blocks import request_message
from bot.testing.slack_api import Ephemeral, Message, Posted, Updated

CHANNELS = {"C0OPS": "ops", "C0NOTIFY": "ops-notify"}


# --- mrkdwn -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mrkdwn", "text"),
    [
        ("<@U123>", "@U123"),
        ("<@U123|alice> confirmed", "@U123 confirmed"),
        ("in <#C0OPS>", "in #ops"),
        ("in <#C9OTHER>", "in #C9OTHER"),
        ("in <#C9OTHER|general>", "in #general"),
        ("<!subteam^S1|@oncall> and <!subteam^S2>", "@oncall and @S2"),
        ("<!here>", "@here"),
        (
            "at <!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>",
            "at 2023-11-14 22:13 UTC",
        ),
        (
            "see <https://example.com/a?b=1&amp;c=2|the thread>",
            "see the thread (https://example.com/a?b=1&c=2)",
        ),
        ("<https://example.com>", "https://example.com"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("&amp;lt; stays literal", "&lt; stays literal"),
        (":white_check_mark: done", "✔ done"),
        (":x: failed, :warning: careful", "✘ failed, ⚠ careful"),
        (":some_custom_emoji: kept", ":some_custom_emoji: kept"),
        ("*Status:* _cn-hangzhou_ ~old~", "Status: cn-hangzhou old"),
        ("*Request `abc123`*", "Request `abc123`"),
        ("web_01 and 3 * 4 * 5", "web_01 and 3 * 4 * 5"),
        ("`*not bold* :x: <@U1>`", "`*not bold* :x: <@U1>`"),
        ("`a &lt;b&gt;`", "`a <b>`"),
    ],
)
def test_mrkdwn_reads_as_terminal_text(mrkdwn: str, text: str) -> None:
    assert mrkdwn_to_text(mrkdwn, CHANNELS) == text


def test_a_mention_hidden_in_a_name_stays_visible_text() -> None:
    # The bot escapes user-supplied text; the console shows it as it was written.
    assert mrkdwn_to_text("`&lt;!channel&gt;`") == "`<!channel>`"


# --- blocks -------------------------------------------------------------------------------


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def test_header_divider_and_context() -> None:
    assert block_lines({"type": "header", "text": _plain("Reboot 3 instances?")}) == [
        "== Reboot 3 instances? =="
    ]
    assert block_lines({"type": "divider"}) == [RULE]
    context = {"type": "context", "elements": [_mrkdwn("*a*"), _plain("b")]}
    assert block_lines(context) == ["a  b"]


def test_section_fields_two_a_line_label_and_value() -> None:
    block = {
        "type": "section",
        "fields": [
            _mrkdwn("*Requested by*\n<@U1>"),
            _mrkdwn("*Mode*\nnormal"),
            _mrkdwn("*Region(s)*\ncn-hangzhou"),
        ],
    }
    # The left column is as wide as its widest cell, so the right one lines up.
    assert block_lines(block) == [
        "Requested by: @U1        Mode: normal",
        "Region(s): cn-hangzhou",
    ]


def test_buttons_show_style_and_the_confirm_dialog() -> None:
    plain = {"type": "button", "text": _plain("Cancel"), "action_id": "reboot_cancel"}
    primary = {"type": "button", "text": _plain("Reboot 3"), "style": "primary"}
    danger = {
        "type": "button",
        "text": _plain("Force reboot 2"),
        "style": "danger",
        "confirm": {"title": _plain("Force reboot?"), "text": _plain("Sure?")},
    }
    assert button_text(plain) == "[ Cancel ]"
    assert button_text(primary) == "[ Reboot 3 ] (primary)"
    assert button_text(danger) == '[ Force reboot 2 ] (danger, asks "Force reboot?" first)'
    actions = {"type": "actions", "elements": [primary, plain]}
    assert block_lines(actions) == ["[ Reboot 3 ] (primary)  [ Cancel ]"]


def test_unknown_blocks_are_named_not_dropped() -> None:
    assert block_lines({"type": "image"}) == ["[image block]"]


def test_a_message_without_blocks_shows_its_text() -> None:
    assert message_lines("hello <@U1>\nbye", []) == ["hello @U1", "bye"]


def test_wrap_folds_long_lines_under_their_bullet_and_keeps_words_whole() -> None:
    long_id = "i-" + "a" * 30
    lines = wrap([f"• {long_id} " + "word " * 20, "short"], 40)
    assert all(len(line) <= 40 for line in lines[1:-1])
    assert lines[0].startswith(f"• {long_id}")
    assert all(line.startswith("  ") for line in lines[1:-1])
    assert lines[-1] == "short"


def _request(state: RequestState, *, force: bool = False) -> RebootRequest:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    instances = (
        PlannedInstance(
            ref=InstanceRef("cn-hangzhou", "i-bp1aaaaaaaa"),
            position=0,
            name="web-01",
            status="Running",
            verdict=Verdict.WILL_REBOOT,
        ),
        PlannedInstance(
            ref=InstanceRef("cn-hangzhou", "i-bp1bbbbbbbb"),
            position=1,
            name="batch-01",
            status="Stopped",
            verdict=Verdict.NOT_RUNNING,
            outcome=InstanceOutcome.SKIPPED,
        ),
    )
    return RebootRequest(
        id="abc123def456",
        state=state,
        force=force,
        requester="U0DEMO",
        channel="C0OPS",
        created_at=now,
        expires_at=now + timedelta(minutes=5),
        instances=instances,
    )


def test_the_bots_real_preview_renders_every_instance_and_the_buttons() -> None:
    message = request_message(_request(RequestState.PREVIEWED), can_execute=True)
    text = "\n".join(message_lines(message.text, message.block_dicts(), CHANNELS))
    assert "== Reboot 2 instances? ==" in text
    assert "Requested by: @U0DEMO" in text
    assert "`i-bp1aaaaaaaa` `web-01` cn-hangzhou · Running · ● will reboot" in text
    assert "`i-bp1bbbbbbbb` `batch-01` cn-hangzhou · Stopped · ○ not Running (Stopped)" in text
    assert "expires 2024-05-01 12:05 UTC" in text
    assert "[ Reboot 1 ] (primary)  [ Cancel ]" in text
    assert "<" not in text
    assert "&gt;" not in text
    assert ":large_green_circle:" not in text


def test_the_force_preview_shows_the_red_button_and_its_dialog() -> None:
    message = request_message(_request(RequestState.PREVIEWED, force=True), can_execute=True)
    text = "\n".join(message_lines(message.text, message.block_dicts(), CHANNELS))
    assert '[ Force reboot 1 ] (danger, asks "Force reboot?" first)' in text


# --- events as transcript text ---------------------------------------------------------------


def _message(ts: str, *, thread_ts: str | None = None, number: int = 0, text: str = "") -> Message:
    return Message(channel="C0OPS", ts=ts, text=text, blocks=[], thread_ts=thread_ts, number=number)


def test_a_channel_message_is_headed_by_its_channel_and_number() -> None:
    event = Posted(_message("1.000001", number=3, text="line one\nline two"))
    assert describe(event, me="U1", channels=CHANNELS) == (
        "\n#ops › msg 3\n    line one\n    line two"
    )


def test_a_short_message_stays_on_one_line() -> None:
    notify = Message(channel="C0NOTIFY", ts="1.2", text="started", blocks=[], number=2)
    assert describe(Posted(notify), me="U1", channels=CHANNELS) == "#ops-notify › msg 2 started"


def test_a_thread_reply_is_indented_under_its_parent() -> None:
    parent = _message("1.000001", number=1)
    reply = _message("1.000002", thread_ts="1.000001", text="*2/3 back*\n• one")
    assert describe(Posted(reply, parent), me="U1", channels=CHANNELS) == (
        "\n  ↳ [thread of msg 1]\n      2/3 back\n      • one"
    )


def test_an_edit_says_message_updated() -> None:
    edited = _message("1.000001", number=1, text="done")
    assert describe(Updated(edited), me="U1", channels=CHANNELS) == (
        "#ops › msg 1 (message updated) done"
    )


def test_an_edited_thread_reply_names_the_parent_given() -> None:
    reply = _message("1.000002", thread_ts="1.000001", text="x")
    parent = _message("1.000001", number=4)
    assert describe(Updated(reply), me="U1", channels=CHANNELS, parent=parent) == (
        "  ↳ [thread of msg 4] (message updated) x"
    )


def test_ephemeral_replies_say_who_sees_them() -> None:
    mine = Ephemeral("C0OPS", "U1", ":no_entry: denied")
    theirs = Ephemeral("C0OPS", "U2", "hi")
    assert describe(mine, me="U1", channels=CHANNELS) == "#ops (only you see this) ⊘ denied"
    assert describe(theirs, me="U1", channels=CHANNELS) == "#ops (only @U2 sees this) hi"
    assert describe_ack(":mag: Checking", channel="C0OPS", channels=CHANNELS) == (
        "#ops (only you see this) » Checking"
    )


def test_a_message_with_the_bots_buttons_says_what_to_type() -> None:
    blocks = [
        {
            "type": "actions",
            "block_id": "reboot_actions",
            "elements": [
                {"type": "button", "action_id": "reboot_confirm", "text": _plain("Reboot 1")},
                {"type": "button", "action_id": "reboot_cancel", "text": _plain("Cancel")},
            ],
        }
    ]
    message = Message(channel="C0OPS", ts="1.1", text="", blocks=blocks, number=1)
    assert describe(Posted(message), me="U1", channels=CHANNELS).endswith(
        '\n    (type "click confirm" or "click cancel")'
    )


# --- the shared writer ------------------------------------------------------------------------


def test_held_events_print_after_the_ack() -> None:
    out = io.StringIO()
    transcript = Transcript(out)
    with transcript.holding():
        transcript.show("preview")
        transcript.say("ack")
    transcript.show("later")
    assert out.getvalue() == "ack\npreview\nlater\n"


def test_at_an_interactive_prompt_a_message_is_drawn_above_the_typing() -> None:
    out = io.StringIO()
    transcript = Transcript(out, interactive=True)
    transcript.typed = lambda: "/ecs-re"
    with transcript.prompting("U1 #ops> "):
        transcript.show("news")
    transcript.show("after")
    assert out.getvalue() == "\r\x1b[Knews\nU1 #ops> /ecs-re" + "after\n"

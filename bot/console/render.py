"""Slack messages as terminal text: mrkdwn and Block Kit rendered to plain lines.

Pure functions, no I/O: the terminal Slack calls them for every message it receives,
and the unit tests call them with plain dicts. Only the parts of Block Kit this bot
sends are drawn in detail (header, section text and fields, context, divider, buttons);
anything else is shown by its fallback text so nothing is dropped silently.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

RULE = "─" * 48

# Slack emoji codes the bot uses, as symbols a terminal shows in one cell. Codes not
# listed stay as ``:name:``, which still reads well.
EMOJI: Mapping[str, str] = {
    "white_check_mark": "✔",
    "heavy_check_mark": "✔",
    "x": "✘",
    "warning": "⚠",
    "no_entry": "⊘",
    "no_entry_sign": "⊘",
    "lock": "⚿",
    "large_green_circle": "●",
    "white_circle": "○",
    "grey_question": "?",
    "arrows_counterclockwise": "↻",
    "hourglass": "⧗",
    "alarm_clock": "⏱",
    "rotating_light": "(!)",
    "mag": "»",
    "double_vertical_bar": "‖",
    "arrow_forward": "▶",
    "octagonal_sign": "■",
    "information_source": "ℹ",
    # Scheduled reboots and windows (docs/PRODUCT.md §5.10).
    "calendar": "◷",
    "hourglass_flowing_sand": "⧗",
    "crescent_moon": "☾",
    "sunrise": "☀",
}

# `<…>` is how mrkdwn writes mentions, channels, dates and links.
_ANGLE = re.compile(r"<([^<>\n]+)>")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
# Bold, italic and strike markers around a run of text (not inside words, so ids
# such as web_01 keep their underscores).
_MARKERS = re.compile(r"(?<![\w*_~])([*_~])(?=\S)([^\n]*?\S)\1(?![\w*_~])")
_CODE = re.compile(r"`[^`\n]*`")
_SPAN = re.compile("\x00(\\d+)\x00")


def mrkdwn_to_text(text: str, channels: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn as it should read in a terminal.

    ``<@U1>`` → ``@U1``, ``<#C1>`` → ``#name`` (from ``channels``) or ``#C1``,
    ``<!date^…|fallback>`` → fallback, ``<url|text>`` → ``text (url)``, emoji codes →
    symbols, ``*bold*``/``_italic_``/``~strike~`` markers dropped, entities unescaped.
    Code spans keep their backticks and their content verbatim (bar the entities).
    """
    # Code spans are set aside first, so that nothing inside them is converted, while
    # bold markers around them (*Request `abc`*) still pair up.
    spans: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\x00{len(spans) - 1}\x00"

    plain = _plain(_CODE.sub(set_aside, text), channels or {})
    return _unescape(_SPAN.sub(lambda match: spans[int(match.group(1))], plain))


def _plain(text: str, channels: Mapping[str, str]) -> str:
    text = _ANGLE.sub(lambda match: _angle(match.group(1), channels), text)
    text = _EMOJI.sub(lambda match: EMOJI.get(match.group(1), match.group(0)), text)
    return _MARKERS.sub(lambda match: match.group(2), text)


def _angle(inner: str, channels: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return f"@{target[1:]}"
    if target.startswith("#"):
        channel = target[1:]
        return f"#{channels.get(channel) or label or channel}"
    if target.startswith("!subteam^"):
        return label or f"@{target.removeprefix('!subteam^')}"
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!"):
        return label or f"@{target[1:]}"
    return f"{label} ({target})" if label and label != target else target


def _unescape(text: str) -> str:
    # &amp; last, so that "&amp;lt;" (a literal "&lt;" that was escaped) stays "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def text_of(obj: Any, channels: Mapping[str, str] | None = None) -> str:
    """A Block Kit text object (``plain_text`` or ``mrkdwn``) as terminal text."""
    if not isinstance(obj, Mapping):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(text, channels)
    return _EMOJI.sub(lambda match: EMOJI.get(match.group(1), match.group(0)), text)


def button_text(button: Mapping[str, Any]) -> str:
    """``[ Reboot 3 ]``, with its style and the confirm dialog Slack would show first."""
    label = f"[ {text_of(button.get('text'))} ]"
    notes = []
    if button.get("style") in ("primary", "danger"):
        notes.append(str(button["style"]))
    dialog = button.get("confirm")
    if isinstance(dialog, Mapping):
        notes.append(f'asks "{text_of(dialog.get("title"))}" first')
    return f"{label} ({', '.join(notes)})" if notes else label


def _fields(fields: Sequence[Any], channels: Mapping[str, str]) -> list[str]:
    # A field is "*Label*\nvalue": shown as "Label: value", two a line as Slack does.
    cells = []
    for field in fields:
        label, _, value = text_of(field, channels).partition("\n")
        cells.append(f"{label}: {value.replace(chr(10), ' ')}" if value else label)
    width = max((len(cell) for cell in cells[::2]), default=0)
    lines = []
    for left in range(0, len(cells), 2):
        pair = cells[left : left + 2]
        lines.append(pair[0].ljust(width) + "   " + pair[1] if len(pair) == 2 else pair[0])
    return lines


def block_lines(block: Mapping[str, Any], channels: Mapping[str, str] | None = None) -> list[str]:
    """One block as terminal lines."""
    channels = channels or {}
    kind = block.get("type")
    if kind == "header":
        return [f"== {text_of(block.get('text'), channels)} =="]
    if kind == "divider":
        return [RULE]
    if kind == "section":
        lines = []
        if block.get("text"):
            lines.extend(text_of(block["text"], channels).splitlines())
        lines.extend(_fields(block.get("fields") or [], channels))
        return lines
    if kind == "context":
        joined = "  ".join(text_of(element, channels) for element in block.get("elements") or [])
        return joined.splitlines()
    if kind == "actions":
        buttons = [e for e in block.get("elements") or [] if e.get("type") == "button"]
        return ["  ".join(button_text(button) for button in buttons)] if buttons else []
    return [f"[{kind} block]"]


def message_lines(
    text: str, blocks: Sequence[Mapping[str, Any]], channels: Mapping[str, str] | None = None
) -> list[str]:
    """A whole message: its blocks when it has some, otherwise its text."""
    if not blocks:
        return mrkdwn_to_text(text, channels).splitlines() or [""]
    lines: list[str] = []
    for block in blocks:
        lines.extend(block_lines(block, channels))
    return lines


def wrap(lines: Sequence[str], width: int) -> list[str]:
    """Long lines folded at ``width``; a bullet's continuation lines align under its
    text. Words are never split, so ids and URLs stay whole for copy and paste."""
    folded: list[str] = []
    for line in lines:
        if len(line) <= width:
            folded.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        hang = lead + ("  " if line.lstrip().startswith(("• ", "- ")) else "")
        folded.extend(
            textwrap.wrap(
                line,
                width=width,
                subsequent_indent=hang,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [line]
        )
    return folded


def indent(lines: Sequence[str], prefix: str) -> str:
    """Lines joined, each behind ``prefix`` (trailing spaces trimmed, for tidy diffs)."""
    return "\n".join((prefix + line).rstrip() for line in lines)


__all__ = [
    "EMOJI",
    "RULE",
    "block_lines",
    "button_text",
    "indent",
    "message_lines",
    "mrkdwn_to_text",
    "text_of",
    "wrap",
]

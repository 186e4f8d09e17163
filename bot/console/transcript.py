"""The terminal side of the console: what a Slack event looks like as text, and one
writer that several threads share.

Messages arrive on the terminal Slack's threads while the person may be typing, so
every line goes through :class:`Transcript`, which serialises writes and, at an
interactive prompt, redraws the prompt and the half-typed line below the message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from bot.console.render import indent, message_lines, mrkdwn_to_text, wrap
from bot.slack.blocks import ACTION_CANCEL, ACTION_CONFIRM
from bot.testing.slack_api import Ephemeral, Event, Message, Posted, Updated, ViewShown

# What to type for each of the bot's buttons.
CLICK_WORDS: Mapping[str, str] = {ACTION_CONFIRM: "confirm", ACTION_CANCEL: "cancel"}


def _label(channel: str, channels: Mapping[str, str]) -> str:
    return f"#{channels.get(channel, channel)}"


def _click_hint(message: Message) -> list[str]:
    words = [CLICK_WORDS.get(str(b.get("action_id")), "") for _, b in message.buttons()]
    words = [word for word in words if word]
    if not words:
        return []
    return ["(type " + " or ".join(f'"click {word}"' for word in words) + ")"]


# Messages are folded to this many columns (a terminal of 100 or more shows them whole).
WIDTH = 100


def _block(head: str, lines: list[str], body_indent: str, width: int) -> str:
    # A short one-line message stays on its heading's line; others go below it.
    if len(lines) == 1 and len(head) + 1 + len(lines[0]) <= width:
        return f"{head} {lines[0]}".rstrip()
    return "\n" + head + "\n" + indent(wrap(lines, width - len(body_indent)), body_indent)


def describe(
    event: Event,
    *,
    me: str,
    channels: Mapping[str, str],
    parent: Message | None = None,
    width: int = WIDTH,
) -> str:
    """One Slack event as transcript text (pure; ``me`` is the user being played).

    ``parent`` is a thread's parent message when the event does not carry it (an edit
    of a thread reply); it names the thread ``msg N``.
    """
    if isinstance(event, Ephemeral):
        who = "only you see this" if event.user == me else f"only @{event.user} sees this"
        lines = message_lines(event.text, event.blocks, channels)
        return _block(f"{_label(event.channel, channels)} ({who})", lines, "    ", width)
    if isinstance(event, ViewShown):
        return _describe_view(event, channels, width)
    message = event.message
    lines = message_lines(message.text, message.blocks, channels) + _click_hint(message)
    where = _label(message.channel, channels)
    if message.thread_ts:
        if isinstance(event, Posted) and event.parent is not None:
            parent = event.parent
        of = f"msg {parent.number}" if parent and parent.number else message.thread_ts
        edited = " (message updated)" if isinstance(event, Updated) else ""
        return _block(f"  ↳ [thread of {of}]{edited}", lines, "      ", width)
    if isinstance(event, Updated):
        return _block(f"{where} › msg {message.number} (message updated)", lines, "    ", width)
    return _block(f"{where} › msg {message.number}", lines, "    ", width)


def _describe_view(event: ViewShown, channels: Mapping[str, str], width: int) -> str:
    """A modal as its fields (label: what it holds), App Home as its sections."""
    view = event.view
    if event.kind == "home":
        sections = message_lines("", list(view.get("blocks") or []), channels)
        return _block(f"App Home of @{event.user}", sections, "    ", width)
    title = view.get("title")
    heading = title.get("text", "") if isinstance(title, dict) else ""
    lines: list[str] = []
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            label = block.get("label", {}).get("text", "")
            element = block.get("element") or {}
            shown = element.get("initial_value") or ""
            optional = " (optional)" if block.get("optional") else ""
            lines.append(f"[{block.get('block_id')}] {label}{optional}: {shown}".rstrip())
        else:
            lines += message_lines("", [block], channels)
    return _block(f"Form: {heading}", lines, "    ", width)


def describe_ack(
    text: str, *, channel: str, channels: Mapping[str, str], width: int = WIDTH
) -> str:
    """The immediate answer to a command (Slack shows it only to the person)."""
    lines = mrkdwn_to_text(text, channels).splitlines() or [""]
    return _block(f"{_label(channel, channels)} (only you see this)", lines, "    ", width)


class Transcript:
    """Serialised output; holds Slack events back while a command is being acked so
    the ack is printed before what the command went on to do."""

    def __init__(self, out: TextIO, *, interactive: bool = False) -> None:
        self._out = out
        self._interactive = interactive
        self._lock = threading.RLock()
        self._held: list[str] | None = None
        self._prompt: str | None = None
        # Reads the half-typed line (readline's buffer) to redraw it after a message.
        self.typed: Callable[[], str] = lambda: ""

    def say(self, text: str) -> None:
        """A line (or several) of the console's own, printed now."""
        with self._lock:
            self._write(text)

    def show(self, text: str) -> None:
        """Something Slack shows, printed now or after the current ack."""
        with self._lock:
            if self._held is not None:
                self._held.append(text)
            else:
                self._write(text)

    @contextmanager
    def holding(self) -> Iterator[None]:
        with self._lock:
            self._held = []
        try:
            yield
        finally:
            with self._lock:
                held, self._held = self._held or [], None
                for text in held:
                    self._write(text)

    @contextmanager
    def prompting(self, prompt: str) -> Iterator[None]:
        """While the person types at ``prompt``: messages are drawn above it."""
        with self._lock:
            self._prompt = prompt
        try:
            yield
        finally:
            with self._lock:
                self._prompt = None

    def _write(self, text: str) -> None:
        if self._interactive and self._prompt is not None:
            # Clear the prompt line, print, then draw the prompt and the typing again.
            self._out.write("\r\x1b[K" + text + "\n" + self._prompt + self.typed())
        else:
            self._out.write(text + "\n")
        self._out.flush()


__all__ = ["CLICK_WORDS", "Transcript", "describe", "describe_ack"]

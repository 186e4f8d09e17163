"""``--reason TEXT``: a quoted text (straight or curly quotes) or one word (docs/PRODUCT.md §4).

Cut out of the raw text before it is split into words, since a quoted reason holds the
spaces and commas the word splitter breaks on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.domain.parser.options import REASON
from bot.domain.parser.words import is_option

MAX_REASON_CHARS = 500

# The flag (or `—reason`, as chat clients retype it) where a word starts.
_REASON_FLAG = re.compile(
    rf"(?<!\S)(?:--|[—–]){re.escape(REASON.name[2:])}(?=[=\s]|$)", re.IGNORECASE
)
_REASON_NAME = REASON.name[2:].casefold()
# Openers and the closers each accepts: people mix straight and curly quotes.
_QUOTE_CLOSERS = {'"': '"“”', "“": '"“”', "”": '"“”', "'": "'‘’", "‘": "'‘’", "’": "'‘’"}


@dataclass
class ReasonReading:
    text: str | None = None
    given: bool = False
    problems: list[str] = field(default_factory=list)


def take_reason(text: str) -> tuple[str, ReasonReading]:
    """Cut every ``--reason TEXT`` out of ``text``. Returns the rest, with the same
    line breaks, and what was found."""
    reason = ReasonReading()
    # The flag's regex scans the whole text (fifty ids: a tenth of a command's parse);
    # a text whose case-folded form lacks the name cannot match it, so most skip it.
    if _REASON_NAME not in text.casefold():
        return text, reason
    while (match := _REASON_FLAG.search(text)) is not None:
        start, position = match.start(), match.end()
        if position < len(text) and text[position] == "=":
            position += 1
        else:
            while position < len(text) and text[position] in " \t":
                position += 1
        value, end = _reason_value(text, position, reason.problems)
        if reason.given and value is not None and value != reason.text:
            reason.problems.append("`--reason` is given twice; give one reason.")
        reason.given = True
        if value is not None and reason.text is None:
            reason.text = value
        removed = text[start:end]
        text = text[:start] + " " + "\n" * removed.count("\n") + text[end:]
    if reason.text is not None and len(reason.text) > MAX_REASON_CHARS:
        reason.problems.append(
            f"The reason is {len(reason.text)} characters long; at most {MAX_REASON_CHARS}."
        )
    return text, reason


def _reason_value(text: str, position: int, problems: list[str]) -> tuple[str | None, int]:
    """The reason at ``position`` and where it ends, or None (with the problem said)."""
    opener = text[position] if position < len(text) else ""
    if opener in _QUOTE_CLOSERS:
        closers = _QUOTE_CLOSERS[opener]
        # A closer ends the reason only where a word ends, so the apostrophe of
        # `'it's late'` stays inside it.
        end = next(
            (
                at
                for at in range(position + 1, len(text))
                if text[at] in closers and (at + 1 == len(text) or text[at + 1].isspace())
            ),
            None,
        )
        if end is None:
            problems.append(
                f"The reason after `--reason` opens a quote ({opener}) that is never "
                'closed; close it, e.g. `--reason "disk full"`.'
            )
            line_end = text.find("\n", position)
            return None, len(text) if line_end < 0 else line_end
        value = " ".join(text[position + 1 : end].split())
        if not value:
            problems.append('`--reason` is empty: write why, e.g. `--reason "disk full"`.')
            return None, end + 1
        return value, end + 1
    word = re.match(r"[^\s]+", text[position:]) if opener and not opener.isspace() else None
    if word is None or is_option(word.group()):
        problems.append(
            '`--reason` needs a text: one word or a quoted one, e.g. `--reason "disk full"`.'
        )
        return None, position
    return word.group(), position + word.end()

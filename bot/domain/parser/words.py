"""Splitting text into words, and the shapes a word can have (an option, an id, a region).

Shared by every part of the parser. A word remembers its line, because a line that
holds a valid id is a console line whose other columns are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from typing import NamedTuple

from bot.domain.selectors import is_selector_word

INSTANCE_ID_PATTERN = re.compile(r"i-[a-z0-9]{8,30}")
# cn-hangzhou, us-west-1, ap-southeast-1, cn-beijing-finance-1, cn-north-2-gov-1. Each
# part after the first is a word or a number, so a zone (cn-hangzhou-h, us-west-1a),
# which console lines are full of, is not mistaken for a region.
REGION_ID_PATTERN = re.compile(r"[a-z]{2}(?:-(?:[a-z]{2,}|[0-9]+))+")
ID_RULE = "`i-` followed by 8 to 30 lowercase letters and digits"
SELECTOR_RULE = "`tag:KEY=VALUE` or `name:PATTERN` (`*` matches any run of characters)"
REGION_EXAMPLES = "like `cn-hangzhou` or `us-west-1`"

# A Slack-escaped `<…>` (mention, link) is one word even with spaces in its label.
# Other words end at spaces, commas, semicolons, and at the brackets and quotes that
# console exports and chat put around ids: `web-01 (i-…)`, `"i-…"`, `[i-…]`.
_WORD = re.compile(r"<[^<>]*>|[^\s,;()\[\]{}<>\"'`“”‘’]+")
# Chat clients turn a typed `--force` into `—force`; read it as the user meant it.
_SMART_DASHES = re.compile(r"^[—–]+(?=[A-Za-z])")
_OPTION = re.compile(r"--?[A-Za-z]")
# What an option (or a smart-dashed one) starts with; any other word is taken as is.
_DASHES = frozenset("-—–")
# An attempt at an instance id, with the region prefix if any. The prefix ends at the
# last `/` or `:` before `i-`, so an ARN's `…:instance/i-…` is read as a bad region.
ID_ATTEMPT = re.compile(r"(?:(?P<region>.+)[/:])?(?P<id>i-.*)", re.DOTALL)


class Word(NamedTuple):
    # A tuple, not a frozen dataclass: a command makes one per id before its ack, and a
    # tuple costs a third as much to make.
    text: str
    line: int


def split_words(text: str, *, list_options: Collection[str]) -> list[Word]:
    """The words of ``text``, line by line. ``list_options`` are the options whose value
    is a comma list (``--region a,b``): commas split words everywhere else, so such a
    value is put back together into one word."""
    words: list[Word] = []
    for number, line in enumerate(text.splitlines()):
        matches = list(_WORD.finditer(line))
        position = 0
        while position < len(matches):
            word = matches[position].group()
            position += 1
            if word[0] not in _DASHES:
                # Neither an option nor a list option's name: the usual word (an id).
                words.append(Word(word, number))
                continue
            word = _SMART_DASHES.sub("--", word)
            end = matches[position - 1].end()
            glue = _list_start(word, matches, position, list_options)
            if glue is not None:
                # The list is put back together gaps and all (`a,,b` must stay visible
                # as a flaw).
                if glue == position:
                    words.append(Word(word, number))
                    word, end = matches[position].group(), matches[position].end()
                    position += 1
                while position < len(matches) and _glued(line, end, matches[position]):
                    word += line[end : matches[position].start()] + matches[position].group()
                    end = matches[position].end()
                    position += 1
            words.append(Word(word, number))
    return words


def _list_start(
    word: str, matches: list[re.Match[str]], position: int, list_options: Collection[str]
) -> int | None:
    """Where the value of a list option starts: ``position - 1`` for ``--region=a``,
    ``position`` for ``--region a``; None for any other word."""
    name = word.partition("=")[0].lower()
    if name not in list_options:
        return None
    if "=" in word:
        return position - 1
    if position < len(matches) and is_list_item(matches[position].group()):
        return position
    return None


def _glued(line: str, end: int, following: re.Match[str]) -> bool:
    """True when only commas (no space) stand between a list and ``following``, and
    ``following`` may be an item of it: `a,b` is one list, `a, i-…` a list and an id."""
    gap = line[end : following.start()]
    return bool(gap) and set(gap) == {","} and is_list_item(following.group())


def is_list_item(text: str) -> bool:
    """True when ``text`` may be an item of a list option's value: a target (an id or
    a selector) or an option never is, so `--region i-…` keeps the id a target."""
    return not (is_option(text) or ID_ATTEMPT.fullmatch(text) or is_selector_word(text))


def by_line(words: Iterable[Word]) -> list[list[Word]]:
    lines: dict[int, list[Word]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    return list(lines.values())


def is_option(text: str) -> bool:
    return _OPTION.match(text) is not None


def is_valid_id_word(text: str) -> bool:
    """True when ``text`` holds a well-formed id (its region prefix, if any, may
    still be wrong): such a word makes its line a console line."""
    if is_selector_word(text):
        return False
    match = ID_ATTEMPT.fullmatch(text)
    return match is not None and INSTANCE_ID_PATTERN.fullmatch(match["id"]) is not None


def quote(text: str) -> str:
    """A token as a code span (how user text is shown safely in mrkdwn), shortened so
    a pasted novel does not flood the reply."""
    shown = text if len(text) <= 60 else text[:57] + "…"
    return f"`{shown}`" if "`" not in shown else f'"{shown}"'


def quote_list(texts: Sequence[str], *, most: int = 5) -> str:
    quoted = [quote(text) for text in texts[:most]]
    if len(texts) > most:
        return ", ".join(quoted) + f" and {len(texts) - most} more"
    if len(quoted) > 1:
        return ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return quoted[0]

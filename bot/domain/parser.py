"""What people type after ``/ecs-reboot``, read into commands (docs/PRODUCT.md §4).

Pure: text in, frozen values out; no I/O and no framework. Nothing here raises on bad
input: every problem becomes a sentence for the person who typed it, all of them at
once, because a chat user fixes a whole paste in one go rather than one token a time.

Two entry points:

* ``parse_command`` reads the whole slash-command text into a ``Command``.
* ``parse_instances`` reads just an INSTANCES list (pasted ids, console lines).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from bot.domain.model import InstanceRef, Role
from bot.domain.rollout import RolloutFlags, parse_size
from bot.domain.selectors import Selector, is_selector_word, read_selector

INSTANCE_ID_PATTERN = re.compile(r"i-[a-z0-9]{8,30}")
# cn-hangzhou, us-west-1, ap-southeast-1, cn-beijing-finance-1, cn-north-2-gov-1. Each
# part after the first is a word or a number, so a zone (cn-hangzhou-h, us-west-1a),
# which console lines are full of, is not mistaken for a region.
REGION_ID_PATTERN = re.compile(r"[a-z]{2}(?:-(?:[a-z]{2,}|[0-9]+))+")

REBOOT_USAGE = (
    '`/ecs-reboot [--region REGION[,REGION…]] [--force] [--reason "TEXT"] [ROLLOUT…] TARGETS…`'
)
REBOOT_EXAMPLE = (
    "`/ecs-reboot --region cn-hangzhou i-bp1abc23def45ghi67jk0, i-bp1xyz98wvu76tsr54qp0`"
)
ID_RULE = "`i-` followed by 8 to 30 lowercase letters and digits"
SELECTOR_RULE = "`tag:KEY=VALUE` or `name:PATTERN` (`*` matches any run of characters)"
_REGION_EXAMPLES = "like `cn-hangzhou` or `us-west-1`"


# ── results ───────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ParseProblem:
    """One thing wrong with the text: a sentence for people, and the token it is about
    (empty when it is about the text as a whole)."""

    message: str
    token: str = ""


@dataclass(frozen=True)
class InstanceListParse:
    """The instances a text names, in first-seen order and without duplicates.

    ``duplicates`` holds each dropped repeat (so the preview can say so); ``errors``
    every problem found. Nothing may be previewed while ``errors`` is not empty.
    """

    instances: tuple[InstanceRef, ...]
    duplicates: tuple[InstanceRef, ...] = ()
    errors: tuple[ParseProblem, ...] = ()
    # The selectors met (``tag:…``, ``name:…``), in first-seen order, without repeats.
    selectors: tuple[Selector, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class HelpCommand:
    """``help``, ``-h``, ``--help`` or an empty command."""


@dataclass(frozen=True)
class StatusCommand:
    request_id: str


@dataclass(frozen=True)
class RolesCommand:
    """List the role bindings."""


@dataclass(frozen=True)
class RoleBindingCommand:
    """A change to one binding (docs/PRODUCT.md §6). ``subject`` is a bare Slack id (``U…``,
    ``W…`` or ``S…``); ``region`` and the tag are None when the binding is unscoped."""

    subject: str
    role: Role
    region: str | None = None
    tag_key: str | None = None
    tag_value: str | None = None


@dataclass(frozen=True)
class GrantCommand(RoleBindingCommand):
    pass


@dataclass(frozen=True)
class RevokeCommand(RoleBindingCommand):
    pass


@dataclass(frozen=True)
class RebootCommand:
    """Reboot ``instances`` (each with its region resolved), plus whatever ``selectors``
    match in ``search_regions``. ``region`` is the ``--region`` given when it names one
    region (None without one or with a list); ``regions`` the whole ``--region`` list;
    ``duplicates`` are the dropped repeats. ``search_regions`` is empty without
    selectors, else the ``--region`` list or the default region."""

    instances: tuple[InstanceRef, ...]
    force: bool = False
    region: str | None = None
    duplicates: tuple[InstanceRef, ...] = ()
    rollout: RolloutFlags = field(default_factory=RolloutFlags)
    reason: str | None = None  # ``--reason``, without its quotes
    selectors: tuple[Selector, ...] = ()
    regions: tuple[str, ...] = ()
    search_regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandError:
    """The text could not be read: every problem, each a sentence quoting its token."""

    problems: tuple[str, ...]


Command: TypeAlias = (
    HelpCommand
    | StatusCommand
    | RolesCommand
    | GrantCommand
    | RevokeCommand
    | RebootCommand
    | CommandError
)


# ── words ─────────────────────────────────────────────────────────────────────────

# A Slack-escaped `<…>` (mention, link) is one word even with spaces in its label.
# Other words end at spaces, commas, semicolons, and at the brackets and quotes that
# console exports and chat put around ids: `web-01 (i-…)`, `"i-…"`, `[i-…]`.
_WORD = re.compile(r"<[^<>]*>|[^\s,;()\[\]{}<>\"'`“”‘’]+")
# Chat clients turn a typed `--force` into `—force`; read it as the user meant it.
_SMART_DASHES = re.compile(r"^[—–]+(?=[A-Za-z])")
_OPTION = re.compile(r"--?[A-Za-z]")
# An attempt at an instance id, with the region prefix if any. The prefix ends at the
# last `/` or `:` before `i-`, so an ARN's `…:instance/i-…` is read as a bad region.
_ID_ATTEMPT = re.compile(r"(?:(?P<region>.+)[/:])?(?P<id>i-.*)", re.DOTALL)


@dataclass(frozen=True)
class _Word:
    text: str
    line: int


def _split_words(text: str) -> list[_Word]:
    words: list[_Word] = []
    for number, line in enumerate(text.splitlines()):
        matches = list(_WORD.finditer(line))
        position = 0
        while position < len(matches):
            word = _SMART_DASHES.sub("--", matches[position].group())
            end = matches[position].end()
            position += 1
            glue = _region_list_start(word, matches, position)
            if glue is not None:
                # `--region a,b`: commas split words everywhere else, so the list is put
                # back together here, gaps and all (`a,,b` must stay visible as a flaw).
                if glue == position:
                    words.append(_Word(word, number))
                    word, end = matches[position].group(), matches[position].end()
                    position += 1
                while position < len(matches) and _glued(line, end, matches[position]):
                    word += line[end : matches[position].start()] + matches[position].group()
                    end = matches[position].end()
                    position += 1
            words.append(_Word(word, number))
    return words


def _region_list_start(word: str, matches: list[re.Match[str]], position: int) -> int | None:
    """Where the value of a ``--region`` flag starts: ``position - 1`` for
    ``--region=a``, ``position`` for ``--region a``; None for any other word."""
    name = word.partition("=")[0].lower()
    if name != "--region":
        return None
    if "=" in word:
        return position - 1
    if position < len(matches) and _list_item(matches[position].group()):
        return position
    return None


def _glued(line: str, end: int, following: re.Match[str]) -> bool:
    """True when only commas (no space) stand between a region list and ``following``,
    and ``following`` may be a region: `a,b` is one list, `a, i-…` a list and an id."""
    gap = line[end : following.start()]
    return bool(gap) and set(gap) == {","} and _list_item(following.group())


def _list_item(text: str) -> bool:
    return not (_is_option(text) or _ID_ATTEMPT.fullmatch(text) or is_selector_word(text))


def _by_line(words: Iterable[_Word]) -> list[list[_Word]]:
    lines: dict[int, list[_Word]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    return list(lines.values())


def _is_option(text: str) -> bool:
    return _OPTION.match(text) is not None


def _quote(text: str) -> str:
    """A token as a code span (how user text is shown safely in mrkdwn), shortened so
    a pasted novel does not flood the reply."""
    shown = text if len(text) <= 60 else text[:57] + "…"
    return f"`{shown}`" if "`" not in shown else f'"{shown}"'


def _quote_list(texts: Sequence[str], *, most: int = 5) -> str:
    quoted = [_quote(text) for text in texts[:most]]
    if len(texts) > most:
        return ", ".join(quoted) + f" and {len(texts) - most} more"
    if len(quoted) > 1:
        return ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return quoted[0]


# ── instances ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _NamedId:
    """A valid id as written, with its region prefix when it had one."""

    instance_id: str
    region: str | None


@dataclass
class _LineReading:
    ids: list[_NamedId] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    attempts: int = 0  # tokens that tried to be ids or selectors, valid or not
    selectors: dict[Selector, None] = field(default_factory=dict)


def parse_instances(
    text: str, *, default_region: str | None, max_instances: int
) -> InstanceListParse:
    """Read an INSTANCES list as people paste it (docs/PRODUCT.md §4): ids with optional
    ``REGION/`` or ``REGION:`` prefixes, or whole ECS console lines.

    Use ``parse_command`` for the slash-command text; this is for text that holds
    instances only, so an option here is an error.
    """
    words = _split_words(text)
    option_problems = [
        ParseProblem(f"Unexpected option {_quote(word.text)} in an instance list.", word.text)
        for word in words
        if _is_option(word.text)
    ]
    parsed = _read_instances(
        _by_line(word for word in words if not _is_option(word.text)),
        region=default_region,
        max_instances=max_instances,
    )
    selector_problems = [
        ParseProblem(f"A selector ({_quote(str(selector))}) cannot stand in an instance list.")
        for selector in parsed.selectors
    ]
    return InstanceListParse(
        parsed.instances,
        parsed.duplicates,
        tuple(option_problems) + parsed.errors + tuple(selector_problems),
    )


def _read_instances(
    lines: list[list[_Word]],
    *,
    region: str | None,
    max_instances: int,
    several_regions: Sequence[str] = (),
) -> InstanceListParse:
    """The core of ``parse_instances``: words already freed of options, by line.

    ``region`` is the region of ids written without one. ``several_regions`` is a
    ``--region`` list of more than one region: then an id without its own region is an
    error, since guessing one of the listed regions could reboot the wrong instance.
    """
    reading = _LineReading()
    for line in lines:
        _read_line(line, reading)

    # dicts keep first-seen order and make the duplicate check O(1).
    instances: dict[InstanceRef, None] = {}
    duplicates: list[InstanceRef] = []
    no_region: dict[str, None] = {}
    for named in reading.ids:
        ref_region = named.region or (None if several_regions else region)
        if ref_region is None:
            no_region[named.instance_id] = None
            continue
        ref = InstanceRef(ref_region, named.instance_id)
        if ref in instances:
            duplicates.append(ref)
        instances[ref] = None

    problems = reading.problems
    if no_region and several_regions:
        problems.append(_several_regions_problem(list(no_region), several_regions))
    elif no_region:
        problems.append(_no_region_problem(list(no_region)))
    count = len(instances) + len(no_region)
    if count > max_instances:
        problems.append(
            ParseProblem(
                f"Too many instances: {count} given, the limit is {max_instances} "
                "per request (ECSBOT_MAX_INSTANCES). Split the list."
            )
        )
    if reading.attempts == 0:
        problems.append(
            ParseProblem(
                f"No instance ids or selectors given. Usage: {REBOOT_USAGE}, "
                f"for example {REBOOT_EXAMPLE}. "
                "Type `/ecs-reboot help` for more."
            )
        )
    return InstanceListParse(
        tuple(instances), tuple(duplicates), tuple(problems), tuple(reading.selectors)
    )


def _read_line(line: list[_Word], reading: _LineReading) -> None:
    """Read one line. A line that holds a valid id is a console line: its other
    columns (names, statuses, IPs, zones) are ignored, but a ``tag:``/``name:`` word is
    a selector there too. Bad ids, bad region prefixes and malformed selectors are
    errors wherever they stand."""
    console_line = any(_is_valid_id_word(word.text) for word in line)
    for word in line:
        if is_selector_word(word.text):
            _read_selector_word(word.text, reading)
            continue
        match = _ID_ATTEMPT.fullmatch(word.text)
        if match is None:
            if not console_line:
                reading.problems.append(_not_an_id_problem(word.text))
            continue
        reading.attempts += 1
        instance_id, region = match["id"], match["region"]
        if not INSTANCE_ID_PATTERN.fullmatch(instance_id):
            reading.problems.append(
                ParseProblem(
                    f"{_quote(word.text)} is not a valid instance id: an id is {ID_RULE}.",
                    word.text,
                )
            )
        elif region is not None and not REGION_ID_PATTERN.fullmatch(region):
            reading.problems.append(
                ParseProblem(
                    f"{_quote(region)} in {_quote(word.text)} is not a region id "
                    f"({_REGION_EXAMPLES}).",
                    word.text,
                )
            )
        else:
            reading.ids.append(_NamedId(instance_id, region))


def _read_selector_word(text: str, reading: _LineReading) -> None:
    reading.attempts += 1
    selector = read_selector(text)
    if isinstance(selector, str):
        reading.problems.append(
            ParseProblem(f"{_quote(text)} is not a valid selector: {selector}", text)
        )
    else:
        reading.selectors[selector] = None


def _is_valid_id_word(text: str) -> bool:
    """True when ``text`` holds a well-formed id (its region prefix, if any, may
    still be wrong): such a word makes its line a console line."""
    if is_selector_word(text):
        return False
    match = _ID_ATTEMPT.fullmatch(text)
    return match is not None and INSTANCE_ID_PATTERN.fullmatch(match["id"]) is not None


def _not_an_id_problem(text: str) -> ParseProblem:
    return ParseProblem(
        f"{_quote(text)} is neither an option nor an instance id ({ID_RULE}) or "
        "selector (`tag:K=V`, `name:P`).",
        text,
    )


def _several_regions_problem(instance_ids: Sequence[str], regions: Sequence[str]) -> ParseProblem:
    return ParseProblem(
        f"No region for {_quote_list(instance_ids)}: `--region` lists several regions "
        f"({', '.join(regions)}), so write `REGION/i-…` for each id.",
        instance_ids[0],
    )


def _no_region_problem(instance_ids: Sequence[str]) -> ParseProblem:
    return ParseProblem(
        f"No region for {_quote_list(instance_ids)}: add `--region REGION` "
        "(or write `REGION/i-…`), or set ECSBOT_DEFAULT_REGION.",
        instance_ids[0],
    )


# ── options ───────────────────────────────────────────────────────────────────────

_SWITCHES = ("--force", "--help", "-h")
_VALUED = ("--region", "--tag")
# The ROLLOUT flags (docs/PRODUCT.md §5.8), read into ``_Options.rollout``.
_ROLLOUT_SWITCHES = ("--pause-after-canary", "--all-at-once")
_ROLLOUT_VALUED = ("--batch", "--canary", "--max-errors")
_ROLLOUT_OPTIONS = _ROLLOUT_VALUED + _ROLLOUT_SWITCHES
_ALL_OPTIONS = (*_SWITCHES, *_VALUED, *_ROLLOUT_OPTIONS, "--reason")


@dataclass
class _Options:
    force: bool = False
    help: bool = False
    regions: tuple[str, ...] | None = None
    tag: tuple[str, str] | None = None
    rollout: RolloutFlags = field(default_factory=RolloutFlags)
    given: list[str] = field(default_factory=list)  # names, to check per subcommand
    problems: list[str] = field(default_factory=list)


def _read_options(words: list[_Word]) -> tuple[_Options, list[_Word]]:
    """Take the options out of ``words`` (they may stand anywhere); return them and
    the remaining operands in order."""
    options = _Options()
    operands: list[_Word] = []
    position = 0
    while position < len(words):
        word = words[position]
        position += 1
        if not _is_option(word.text):
            operands.append(word)
            continue
        name, equals, value = word.text.partition("=")
        name = name.lower()
        if name in _SWITCHES:
            _set_switch(options, name, has_value=bool(equals))
        elif name in _ROLLOUT_SWITCHES or name in _ROLLOUT_VALUED:
            if (
                name in _ROLLOUT_VALUED
                and not equals
                and position < len(words)
                and _can_be_value(name, words[position])
            ):
                value = words[position].text
                position += 1
            _set_rollout(options, name, value, has_value=bool(equals) or bool(value))
        elif name in _VALUED:
            if not equals and position < len(words) and _can_be_value(name, words[position]):
                value = words[position].text
                position += 1
            _set_value(options, name, value)
        else:
            options.problems.append(_unknown_option_problem(word.text))
    return options, operands


def _can_be_value(name: str, word: _Word) -> bool:
    # `--region i-…` (or `--region tag:…`) forgot the region: keep the target as one.
    if name == "--region" and (_ID_ATTEMPT.fullmatch(word.text) or is_selector_word(word.text)):
        return False
    return not _is_option(word.text)


def _set_switch(options: _Options, name: str, *, has_value: bool) -> None:
    if has_value:
        options.problems.append(f"{_quote(name)} takes no value.")
    options.given.append(name)
    if name == "--force":
        options.force = True
    else:
        options.help = True


def _set_value(options: _Options, name: str, value: str) -> None:
    options.given.append(name)
    if not value:
        example = "cn-hangzhou" if name == "--region" else "env=prod"
        options.problems.append(f"{_quote(name)} needs a value, e.g. `{name} {example}`.")
    elif name == "--region":
        _set_region(options, value)
    else:
        _set_tag(options, value)


def _set_region(options: _Options, value: str) -> None:
    """``--region REGION[,REGION…]``: every flaw of the list is reported."""
    items = value.split(",")
    if value.endswith(",") and len(items) > 1:
        items.pop()  # `--region a,` before a line break: the comma only separates
    regions = tuple(dict.fromkeys(items))
    if "" in regions:
        options.problems.append(
            f"{_quote(value)} has an empty region in its list: write "
            "`--region cn-hangzhou,cn-shanghai` (commas, no spaces)."
        )
    for region in regions:
        if region and not REGION_ID_PATTERN.fullmatch(region):
            options.problems.append(f"{_quote(region)} is not a region id ({_REGION_EXAMPLES}).")
    regions = tuple(region for region in regions if region)
    if options.regions is not None and options.regions != regions:
        options.problems.append(
            f"`--region` is given twice with different values: "
            f"{_quote(','.join(options.regions))} and {_quote(value)}."
        )
        return
    # Kept even when malformed: the error above already blocks the command, and a
    # fallback region would only add noise about ids "without a region".
    options.regions = regions


def _set_tag(options: _Options, text: str) -> None:
    key, equals, value = text.partition("=")
    if not equals or not key:
        options.problems.append(f"{_quote(text)} is not a tag: write `--tag KEY=VALUE`.")
        return
    if options.tag is not None and options.tag != (key, value):
        options.problems.append(
            f"`--tag` is given twice with different values: "
            f"{_quote('='.join(options.tag))} and {_quote(text)}."
        )
        return
    options.tag = (key, value)


_ROLLOUT_RULES = {
    "--batch": "a count of at least 1 or a percentage from 1% to 100%, e.g. `--batch 25%`",
    "--canary": "a count of 0 or more, e.g. `--canary 1`",
    "--max-errors": "a count of 0 or more or a percentage, e.g. `--max-errors 2`",
}


def _set_rollout(options: _Options, name: str, value: str, *, has_value: bool) -> None:
    options.given.append(name)
    rollout = options.rollout
    if name in _ROLLOUT_SWITCHES:
        if has_value:
            options.problems.append(f"{_quote(name)} takes no value.")
        if name == "--all-at-once":
            options.rollout = dataclasses.replace(rollout, all_at_once=True)
        else:
            options.rollout = dataclasses.replace(rollout, pause_after_canary=True)
        return
    size = parse_size(value, least=1 if name == "--batch" else 0) if value else None
    if size is None or (name == "--canary" and size.percent):
        shown = f"{_quote(value)} is not" if value else "needs"
        options.problems.append(f"{_quote(name)} {shown} {_ROLLOUT_RULES[name]}.")
        return
    if name == "--batch":
        options.rollout = dataclasses.replace(rollout, batch=size)
    elif name == "--canary":
        options.rollout = dataclasses.replace(rollout, canary=size.value)
    else:
        options.rollout = dataclasses.replace(rollout, max_errors=size)


def _rollout_conflicts(flags: RolloutFlags) -> list[str]:
    if flags.all_at_once and flags.asks_for_waves:
        return [
            "`--all-at-once` reboots everything as one wave: it cannot be combined with "
            "`--batch`, `--canary`, `--max-errors` or `--pause-after-canary`."
        ]
    return []


def _unknown_option_problem(text: str) -> str:
    name = text.partition("=")[0].lower()
    close = difflib.get_close_matches(name, _ALL_OPTIONS, n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return (
        f"Unknown option {_quote(text)}.{hint} Options: `--region`, `--force`, `--tag`, "
        "`--batch`, `--canary`, `--max-errors`, `--pause-after-canary`, `--all-at-once`."
    )


def _reject_options(keyword: str, options: _Options, allowed: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(name for name in options.given if name not in allowed))
    return [f"{_quote(name)} does not apply to `{keyword}`." for name in names]


# ── the reason ────────────────────────────────────────────────────────────────────

# `--reason` (or `—reason`, as chat clients retype it) where a word starts.
_REASON_FLAG = re.compile(r"(?<!\S)(?:--|[—–])reason(?=[=\s]|$)", re.IGNORECASE)
# Openers and the closers each accepts: people mix straight and curly quotes.
_QUOTE_CLOSERS = {'"': '"“”', "“": '"“”', "”": '"“”', "'": "'‘’", "‘": "'‘’", "’": "'‘’"}
MAX_REASON_CHARS = 500


@dataclass
class _Reason:
    text: str | None = None
    given: bool = False
    problems: list[str] = field(default_factory=list)


def _take_reason(text: str) -> tuple[str, _Reason]:
    """Cut every ``--reason TEXT`` out of ``text`` before it is split into words (a
    quoted reason holds spaces and commas the word splitter would break on). Returns
    the rest, with the same line breaks, and what was found."""
    reason = _Reason()
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
    if word is None or _is_option(word.group()):
        problems.append(
            '`--reason` needs a text: one word or a quoted one, e.g. `--reason "disk full"`.'
        )
        return None, position
    return word.group(), position + word.end()


# ── commands ──────────────────────────────────────────────────────────────────────

_KEYWORDS = ("help", "status", "roles", "grant", "revoke")
_USER_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>")
_GROUP_MENTION = re.compile(r"<!subteam\^(?P<id>S[A-Z0-9]+)(?:\|[^>]*)?>")
_BARE_SUBJECT = re.compile(r"[UWS][A-Z0-9]{2,}")


def parse_command(
    text: str,
    *,
    default_region: str | None,
    max_instances: int,
    require_reason: bool = False,
) -> Command:
    """Read the text of an ``/ecs-reboot`` slash command (docs/PRODUCT.md §4).

    Returns one command, or a ``CommandError`` that lists every problem at once.
    ``default_region`` is ``ECSBOT_DEFAULT_REGION``, ``max_instances`` is
    ``ECSBOT_MAX_INSTANCES`` and ``require_reason`` is ``ECSBOT_REQUIRE_REASON``.
    """
    text, reason = _take_reason(text)
    words = _split_words(text)
    options, operands = _read_options(words)
    if reason.given:
        options.given.append("--reason")
    if (not words and not reason.given) or options.help:
        return HelpCommand()
    keyword = operands[0].text.lower() if operands else ""
    arguments = [word.text for word in operands[1:]]
    problems = list(options.problems) + reason.problems
    command: Command
    if keyword in ("help", "roles"):
        problems += _reject_options(keyword, options, ())
        problems += _reject_arguments(keyword, arguments)
        command = HelpCommand() if keyword == "help" else RolesCommand()
    elif keyword == "status":
        problems += _reject_options(keyword, options, ())
        command = _status_command(arguments, problems)
    elif keyword in ("grant", "revoke"):
        problems += _reject_options(keyword, options, ("--region", "--tag"))
        command = _binding_command(keyword, arguments, options, problems)
    else:
        problems += _reject_options(
            "reboot", options, ("--region", "--force", "--reason", *_ROLLOUT_OPTIONS)
        )
        problems += _rollout_conflicts(options.rollout)
        command = _reboot_command(
            operands, options, problems, default_region=default_region, max_instances=max_instances
        )
        if reason.text is not None:
            command = dataclasses.replace(command, reason=reason.text)
        elif require_reason and not reason.problems:
            problems.append(
                'A reason is required here: add `--reason "why"` (one word needs no quotes).'
            )
    return CommandError(tuple(problems)) if problems else command


def _reject_arguments(keyword: str, arguments: Sequence[str]) -> list[str]:
    if not arguments:
        return []
    return [f"`{keyword}` takes no arguments; remove {_quote_list(arguments)}."]


def _status_command(arguments: list[str], problems: list[str]) -> StatusCommand:
    if not arguments:
        problems.append("`status` needs a request id: `/ecs-reboot status REQUEST_ID`.")
        return StatusCommand("")
    problems += _reject_arguments("status REQUEST_ID", arguments[1:])
    return StatusCommand(arguments[0])


def _binding_command(
    keyword: str, arguments: list[str], options: _Options, problems: list[str]
) -> GrantCommand | RevokeCommand:
    usage = f"`/ecs-reboot {keyword} @user|@group ROLE [--region R] [--tag K=V]`"
    if len(arguments) < 2:
        problems.append(f"`{keyword}` needs a user or group and a role: {usage}.")
    subject = _read_subject(arguments[0], problems) if arguments else ""
    role = _read_role(arguments[1], problems) if len(arguments) > 1 else Role.VIEWER
    problems += _reject_arguments(f"{keyword} SUBJECT ROLE", arguments[2:])
    tag_key, tag_value = options.tag if options.tag else (None, None)
    regions = options.regions or ()
    if len(regions) > 1:
        problems.append(f"`{keyword}` takes one `--region`, not a list.")
    region = regions[0] if regions else None
    if keyword == "grant":
        return GrantCommand(subject, role, region, tag_key, tag_value)
    return RevokeCommand(subject, role, region, tag_key, tag_value)


def _read_subject(text: str, problems: list[str]) -> str:
    """The bare Slack id of a mention (`<@U…|name>`, `<!subteam^S…|@group>`) or of an
    id typed as is."""
    for pattern in (_USER_MENTION, _GROUP_MENTION):
        match = pattern.fullmatch(text)
        if match:
            return match["id"]
    if _BARE_SUBJECT.fullmatch(text):
        return text
    problems.append(
        f"{_quote(text)} is not a Slack user or user group: pick them from the @ menu "
        "so Slack sends their id, or give the id itself (`U…`, `W…` or `S…`)."
    )
    return ""


def _read_role(text: str, problems: list[str]) -> Role:
    try:
        return Role(text.lower())
    except ValueError:
        roles = ", ".join(f"`{role.value}`" for role in Role)
        problems.append(f"{_quote(text)} is not a role; the roles are {roles}.")
        return Role.VIEWER


def _reboot_command(
    operands: list[_Word],
    options: _Options,
    problems: list[str],
    *,
    default_region: str | None,
    max_instances: int,
) -> RebootCommand:
    if operands and _looks_like_mistyped_keyword(operands[0], operands):
        # The rest was written for that other command: judging it as instances
        # would only bury the one useful hint.
        close = difflib.get_close_matches(operands[0].text.lower(), _KEYWORDS, n=1)[0]
        problems.append(f"Unknown command {_quote(operands[0].text)}. Did you mean `{close}`?")
        return RebootCommand((), options.force, None, regions=options.regions or ())
    regions = options.regions or ()
    single = regions[0] if len(regions) == 1 else None
    parsed = _read_instances(
        _by_line(operands),
        region=single or default_region,
        max_instances=max_instances,
        several_regions=regions if len(regions) > 1 else (),
    )
    problems += [problem.message for problem in parsed.errors]
    search_regions: tuple[str, ...] = ()
    if parsed.selectors:
        search_regions = regions or ((default_region,) if default_region else ())
        if not search_regions and options.regions is None:
            problems.append(
                f"No region to look {_quote_list([str(s) for s in parsed.selectors])} up in: "
                "add `--region REGION[,REGION…]`, or set ECSBOT_DEFAULT_REGION."
            )
    return RebootCommand(
        parsed.instances,
        options.force,
        single,
        parsed.duplicates,
        options.rollout,
        selectors=parsed.selectors,
        regions=regions,
        search_regions=search_regions,
    )


def _looks_like_mistyped_keyword(first: _Word, operands: list[_Word]) -> bool:
    # Only a word that would be an error anyway gets the hint: a console line whose
    # first column is a host called `helper` is still a console line.
    if _ID_ATTEMPT.fullmatch(first.text) or any(
        _is_valid_id_word(word.text) for word in operands if word.line == first.line
    ):
        return False
    return bool(difflib.get_close_matches(first.text.lower(), _KEYWORDS, n=1))

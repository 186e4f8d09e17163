"""The option table: every ``--flag`` of ``/ecs-reboot`` declared once (docs/PRODUCT.md §4).

Everything else about options derives from ``OPTIONS``: which words the parser knows,
how it reads their values, which commands each applies to, the "did you mean" hint and
the list of options an unknown one is answered with, the usage lines, and the help
text (``bot/slack/text.py`` renders the help lines). Adding a flag means one entry
here; see docs/ARCHITECTURE.md, "Adding a flag", for the few other places.

The help lines are sentences, like the parser's problems: what the grammar accepts
and how a person is told about it are one decision, kept in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Generic, TypeVar

from bot.domain.accounts import ACCOUNT_NAME
from bot.domain.parser.words import REGION_EXAMPLES, REGION_ID_PATTERN, quote
from bot.domain.rollout import Size, parse_size
from bot.domain.schedule import (
    AT_USAGE,
    IN_USAGE,
    AtClock,
    AtMoment,
    InDelay,
    InWindow,
    WhenProblem,
    read_at,
    read_in,
    read_window,
)

T = TypeVar("T")


class Keyword(StrEnum):
    """The commands of ``/ecs-reboot``; a reboot is the command without a keyword."""

    REBOOT = "reboot"
    HELP = "help"
    STATUS = "status"
    ROLES = "roles"
    GRANT = "grant"
    REVOKE = "revoke"
    SCHEDULED = "scheduled"


class Kind(Enum):
    """How an option's value is written."""

    SWITCH = "switch"  # no value: `--force`
    WORD = "word"  # one word after it or after `=`: `--batch 25%`, `--tag=env=prod`
    # `NAME[,NAME…]`: the commas glue the items into one word, and a target (an id,
    # a selector) is never an item, so `--region i-…` keeps the id a target.
    LIST = "list"
    # Free text, quoted or one word, cut out of the raw text before it is split into
    # words (bot/domain/parser/reason.py): a quoted text holds spaces and commas.
    TEXT = "text"


@dataclass(frozen=True)
class Reading(Generic[T]):
    """What a value reader made of a value: the value (None when unusable) and every
    problem found, each a sentence quoting the token. A value may come with problems
    (a region list with one bad region is kept, so the ids' regions stay quiet)."""

    value: T | None
    problems: tuple[str, ...] = ()


Reader = Callable[[str], Reading[T]]


@dataclass(frozen=True)
class Family:
    """Options shown together in a usage line as ``[NAME]`` (one of them) or
    ``[NAME…]`` (any of them). With ``exclusive``, at most one option of the family
    may be given (WHEN: `--at`, `--in` or `--window`)."""

    name: str
    exclusive: bool = False
    help: str = ""  # the sentence that introduces the family's options in the help


@dataclass(frozen=True)
class Option(Generic[T]):
    """One ``--flag``.

    ``read`` turns the value as typed into ``T`` (None for a switch, which reads as
    True, and for a TEXT option, read by its own module). ``expects`` says what a value
    must be, for "needs …" when it is missing. With ``once``, a second different value
    is a problem; otherwise the last one counts. ``single_for`` are the commands that
    take one item of a LIST (`grant --region` names one region). ``excludes`` are the
    options it cannot be combined with, ``excludes_why`` why not.
    """

    name: str
    applies_to: frozenset[Keyword]
    help: str
    kind: Kind = Kind.SWITCH
    read: Reader[T] | None = None
    metavar: str = ""
    expects: str = ""
    aliases: tuple[str, ...] = ()
    family: Family | None = None
    once: bool = False
    single_for: frozenset[Keyword] = frozenset()
    excludes: tuple[str, ...] = ()
    excludes_why: str = ""

    def usage(self, keyword: Keyword = Keyword.REBOOT) -> str:
        """How the option is written in ``keyword``'s usage: `--region REGION[,REGION…]`,
        `--region REGION` where one item is taken, `--force`."""
        metavar = self.metavar
        if keyword in self.single_for:
            metavar = metavar.split("[", 1)[0]
        return f"{self.name} {metavar}" if metavar else self.name


# ── value readers ────────────────────────────────────────────────────────────────


def read_regions(value: str) -> Reading[tuple[str, ...]]:
    """``REGION[,REGION…]``: every flaw of the list is reported. The list is kept even
    when malformed: the problem already blocks the command, and a fallback region would
    only add noise about ids "without a region"."""
    items = value.split(",")
    if value.endswith(",") and len(items) > 1:
        items.pop()  # `--region a,` before a line break: the comma only separates
    regions = tuple(dict.fromkeys(items))
    problems: list[str] = []
    if "" in regions:
        problems.append(
            f"{quote(value)} has an empty region in its list: write "
            "`--region cn-hangzhou,cn-shanghai` (commas, no spaces)."
        )
    for region in regions:
        if region and not REGION_ID_PATTERN.fullmatch(region):
            problems.append(f"{quote(region)} is not a region id ({REGION_EXAMPLES}).")
    return Reading(tuple(region for region in regions if region), tuple(problems))


def read_accounts(value: str) -> Reading[tuple[str, ...]]:
    """``NAME[,NAME…]``: each an account name's shape; whether it is configured is
    settled with the settings (``bot.domain.accounts.command_accounts``)."""
    names = tuple(dict.fromkeys(name for name in value.split(",") if name))
    bad = [name for name in names if not ACCOUNT_NAME.fullmatch(name)]
    if not names:
        return Reading(None, (f"{quote(value)} names no account: write `--account prod`.",))
    problems = tuple(
        f"{quote(name)} is not an account name (lower-case letters, digits and `-`)."
        for name in bad
    )
    return Reading(tuple(name for name in names if name not in bad), problems)


def read_tag(text: str) -> Reading[tuple[str, str]]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        return Reading(None, (f"{quote(text)} is not a tag: write `--tag KEY=VALUE`.",))
    return Reading((key, value))


_BATCH_RULE = "a count of at least 1 or a percentage from 1% to 100%, e.g. `--batch 25%`"
_CANARY_RULE = "a count of 0 or more, e.g. `--canary 1`"
_MAX_ERRORS_RULE = "a count of 0 or more or a percentage, e.g. `--max-errors 2`"


def _not_a(name: str, value: str, rule: str) -> str:
    return f"{quote(name)} {quote(value)} is not {rule}."


def read_batch(value: str) -> Reading[Size]:
    size = parse_size(value, least=1)
    return Reading(size) if size else Reading(None, (_not_a("--batch", value, _BATCH_RULE),))


def read_canary(value: str) -> Reading[int]:
    size = parse_size(value, least=0)
    if size is None or size.percent:
        return Reading(None, (_not_a("--canary", value, _CANARY_RULE),))
    return Reading(size.value)


def read_max_errors(value: str) -> Reading[Size]:
    size = parse_size(value, least=0)
    if size is None:
        return Reading(None, (_not_a("--max-errors", value, _MAX_ERRORS_RULE),))
    return Reading(size)


def _when_reading(read: Callable[[str], T | WhenProblem]) -> Reader[T]:
    """A WHEN reader of ``bot.domain.schedule`` as the table's readers answer."""

    def reader(value: str) -> Reading[T]:
        result = read(value)
        if isinstance(result, WhenProblem):
            return Reading(None, (result.message,))
        return Reading(result)

    return reader


read_when_at: Reader[AtClock | AtMoment] = _when_reading(read_at)
read_when_in: Reader[InDelay] = _when_reading(read_in)
read_when_window: Reader[InWindow] = _when_reading(read_window)


# ── the table ────────────────────────────────────────────────────────────────────

EVERY_COMMAND = frozenset(Keyword)
REBOOT_ONLY = frozenset({Keyword.REBOOT})
BINDINGS = frozenset({Keyword.GRANT, Keyword.REVOKE})

# docs/PRODUCT.md §5.8.
ROLLOUT = Family(
    "ROLLOUT",
    help="Large requests roll out in waves: a canary, then batches drawn from the zones "
    "in turn; the next wave goes out once the last is back. The message gets Pause, "
    "Resume and Abort buttons while it runs.",
)

# docs/PRODUCT.md §5.10: at most one of them.
WHEN = Family(
    "WHEN",
    exclusive=True,
    help="A reboot can wait: Reboot then schedules it (the message shows when, with "
    "Cancel), and at its time the bot checks again and starts it. One of:",
)

HELP: Option[bool] = Option("--help", EVERY_COMMAND, "this text", aliases=("-h",))
ACCOUNT: Option[tuple[str, ...]] = Option(
    "--account",
    REBOOT_ONLY | BINDINGS,
    "the accounts to act in (ECSBOT_ACCOUNTS; default ECSBOT_DEFAULT_ACCOUNT). Selectors "
    "look in every account listed; ids belong to one",
    kind=Kind.LIST,
    read=read_accounts,
    metavar="NAME[,NAME…]",
    expects="a value, e.g. `--account prod`",
    once=True,
    single_for=BINDINGS,
)
REGION: Option[tuple[str, ...]] = Option(
    "--region",
    REBOOT_ONLY | BINDINGS,
    "where selectors look (every region listed) and the region of ids given without "
    "one. With several regions, write ids as `REGION/i-…`",
    kind=Kind.LIST,
    read=read_regions,
    metavar="REGION[,REGION…]",
    expects="a value, e.g. `--region cn-hangzhou`",
    once=True,
    single_for=BINDINGS,
)
FORCE: Option[bool] = Option(
    "--force", REBOOT_ONLY, "power cycle (can lose unwritten data; admins only)"
)
REASON: Option[str] = Option(
    "--reason",
    REBOOT_ONLY,
    "why (quoted, or one word); shown to approvers and kept in the history",
    kind=Kind.TEXT,
    metavar='"TEXT"',
)
TAG: Option[tuple[str, str]] = Option(
    "--tag",
    BINDINGS,
    "the instances a role is limited to: those with this tag",
    kind=Kind.WORD,
    read=read_tag,
    metavar="KEY=VALUE",
    expects="a value, e.g. `--tag env=prod`",
    once=True,
)
BATCH: Option[Size] = Option(
    "--batch",
    REBOOT_ONLY,
    "later waves' size",
    kind=Kind.WORD,
    read=read_batch,
    metavar="N|N%",
    expects=_BATCH_RULE,
    family=ROLLOUT,
)
CANARY: Option[int] = Option(
    "--canary",
    REBOOT_ONLY,
    "the first wave's size",
    kind=Kind.WORD,
    read=read_canary,
    metavar="N",
    expects=_CANARY_RULE,
    family=ROLLOUT,
)
MAX_ERRORS: Option[Size] = Option(
    "--max-errors",
    REBOOT_ONLY,
    "failures tolerated before the rollout stops",
    kind=Kind.WORD,
    read=read_max_errors,
    metavar="N|N%",
    expects=_MAX_ERRORS_RULE,
    family=ROLLOUT,
)
PAUSE_AFTER_CANARY: Option[bool] = Option(
    "--pause-after-canary",
    REBOOT_ONLY,
    "wait for a Resume once the canary is back",
    family=ROLLOUT,
)
ALL_AT_ONCE: Option[bool] = Option(
    "--all-at-once",
    REBOOT_ONLY,
    "one wave, however large the request",
    family=ROLLOUT,
    excludes=("--batch", "--canary", "--max-errors", "--pause-after-canary"),
    excludes_why="reboots everything as one wave",
)

AT: Option[AtClock | AtMoment] = Option(
    "--at",
    REBOOT_ONLY,
    "the next HH:MM in ECSBOT_TIMEZONE, or a date and time; `Z` or `+08:00` at its end "
    "gives its offset",
    kind=Kind.WORD,
    read=read_when_at,
    metavar="HH:MM|YYYY-MM-DDTHH:MM",
    expects=AT_USAGE,
    family=WHEN,
    once=True,
)
IN: Option[InDelay] = Option(
    "--in",
    REBOOT_ONLY,
    "after this long, in `s`, `m`, `h` or `d`: `--in 90m`",
    kind=Kind.WORD,
    read=read_when_in,
    metavar="N(s|m|h|d)",
    expects=IN_USAGE,
    family=WHEN,
    once=True,
)
WINDOW: Option[InWindow] = Option(
    "--window",
    REBOOT_ONLY,
    "the window's next opening; a rollout then sends waves only while it is open, and "
    "`/ecs-reboot scheduled` lists the windows",
    kind=Kind.WORD,
    read=read_when_window,
    metavar="NAME",
    expects="a window name, e.g. `--window nightly`",
    family=WHEN,
    once=True,
)

# The order is the order of the usage line and of the help.
OPTIONS: tuple[Option[Any], ...] = (
    HELP,
    ACCOUNT,
    REGION,
    FORCE,
    REASON,
    TAG,
    AT,
    IN,
    WINDOW,
    BATCH,
    CANARY,
    MAX_ERRORS,
    PAUSE_AFTER_CANARY,
    ALL_AT_ONCE,
)


@dataclass(frozen=True)
class OptionTable:
    """A set of options and what derives from them. The parser reads with ``TABLE``;
    tests may build others (to show the table can say what a future flag needs)."""

    options: tuple[Option[Any], ...]
    _by_name: dict[str, Option[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Option[Any]] = {}
        for option in self.options:
            for name in (option.name, *option.aliases):
                assert name not in by_name, f"{name} is declared twice"
                by_name[name] = option
        object.__setattr__(self, "_by_name", by_name)

    def find(self, name: str) -> Option[Any] | None:
        """The option spelt ``name`` (lowercase, an alias counts), or None."""
        return self._by_name.get(name)

    def list_options(self) -> frozenset[str]:
        """The names whose value is a comma list (the word splitter glues it)."""
        return frozenset(o.name for o in self.options if o.kind is Kind.LIST)

    def text_options(self) -> tuple[Option[Any], ...]:
        return tuple(o for o in self.options if o.kind is Kind.TEXT)

    def for_command(self, keyword: Keyword) -> tuple[Option[Any], ...]:
        """The options ``keyword`` takes, in table order."""
        return tuple(o for o in self.options if keyword in o.applies_to)

    def specific_to(self, keyword: Keyword) -> tuple[Option[Any], ...]:
        """The options ``keyword`` takes that not every command takes (`--help` is
        everywhere, so it is not worth listing)."""
        return tuple(o for o in self.for_command(keyword) if o.applies_to != EVERY_COMMAND)

    def spellings(self, keyword: Keyword) -> tuple[str, ...]:
        """Every spelling ``keyword`` accepts: the candidates of "did you mean"."""
        return tuple(name for o in self.for_command(keyword) for name in (o.name, *o.aliases))

    def usage_parts(self, keyword: Keyword) -> Iterator[str]:
        """The bracketed options of ``keyword``'s usage line; a family's options stand
        as one ``[NAME]`` (exclusive) or ``[NAME…]`` at its first member's place."""
        families: set[str] = set()
        for option in self.specific_to(keyword):
            family = option.family
            if family is None:
                yield f"[{option.usage(keyword)}]"
            elif family.name not in families:
                families.add(family.name)
                yield f"[{family.name}]" if family.exclusive else f"[{family.name}…]"

    def families(self, keyword: Keyword) -> tuple[Family, ...]:
        seen = {o.family.name: o.family for o in self.specific_to(keyword) if o.family}
        return tuple(seen.values())


TABLE = OptionTable(OPTIONS)

REBOOT_USAGE = f"`/ecs-reboot {' '.join(TABLE.usage_parts(Keyword.REBOOT))} TARGETS…`"
REBOOT_EXAMPLE = (
    "`/ecs-reboot --region cn-hangzhou i-bp1abc23def45ghi67jk0, i-bp1xyz98wvu76tsr54qp0`"
)


def binding_usage(keyword: Keyword) -> str:
    """`/ecs-reboot grant @user|@group ROLE [--region REGION] [--tag KEY=VALUE]`."""
    options = " ".join(TABLE.usage_parts(keyword))
    return f"`/ecs-reboot {keyword.value} @user|@group ROLE {options}`"

"""Reading the options a person typed out of the words, with an option table.

Options may stand anywhere, before the command's keyword is known, so this reads every
option any command takes; which of them apply is judged afterwards, per command, by
:func:`misuse_problems`. An unknown option is answered then too, so that its "did you mean" and
its list of options name only those of that command.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from bot.domain.parser.options import Keyword, Kind, Option, OptionTable
from bot.domain.parser.words import Word, is_list_item, is_option, quote, quote_list

T = TypeVar("T")


@dataclass(frozen=True)
class _Unknown:
    """An option no command takes, answered once the command is known."""

    text: str


@dataclass
class GivenOptions:
    """The options found: their values (only the usable ones), the names given in
    order, and the problems in the order their options stand."""

    values: dict[str, Any] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)  # the value as first typed
    given: list[str] = field(default_factory=list)
    problems: list[str | _Unknown] = field(default_factory=list)

    def get(self, option: Option[T]) -> T | None:
        """The value read for ``option``; None when it was not given or unusable."""
        return cast("T | None", self.values.get(option.name))

    def has(self, option: Option[Any]) -> bool:
        return option.name in self.values


def read_options(words: list[Word], table: OptionTable) -> tuple[GivenOptions, list[Word]]:
    """Take the options out of ``words``; return them and the remaining operands in
    order. TEXT options are not among the words (they were cut out before)."""
    options = GivenOptions()
    operands: list[Word] = []
    position = 0
    while position < len(words):
        word = words[position]
        position += 1
        if not is_option(word.text):
            operands.append(word)
            continue
        name, equals, value = word.text.partition("=")
        option = table.find(name.lower())
        if option is None or option.kind is Kind.TEXT:
            options.problems.append(_Unknown(word.text))
            continue
        if (
            option.kind is not Kind.SWITCH
            and not equals
            and position < len(words)
            and _can_be_value(option, words[position])
        ):
            value = words[position].text
            position += 1
        _take(options, option, value, has_value=bool(equals))
    return options, operands


def _can_be_value(option: Option[Any], word: Word) -> bool:
    if option.kind is Kind.LIST:
        return is_list_item(word.text)
    return not is_option(word.text)


def _take(options: GivenOptions, option: Option[Any], value: str, *, has_value: bool) -> None:
    options.given.append(option.name)
    if option.kind is Kind.SWITCH:
        if has_value:
            options.problems.append(f"{quote(option.name)} takes no value.")
        options.values[option.name] = True
        return
    if not value:
        options.problems.append(f"{quote(option.name)} needs {option.expects}.")
        return
    assert option.read is not None, option.name
    reading = option.read(value)
    options.problems.extend(reading.problems)
    if reading.value is None:
        return
    earlier = options.values.get(option.name)
    if option.once and earlier is not None and earlier != reading.value:
        options.problems.append(
            f"{quote(option.name)} is given twice with different values: "
            f"{quote(options.typed[option.name])} and {quote(value)}."
        )
        return
    options.values[option.name] = reading.value
    options.typed.setdefault(option.name, value)


def reading_problems(keyword: Keyword, options: GivenOptions, table: OptionTable) -> list[str]:
    """The problems met while reading, in the order their options stand; an unknown
    option is answered with ``keyword``'s own options."""
    return [
        _unknown_problem(keyword, problem.text, table) if isinstance(problem, _Unknown) else problem
        for problem in options.problems
    ]


def misuse_problems(keyword: Keyword, options: GivenOptions, table: OptionTable) -> list[str]:
    """Options used where they do not belong: not applying to ``keyword``, a list where
    it takes one item, options that cannot be combined."""
    taken = table.for_command(keyword)
    names = dict.fromkeys(name for name in options.given if table.find(name) not in taken)
    problems = [f"{quote(name)} does not apply to `{keyword.value}`." for name in names]
    for option in taken:
        value = options.get(option)
        if keyword in option.single_for and isinstance(value, tuple) and len(value) > 1:
            problems.append(f"`{keyword.value}` takes one `{option.name}`, not a list.")
    return problems + _conflicts(keyword, options, table)


def _conflicts(keyword: Keyword, options: GivenOptions, table: OptionTable) -> list[str]:
    # Judged on usable values only: a malformed one is already a problem of its own.
    problems: list[str] = []
    for family in table.families(keyword):
        if not family.exclusive:
            continue
        members = [o.name for o in table.for_command(keyword) if o.family == family]
        given = [name for name in members if name in options.values]
        if len(given) > 1:
            problems.append(
                f"{quote_list(given)} cannot be combined: give at most one of "
                f"{quote_list(members)}."
            )
    for option in table.for_command(keyword):
        clash = any(name in options.values for name in option.excludes)
        if clash and options.has(option):
            problems.append(
                f"{quote(option.name)} {option.excludes_why}: it cannot be combined "
                f"with {_or_list(option.excludes)}."
            )
    return problems


def _or_list(names: tuple[str, ...]) -> str:
    quoted = [f"`{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _unknown_problem(keyword: Keyword, text: str, table: OptionTable) -> str:
    name = text.partition("=")[0].lower()
    close = difflib.get_close_matches(name, table.spellings(keyword), n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    known = table.specific_to(keyword)
    if not known:
        return f"Unknown option {quote(text)}.{hint} `{keyword.value}` takes no options."
    listed = ", ".join(f"`{option.name}`" for option in known)
    return f"Unknown option {quote(text)}.{hint} Options: {listed}."

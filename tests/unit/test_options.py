"""The option table (bot/domain/parser/options.py): what derives from it, read through
the parser, and what it can say for the flags still to come (docs/PRODUCT.md §4)."""

from __future__ import annotations

import re

import pytest

from bot.domain.parser import TABLE, CommandError, Keyword, parse_command
from bot.domain.parser.flags import misuse_problems, read_options, reading_problems
from bot.domain.parser.options import (
    BATCH,
    BINDINGS,
    REBOOT_ONLY,
    REGION,
    Family,
    Kind,
    Option,
    OptionTable,
    Reading,
    read_regions,
)
from bot.domain.parser.words import split_words
from bot.slack.text import help_text

ID = "i-bp1abc23def45ghi67jk0"
_NAMED = re.compile(r"`(--?[a-z-]+)`")


def problems(text: str) -> tuple[str, ...]:
    parsed = parse_command(text, default_region="cn-hangzhou", max_instances=50)
    assert isinstance(parsed, CommandError), parsed
    return parsed.problems


def unknown(text: str) -> str:
    [problem] = [p for p in problems(text) if p.startswith("Unknown option")]
    return problem


def test_a_misspelt_reason_is_answered_with_the_reboot_options_only() -> None:
    problem = unknown(f"--rason x {ID}")
    assert "Did you mean `--reason`?" in problem
    listed = _NAMED.findall(problem.partition("Options:")[2])
    assert "--reason" in listed
    assert "--tag" not in listed
    assert set(listed) == {o.name for o in TABLE.specific_to(Keyword.REBOOT)}


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        (f"--rason x {ID}", Keyword.REBOOT),
        (f"{ID} --batc 2", Keyword.REBOOT),
        ("grant U1AB viewer --regoin cn-hangzhou", Keyword.GRANT),
        ("revoke U1AB viewer --tga env=prod", Keyword.REVOKE),
        ("grant U1AB viewer --rason x", Keyword.GRANT),
        ("status 42 --forse", Keyword.STATUS),
        ("roles --regoin x", Keyword.ROLES),
    ],
)
def test_an_unknown_option_names_only_options_of_its_command(text: str, keyword: Keyword) -> None:
    problem = unknown(text)
    spellings = set(TABLE.spellings(keyword))
    named = set(_NAMED.findall(problem)[1:])  # the first is the unknown option itself
    assert named <= spellings, (problem, named - spellings)


def test_the_hint_follows_the_command() -> None:
    assert "Did you mean `--region`?" in unknown("grant U1AB viewer --regoin cn-hangzhou")
    assert "Did you mean `--tag`?" in unknown("revoke U1AB viewer --tga env=prod")
    # `--reason` is no option of grant, so it is not suggested there.
    assert "`--reason`" not in unknown("grant U1AB viewer --rason x")
    assert unknown("status 42 --forse") == "Unknown option `--forse`. `status` takes no options."


def test_every_option_of_a_command_is_in_the_help() -> None:
    text = help_text(default_region="cn-hangzhou")
    for option in {o for keyword in Keyword for o in TABLE.specific_to(keyword)}:
        assert f"`{option.name}" in text or f"{option.name} " in text, option.name
        assert option.help


def test_an_option_of_another_command_does_not_apply() -> None:
    assert problems(f"--tag env=prod {ID}")[0] == "`--tag` does not apply to `reboot`."
    assert "`--batch` does not apply to `grant`." in problems("grant U1AB viewer --batch 2")


# ── what the table can say for the flags to come (docs/ARCHITECTURE.md, "Adding a flag") ──

WHEN = Family("WHEN", exclusive=True)


def _read_in(value: str) -> Reading[int]:
    match = re.fullmatch(r"(\d+)([smhd])", value)
    if match is None:
        return Reading(None, (f"`{value}` is not a duration: write `--in 90m`.",))
    return Reading(int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]])


def _read_names(value: str) -> Reading[tuple[str, ...]]:
    names = tuple(value.split(","))
    bad = [name for name in names if not name.isalnum()]
    return Reading(names, tuple(f"`{name}` is not an account name." for name in bad))


FUTURE = OptionTable(
    (
        Option(
            "--account",
            REBOOT_ONLY | BINDINGS,
            "the accounts",
            kind=Kind.LIST,
            read=_read_names,
            metavar="NAME[,NAME…]",
            expects="a value, e.g. `--account prod`",
            once=True,
            single_for=BINDINGS,
        ),
        REGION,
        Option("--at", REBOOT_ONLY, "at", kind=Kind.WORD, read=_read_in, family=WHEN),
        Option("--in", REBOOT_ONLY, "in", kind=Kind.WORD, read=_read_in, family=WHEN),
        Option("--window", REBOOT_ONLY, "window", kind=Kind.WORD, read=_read_in, family=WHEN),
        BATCH,
    )
)


def _judge(text: str, keyword: Keyword = Keyword.REBOOT) -> tuple[dict[str, object], list[str]]:
    words = split_words(text, list_options=FUTURE.list_options())
    options, _operands = read_options(words, FUTURE)
    found = reading_problems(keyword, options, FUTURE) + misuse_problems(keyword, options, FUTURE)
    return options.values, found


def test_a_value_reader_may_fail_with_a_problem() -> None:
    values, found = _judge(f"--in 90m {ID}")
    assert values == {"--in": 5400}
    assert found == []
    values, found = _judge(f"--in soon {ID}")
    assert found == ["`soon` is not a duration: write `--in 90m`."]


def test_an_exclusive_family_takes_at_most_one() -> None:
    _values, found = _judge(f"--in 90m --at 2h {ID}")
    assert found == [
        "`--at` and `--in` cannot be combined: give at most one of `--at`, `--in` and `--window`."
    ]


def test_a_comma_list_is_one_value_and_one_item_where_a_command_takes_one() -> None:
    values, found = _judge(f"--account prod,staging {ID}")
    assert values["--account"] == ("prod", "staging")
    assert found == []
    _values, found = _judge("grant U1 viewer --account prod,staging", Keyword.GRANT)
    assert found == ["`grant` takes one `--account`, not a list."]


def test_the_usage_line_derives_from_the_table() -> None:
    assert list(FUTURE.usage_parts(Keyword.REBOOT)) == [
        "[--account NAME[,NAME…]]",
        "[--region REGION[,REGION…]]",
        "[WHEN]",
        "[ROLLOUT…]",
    ]
    assert list(FUTURE.usage_parts(Keyword.GRANT)) == ["[--account NAME]", "[--region REGION]"]
    assert read_regions("cn-hangzhou,") == Reading(("cn-hangzhou",))

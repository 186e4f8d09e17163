"""The reboot form as command text (bot.domain.form): what each field becomes."""

from __future__ import annotations

import pytest

from bot.domain.form import FIELD_WHEN, FormFields, command_text, problem_fields, when_flag


@pytest.mark.parametrize(
    ("typed", "flag"),
    [
        ("", ""),
        ("02:00", "--at 02:00"),
        ("2026-12-24 02:00", "--at 2026-12-24T02:00"),
        ("2026-12-24T02:00+08:00", "--at 2026-12-24T02:00+08:00"),
        ("3h", "--in 3h"),
        ("in 90m", "--in 90m"),
        ("1h30m", "--in 1h30m"),
        ("nightly", "--window nightly"),
        ("tomorrow", "--at tomorrow"),  # the --at reader says what is wrong with it
    ],
)
def test_the_when_field_becomes_one_when_flag(typed: str, flag: str) -> None:
    assert when_flag(typed, ("nightly",)) == flag


def test_the_form_says_what_the_command_says() -> None:
    fields = FormFields(
        region="cn-hangzhou",
        account="prod",
        instances=("i-bp1aaaaaaaaaaaaa",),
        targets="tag:app=web",
        force=True,
        reason='say "hi"',
        rollout="--batch 2",
        when="nightly",
    )
    assert command_text(fields, ("nightly",)) == (
        "--account prod --region cn-hangzhou --force --reason 'say \"hi\"' --batch 2 "
        "--window nightly i-bp1aaaaaaaaaaaaa\ntag:app=web"
    )


def test_a_when_problem_is_shown_beside_the_when_field() -> None:
    fields = FormFields(instances=("i-bp1aaaaaaaaaaaaa",), when="tomorrow")
    placed = problem_fields(["`--at tomorrow` is not a time: write `--at 02:00`."], fields)
    assert list(placed) == [FIELD_WHEN]

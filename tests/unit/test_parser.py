"""The slash-command grammar (docs/PRODUCT.md §4): each sentence of it, then properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import InstanceRef, Role
from bot.domain.parser import (
    CommandError,
    GrantCommand,
    HelpCommand,
    InstanceListParse,
    RebootCommand,
    RevokeCommand,
    RolesCommand,
    StatusCommand,
    parse_command,
    parse_instances,
)
from bot.domain.parser.reason import take_reason
from bot.domain.parser.targets import read_only_ids
from bot.domain.selectors import InstanceFilter, NameSelector, TagSelector, read_selector

ID_A = "i-bp1abc23def45ghi67jk0"
ID_B = "i-bp1xyz98wvu76tsr54qp0"
ID_C = "i-uf6abcdefgh12345"
HZ = "cn-hangzhou"
VALID_ID = re.compile(r"^i-[a-z0-9]{8,30}$")


def instances(text: str, *, region: str | None = HZ, limit: int = 500) -> InstanceListParse:
    return parse_instances(text, default_region=region, max_instances=limit)


def command(text: str, *, region: str | None = HZ, limit: int = 500) -> object:
    return parse_command(text, default_region=region, max_instances=limit)


def refs(*ids: str, region: str = HZ) -> tuple[InstanceRef, ...]:
    return tuple(InstanceRef(region, instance_id) for instance_id in ids)


def messages(parsed: InstanceListParse) -> list[str]:
    return [problem.message for problem in parsed.errors]


def problems(result: object) -> tuple[str, ...]:
    assert isinstance(result, CommandError), result
    return result.problems


# ── INSTANCES: separators ─────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "text",
    [
        f"{ID_A} {ID_B} {ID_C}",
        f"{ID_A},{ID_B},{ID_C}",
        f"{ID_A}, {ID_B} ,{ID_C}",
        f"{ID_A};{ID_B}; {ID_C}",
        f"{ID_A}\n{ID_B}\r\n{ID_C}\n",
        f"{ID_A}\t{ID_B}\t\t{ID_C}",
        f"  {ID_A} ,; \n {ID_B}\n\n,{ID_C};",
    ],
)
def test_ids_are_separated_by_spaces_commas_semicolons_new_lines_and_tabs(text: str) -> None:
    parsed = instances(text)
    assert parsed.ok, parsed.errors
    assert parsed.instances == refs(ID_A, ID_B, ID_C)


def test_first_seen_order_is_kept() -> None:
    assert instances(f"{ID_C} {ID_A} {ID_B}").instances == refs(ID_C, ID_A, ID_B)


# ── INSTANCES: regions ────────────────────────────────────────────────────────────


@pytest.mark.parametrize("separator", ["/", ":"])
@pytest.mark.parametrize(
    "region", ["cn-hangzhou", "us-west-1", "ap-southeast-1", "eu-central-1", "cn-beijing-finance-1"]
)
def test_region_prefix_names_the_region_of_one_id(separator: str, region: str) -> None:
    parsed = instances(f"{region}{separator}{ID_A} {ID_B}")
    assert parsed.ok, parsed.errors
    assert parsed.instances == (InstanceRef(region, ID_A), InstanceRef(HZ, ID_B))


def test_ids_without_prefix_take_the_default_region() -> None:
    assert instances(ID_A, region="us-west-1").instances == refs(ID_A, region="us-west-1")


def test_id_without_any_region_is_an_error_naming_both_fixes() -> None:
    parsed = instances(f"{ID_A} us-west-1/{ID_B}", region=None)
    [message] = messages(parsed)
    assert ID_A in message
    assert "--region" in message
    assert "ECSBOT_DEFAULT_REGION" in message
    assert ID_B not in message
    assert parsed.instances == (InstanceRef("us-west-1", ID_B),)


def test_many_ids_without_region_make_one_short_problem() -> None:
    ids = [f"i-{n:010d}" for n in range(20)]
    [message] = messages(instances(" ".join(ids), region=None))
    assert ids[0] in message
    assert "and 15 more" in message


@pytest.mark.parametrize(
    ("token", "bad_region"),
    [
        (f"CN-HANGZHOU/{ID_A}", "CN-HANGZHOU"),
        (f"hangzhou/{ID_A}", "hangzhou"),
        (f"cn-hangzhou-h:{ID_A}", "cn-hangzhou-h"),  # a zone, not a region
        (f"x/{ID_A}", "x"),
    ],
)
def test_invalid_region_prefix_is_an_error(token: str, bad_region: str) -> None:
    parsed = instances(f"{token} {ID_B}")
    [problem] = parsed.errors
    assert f"`{bad_region}`" in problem.message
    assert problem.token == token
    assert parsed.instances == refs(ID_B)


def test_invalid_region_prefix_is_an_error_even_on_a_console_line() -> None:
    parsed = instances(f"web-01 Running nowhere/{ID_A} {ID_B}")
    assert len(parsed.errors) == 1
    assert "`nowhere`" in parsed.errors[0].message


# ── INSTANCES: the id format ──────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "good", ["i-abcdefgh", "i-12345678", "i-" + "a" * 30, "i-bp1abc23def45ghi67jk0"]
)
def test_valid_ids(good: str) -> None:
    assert instances(good).instances == refs(good)


@pytest.mark.parametrize(
    "bad",
    [
        "i-ABC",
        "i-short",
        "i-bp1abc!",
        "i-abcdefg",  # 7 characters
        "i-" + "a" * 31,
        "i-BP1ABC23DEF45GHI67JK0",
        "i-bp1abc23_def45",
        "i-",
        "i-bp1abc23.def45",
    ],
)
def test_token_starting_with_i_dash_but_invalid_is_an_error_quoting_it(bad: str) -> None:
    parsed = instances(f"{ID_A} {bad}")
    [problem] = parsed.errors
    assert f"`{bad}`" in problem.message
    assert problem.token == bad
    assert parsed.instances == refs(ID_A)


def test_invalid_id_is_an_error_even_on_a_console_line() -> None:
    parsed = instances(f"{ID_A}  web-01  Running  i-short  172.16.0.5")
    assert [p.token for p in parsed.errors] == ["i-short"]


# ── INSTANCES: console lines ──────────────────────────────────────────────────────

CONSOLE_PASTE = f"""\
{ID_A}  web-01  Running  172.16.0.5  cn-hangzhou-h  ecs.g6.large  2024-01-02 10:00
web-02 ({ID_B})\tStopped\t47.96.1.2
"db-01"  "{ID_C}"  Running
"""


def test_console_lines_ignore_the_other_columns() -> None:
    parsed = instances(CONSOLE_PASTE)
    assert parsed.ok, parsed.errors
    assert parsed.instances == refs(ID_A, ID_B, ID_C)


@pytest.mark.parametrize(
    "wrapped",
    [f"({ID_A})", f"[{ID_A}]", f"{{{ID_A}}}", f'"{ID_A}"', f"'{ID_A}'", f"`{ID_A}`", f"“{ID_A}”"],
)
def test_ids_wrapped_in_brackets_or_quotes_are_read(wrapped: str) -> None:
    assert instances(f"web-01 {wrapped}").instances == refs(ID_A)
    assert instances(wrapped).instances == refs(ID_A)


def test_id_glued_to_a_name_by_a_parenthesis_is_read() -> None:
    assert instances(f"web-01({ID_A})").instances == refs(ID_A)


def test_json_from_the_api_is_read() -> None:
    parsed = instances(f'{{"InstanceIds": ["{ID_A}", "{ID_B}"]}}')
    assert parsed.instances == refs(ID_A, ID_B)


def test_a_word_that_is_no_id_on_a_line_without_ids_is_an_error_quoting_it() -> None:
    parsed = instances(f"{ID_A}\nweb-01 Running 172.16.0.5")
    assert [p.token for p in parsed.errors] == ["web-01", "Running", "172.16.0.5"]
    assert "`web-01`" in parsed.errors[0].message


def test_every_problem_is_reported_at_once() -> None:
    parsed = instances(f"foo {ID_A}\nbar\ni-ABC nowhere/{ID_B} baz", region=None, limit=1)
    tokens = [p.token for p in parsed.errors]
    assert "bar" in tokens
    assert "i-ABC" in tokens
    assert f"nowhere/{ID_B}" in tokens
    assert any("--region" in m for m in messages(parsed))


# ── INSTANCES: Slack escapes ──────────────────────────────────────────────────────


def test_slack_link_with_label_is_one_token() -> None:
    parsed = instances(f"<http://web-01.example.com|web 01 example> {ID_A}")
    assert parsed.ok
    parsed = instances("<http://web-01.example.com|web 01 example>")
    assert parsed.errors[0].token == "<http://web-01.example.com|web 01 example>"


@pytest.mark.parametrize("mention", ["<@U123ABC|alice>", "<@U123ABC>", "<!subteam^S1|@ops>"])
def test_a_mention_in_an_instance_list_is_an_error_quoting_it(mention: str) -> None:
    parsed = instances(f"{mention}\n{ID_A}")
    assert [p.token for p in parsed.errors] == [mention]


# ── INSTANCES: duplicates, limit, nothing given ───────────────────────────────────


def test_duplicates_are_dropped_and_reported() -> None:
    parsed = instances(f"{ID_A} {ID_B} {ID_A} {HZ}/{ID_B} us-west-1/{ID_B} {ID_A}")
    assert parsed.ok
    assert parsed.instances == (
        InstanceRef(HZ, ID_A),
        InstanceRef(HZ, ID_B),
        InstanceRef("us-west-1", ID_B),
    )
    assert parsed.duplicates == (
        InstanceRef(HZ, ID_A),
        InstanceRef(HZ, ID_B),
        InstanceRef(HZ, ID_A),
    )


def test_the_limit_counts_ids_after_de_duplication() -> None:
    assert instances(f"{ID_A} {ID_B} {ID_A}", limit=2).ok


def test_more_ids_than_the_limit_is_an_error_with_count_and_limit() -> None:
    parsed = instances(f"{ID_A} {ID_B} {ID_C}", limit=2)
    [message] = messages(parsed)
    assert "3" in message
    assert "2" in message


def test_no_ids_at_all_is_an_error_that_shows_usage() -> None:
    [message] = messages(instances(" , ;\n"))
    assert "Usage" in message
    assert "/ecs-reboot" in message


def test_an_invalid_id_alone_does_not_also_claim_nothing_was_given() -> None:
    assert len(instances("i-ABC").errors) == 1


def test_an_option_in_a_bare_instance_list_is_an_error() -> None:
    parsed = instances(f"--force {ID_A}")
    assert [p.token for p in parsed.errors] == ["--force"]


def test_problems_quote_long_tokens_shortened() -> None:
    token = "x" * 500
    [problem, _usage] = instances(token).errors
    assert problem.token == token
    assert len(problem.message) < 200


# ── parse_command: help ───────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "text", ["", "   ", "\n", "help", "HELP", "Help", "-h", "--help", f"{ID_A} --help", "-H"]
)
def test_help(text: str) -> None:
    assert command(text) == HelpCommand()


def test_help_with_arguments_is_an_error() -> None:
    assert "`x`" in problems(command("help x"))[0]


# ── parse_command: reboot ─────────────────────────────────────────────────────────


def test_reboot() -> None:
    assert command(f"{ID_A}, {ID_B}") == RebootCommand(refs(ID_A, ID_B), force=False, region=None)


@pytest.mark.parametrize(
    "text",
    [
        f"--force {ID_A} {ID_B}",
        f"{ID_A} --force {ID_B}",
        f"{ID_A} {ID_B} --force",
        f"{ID_A}\n{ID_B}\n--force",
        f"—force {ID_A} {ID_B}",  # what chat clients make of a typed --force
        f"--FORCE {ID_A} {ID_B} --force",
    ],
)
def test_force_may_stand_anywhere(text: str) -> None:
    assert command(text) == RebootCommand(refs(ID_A, ID_B), force=True)


@pytest.mark.parametrize(
    "text",
    [
        f"--region us-west-1 {ID_A} {HZ}/{ID_B}",
        f"--region=us-west-1 {ID_A} {HZ}/{ID_B}",
        f"{ID_A} {HZ}/{ID_B} --region us-west-1",
        f"--region us-west-1 --region=us-west-1 {ID_A} {HZ}/{ID_B}",
    ],
)
def test_region_flag_sets_the_region_of_ids_without_one(text: str) -> None:
    assert command(text, region="eu-central-1") == RebootCommand(
        (InstanceRef("us-west-1", ID_A), InstanceRef(HZ, ID_B)),
        region="us-west-1",
        regions=("us-west-1",),
    )


def test_region_flag_stands_in_for_a_missing_default() -> None:
    result = command(f"--region us-west-1 {ID_A}", region=None)
    assert result == RebootCommand(
        refs(ID_A, region="us-west-1"), region="us-west-1", regions=("us-west-1",)
    )


def test_region_flag_value_is_not_a_console_column() -> None:
    # The value belongs to the flag, so the line is judged without it.
    assert command(f"--region us-west-1 web-01 {ID_A}") == RebootCommand(
        refs(ID_A, region="us-west-1"), region="us-west-1", regions=("us-west-1",)
    )


def test_reboot_reports_duplicates() -> None:
    result = command(f"{ID_A} {ID_A}")
    assert isinstance(result, RebootCommand)
    assert result.duplicates == refs(ID_A)


@pytest.mark.parametrize("flag", ["--forse", "--regoin=x", "-f", "--dry-run", "--Force=yes"])
def test_unknown_or_malformed_flag_is_an_error_wherever_it_stands(flag: str) -> None:
    for text in (f"{flag} {ID_A}", f"{ID_A} {flag}", f"{ID_A} web-01 Running {flag}"):
        name = flag.split("=")[0].lower()
        assert any(f"`{name}" in p.lower() for p in problems(command(text))), text


def test_misspelt_flag_gets_a_suggestion() -> None:
    assert "--force" in problems(command(f"--forse {ID_A}"))[0]


@pytest.mark.parametrize("text", [f"{ID_A} --region", "--region=", f"--region --force {ID_A}"])
def test_region_without_a_value_is_an_error(text: str) -> None:
    assert any("needs a value" in p for p in problems(command(text)))


def test_region_flag_followed_by_an_id_keeps_the_id() -> None:
    found = problems(command(f"--region {ID_A}", region=None))
    assert any("needs a value" in p for p in found)
    assert not any("is not a region" in p for p in found)


def test_region_twice_with_different_values_is_an_error() -> None:
    [problem] = problems(command(f"--region us-west-1 {ID_A} --region=cn-hangzhou"))
    assert "`us-west-1`" in problem
    assert "`cn-hangzhou`" in problem


def test_invalid_region_flag_value_is_an_error() -> None:
    [problem] = problems(command(f"--region Hangzhou {ID_A}"))
    assert "`Hangzhou`" in problem


def test_tag_does_not_apply_to_reboot() -> None:
    assert "`--tag`" in problems(command(f"--tag env=prod {ID_A}"))[0]


def test_reboot_reports_every_problem_at_once() -> None:
    found = problems(command(f"--forse --region nowhere! {ID_A} i-ABC\nweb-01", limit=0))
    assert len(found) == 5, found  # flag, region, bad id, stray word, limit


def test_reboot_without_ids_shows_usage() -> None:
    [problem] = problems(command("--force"))
    assert "Usage" in problem


def test_a_misspelt_subcommand_gets_a_suggestion_only() -> None:
    assert problems(command("stauts 42")) == ("Unknown command `stauts`. Did you mean `status`?",)


def test_a_console_line_starting_with_a_keyword_like_host_is_still_read() -> None:
    assert command(f"helper {ID_A} Running") == RebootCommand(refs(ID_A))


# ── parse_command: status and roles ───────────────────────────────────────────────


@pytest.mark.parametrize("text", ["status 42", "STATUS 42", "  Status\t42 "])
def test_status(text: str) -> None:
    assert command(text) == StatusCommand("42")


def test_status_without_request_id_is_an_error() -> None:
    assert "request id" in problems(command("status"))[0]


@pytest.mark.parametrize("text", ["status 42 43", "status 42 --force", "status --region=x 42"])
def test_status_with_extra_arguments_is_an_error(text: str) -> None:
    assert problems(command(text))


@pytest.mark.parametrize("text", ["roles", "ROLES", "Roles\n"])
def test_roles(text: str) -> None:
    assert command(text) == RolesCommand()


@pytest.mark.parametrize("text", ["roles list", "roles --force"])
def test_roles_with_extra_arguments_is_an_error(text: str) -> None:
    assert problems(command(text))


# ── parse_command: grant and revoke ───────────────────────────────────────────────


@pytest.mark.parametrize(
    ("mention", "subject"),
    [
        ("<@U123ABC|alice>", "U123ABC"),
        ("<@U123ABC>", "U123ABC"),
        ("<@W123ABC|bob>", "W123ABC"),
        ("<!subteam^S123ABC|@oncall>", "S123ABC"),
        ("<!subteam^S123ABC>", "S123ABC"),
        ("<!subteam^S123ABC|@on call team>", "S123ABC"),
        ("U123ABC", "U123ABC"),
        ("S123ABC", "S123ABC"),
    ],
)
def test_grant_reads_the_subject_id_from_a_mention_or_bare_id(mention: str, subject: str) -> None:
    assert command(f"grant {mention} operator") == GrantCommand(subject, Role.OPERATOR)


def test_grant_with_scope() -> None:
    assert command("GRANT <@U1AB|a> Admin --region us-west-1 --tag env=prod") == GrantCommand(
        "U1AB", Role.ADMIN, region="us-west-1", tag_key="env", tag_value="prod"
    )


@pytest.mark.parametrize(
    "text",
    [
        "revoke --tag=team=web <!subteam^S1AB> viewer",
        "revoke <!subteam^S1AB> --tag team=web viewer",
    ],
)
def test_revoke_with_options_anywhere(text: str) -> None:
    assert command(text) == RevokeCommand("S1AB", Role.VIEWER, tag_key="team", tag_value="web")


def test_tag_value_may_be_empty() -> None:
    result = command("grant U1AB viewer --tag env=")
    assert result == GrantCommand("U1AB", Role.VIEWER, tag_key="env", tag_value="")


@pytest.mark.parametrize("tag", ["env", "=prod", "--tag"])
def test_bad_tag_is_an_error(tag: str) -> None:
    assert problems(command(f"grant U1AB viewer --tag {tag}"))


@pytest.mark.parametrize(
    "subject", ["@alice", "alice", "<@alice>", "<!subteam^U1AB>", "<#C123|ops>", "u123abc"]
)
def test_bad_subject_is_an_error_quoting_it(subject: str) -> None:
    [problem] = problems(command(f"grant {subject} viewer"))
    assert f"`{subject}`" in problem


def test_unknown_role_is_an_error_listing_the_roles() -> None:
    [problem] = problems(command("revoke U1AB superuser"))
    assert "`superuser`" in problem
    assert all(role.value in problem for role in Role)


@pytest.mark.parametrize("text", ["grant", "grant U1AB", "revoke <@U1AB|a>"])
def test_grant_without_subject_or_role_is_an_error(text: str) -> None:
    assert "needs a user or group and a role" in problems(command(text))[0]


def test_grant_reports_every_problem_at_once() -> None:
    found = problems(command("grant alice boss extra --force --tag nope --region X"))
    assert len(found) == 6, found  # subject, role, extra, --force, tag, region


# ── properties ────────────────────────────────────────────────────────────────────

valid_ids = st.from_regex(r"i-[a-z0-9]{8,30}", fullmatch=True)
separators = st.lists(
    st.sampled_from([" ", ",", ";", "\n", "\t", ", ", " ;\n", "\r\n"]), min_size=1
)


@given(st.text())
def test_never_crashes_on_arbitrary_text(text: str) -> None:
    assert isinstance(instances(text, region=None), InstanceListParse)
    command(text)
    command(text, region=None, limit=0)


@given(st.lists(st.one_of(valid_ids, st.text(), st.sampled_from(["i-", "/", ":", "--region"]))))
def test_never_accepts_an_invalid_id(pieces: list[str]) -> None:
    text = " ".join(pieces)
    listed = instances(text)
    assert all(VALID_ID.match(ref.instance_id) for ref in listed.instances)
    parsed = command(text)
    if isinstance(parsed, RebootCommand):
        assert parsed.instances
        assert all(VALID_ID.match(ref.instance_id) for ref in parsed.instances)
    elif isinstance(parsed, CommandError):
        # A refusal still has to say why, in a sentence per problem.
        assert parsed.problems
        assert all(problem.strip() for problem in parsed.problems)
    else:
        assert isinstance(
            parsed, HelpCommand | StatusCommand | RolesCommand | GrantCommand | RevokeCommand
        )


@given(st.lists(st.sampled_from([ID_A, ID_B, ID_C, f"us-west-1/{ID_A}", "i-1234567890"])))
def test_no_duplicates_and_first_seen_order(tokens: list[str]) -> None:
    parsed = instances(" ".join(tokens))
    expected = [InstanceRef(*t.split("/")) if "/" in t else InstanceRef(HZ, t) for t in tokens]
    assert list(parsed.instances) == list(dict.fromkeys(expected))
    assert len(parsed.instances) + len(parsed.duplicates) == len(tokens)


@given(st.lists(valid_ids, min_size=1, unique=True), st.data())
def test_valid_ids_joined_by_any_separators_round_trip(ids: list[str], data: st.DataObject) -> None:
    text = ids[0]
    for instance_id in ids[1:]:
        text += "".join(data.draw(separators)) + instance_id
    parsed = instances(text)
    assert parsed.ok, parsed.errors
    assert parsed.instances == refs(*ids)
    assert command(text) == RebootCommand(refs(*ids))


@given(st.lists(valid_ids, unique=True, max_size=12), st.integers(min_value=0, max_value=12))
def test_count_limit_holds(ids: list[str], limit: int) -> None:
    parsed = instances(" ".join(ids), limit=limit)
    too_many = any("Too many" in m for m in messages(parsed))
    assert too_many == (len(ids) > limit)
    if isinstance(result := command(" ".join(ids), limit=limit), RebootCommand):
        assert len(result.instances) <= limit


# --- --reason (docs/PRODUCT.md §4) -------------------------------------------------------------

_ID = "i-bp1abcd00000001"


def _reason_of(text: str, *, require_reason: bool = False) -> object:
    parsed = parse_command(
        text, default_region="cn-hangzhou", max_instances=10, require_reason=require_reason
    )
    return parsed.reason if isinstance(parsed, RebootCommand) else parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f'{_ID} --reason "disk full, again"', "disk full, again"),
        (f"--reason 'kernel panic' {_ID}", "kernel panic"),
        (f"{_ID} --reason “slack curly quotes”", "slack curly quotes"),
        (f"{_ID} --reason ‘single curly’", "single curly"),
        (f"{_ID} --reason oom", "oom"),
        (f"{_ID} --reason=oom", "oom"),
        (f"{_ID} —reason oom", "oom"),
        (f"{_ID} --reason 'it's late'", "it's late"),
        # The flag's name in any case, as the regex reads it (long s included): the
        # quick look for the name before the regex must not miss one it would find.
        (f"{_ID} --REASON oom", "oom"),
        (f"{_ID} --REAſON oom", "oom"),
        (_ID, None),
    ],
)
def test_reason_is_read_with_its_quotes_removed(text: str, reason: str | None) -> None:
    assert _reason_of(text) == reason


def test_an_unterminated_quote_is_listed_with_the_other_problems() -> None:
    parsed = parse_command(
        f'i-bad --reason "no end {_ID}', default_region="cn-hangzhou", max_instances=10
    )
    assert isinstance(parsed, CommandError)
    assert any("never closed" in problem for problem in parsed.problems)
    assert any("i-bad" in problem for problem in parsed.problems)


@pytest.mark.parametrize(
    "text", [f"{_ID} --reason", f'{_ID} --reason ""', f"{_ID} --reason --force"]
)
def test_a_reason_flag_without_text_is_an_error(text: str) -> None:
    assert isinstance(_reason_of(text), CommandError)


def test_a_required_reason_is_an_error_when_missing_and_fine_when_given() -> None:
    missing = _reason_of(_ID, require_reason=True)
    assert isinstance(missing, CommandError)
    assert any("--reason" in problem for problem in missing.problems)
    assert _reason_of(f"{_ID} --reason patch", require_reason=True) == "patch"


def test_reason_does_not_apply_to_other_commands() -> None:
    parsed = parse_command("status abc --reason x", default_region=None, max_instances=10)
    assert isinstance(parsed, CommandError)
    assert "`--reason` does not apply to `status`." in parsed.problems


# ── selectors (docs/PRODUCT.md §4) ─────────────────────────────────────────────────────────

SH = "cn-shanghai"


def reboot(text: str, *, region: str | None = HZ, limit: int = 500) -> RebootCommand:
    result = command(text, region=region, limit=limit)
    assert isinstance(result, RebootCommand), result
    return result


def test_a_tag_selector_resolves_in_the_default_region() -> None:
    result = reboot("tag:app=web")
    assert result.selectors == (TagSelector("app", "web"),)
    assert result.search_regions == (HZ,)
    assert result.instances == ()


def test_selectors_and_ids_mix_freely_and_form_one_filter() -> None:
    result = reboot(f"tag:app=web {ID_A}, name:web-* ; tag:env=prod\n{ID_B}")
    assert result.selectors == (
        TagSelector("app", "web"),
        NameSelector("web-*"),
        TagSelector("env", "prod"),
    )
    assert InstanceFilter.of(result.selectors) == InstanceFilter(
        tags=(("app", "web"), ("env", "prod")), names=("web-*",)
    )
    assert result.instances == refs(ID_A, ID_B)


def test_a_repeated_selector_is_kept_once() -> None:
    assert reboot("tag:app=web tag:app=web").selectors == (TagSelector("app", "web"),)


def test_a_selector_on_a_console_line_is_a_selector_not_an_ignored_column() -> None:
    result = reboot(f"web-01 tag:env=prod {ID_A} Running 172.16.0.5")
    assert result.selectors == (TagSelector("env", "prod"),)
    assert result.instances == refs(ID_A)


def test_a_tag_value_may_hold_an_equals_sign_and_a_name_an_id_like_text() -> None:
    result = reboot("tag:query=a=b name:i-web*")
    assert result.selectors == (TagSelector("query", "a=b"), NameSelector("i-web*"))
    assert result.instances == ()


def test_region_list_resolves_selectors_in_every_region() -> None:
    for text in (
        f"--region {HZ},{SH} tag:app=web",
        f"--region={HZ},{SH} tag:app=web",
        f"tag:app=web --region {HZ},{SH},{HZ}",
    ):
        result = reboot(text, region=None)
        assert result.search_regions == (HZ, SH), text
        assert result.regions == (HZ, SH)
        assert result.region is None


def test_with_several_regions_ids_need_their_own_region() -> None:
    result = reboot(f"--region {HZ},{SH} tag:app=web {SH}/{ID_A}")
    assert result.instances == (InstanceRef(SH, ID_A),)
    [problem] = problems(command(f"--region {HZ},{SH} tag:app=web {ID_B}"))
    assert f"`{ID_B}`" in problem
    assert "REGION/i-" in problem


def test_with_one_region_ids_take_it() -> None:
    assert reboot(f"--region {SH} tag:app=web {ID_A}").instances == refs(ID_A, region=SH)


def test_a_comma_and_a_space_after_a_region_list_start_the_targets() -> None:
    result = reboot(f"--region {SH}, {ID_A}", region=None)
    assert result.instances == refs(ID_A, region=SH)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tag:=web", "`tag:=web`"),
        ("tag:app", "`tag:app`"),
        ("tag:app=", "`tag:app=`"),
        ("tag:", "`tag:`"),
        ("name:", "`name:`"),
        ("TAG:app", "`TAG:app`"),
        ("tag:" + "k" * 129 + "=v", "not a valid selector"),
    ],
)
def test_a_malformed_selector_is_an_error_quoting_it(text: str, expected: str) -> None:
    for line in (text, f"{ID_A} web-01 {text} Running"):
        [problem] = problems(command(line))
        assert expected in problem
        assert "selector" in problem


def test_every_selector_problem_at_once() -> None:
    found = problems(command("tag:=web tag:app name: tag:app=web", region=None))
    assert len(found) == 4, found  # three malformed, and no region for the good one
    assert any("ECSBOT_DEFAULT_REGION" in p for p in found)


def test_a_selector_with_neither_region_nor_default_is_an_error() -> None:
    [problem] = problems(command("name:web-*", region=None))
    assert "--region" in problem
    assert "ECSBOT_DEFAULT_REGION" in problem
    assert "`name:web-*`" in problem


@pytest.mark.parametrize(
    ("region_list", "flaw"),
    [
        (f"{HZ},,{SH}", "empty region"),
        (f"{HZ},{SH},,cn-beijing", "empty region"),
        (f"{HZ},Shanghai", "`Shanghai`"),
        (f"{HZ},cn-shanghai-b", "`cn-shanghai-b`"),
    ],
)
def test_a_malformed_region_list_is_an_error(region_list: str, flaw: str) -> None:
    found = problems(command(f"--region {region_list} tag:app=web"))
    assert any(flaw in p for p in found), found


def test_region_flag_followed_by_a_selector_keeps_the_selector() -> None:
    found = problems(command("--region tag:app=web", region=None))
    assert any("needs a value" in p for p in found)


def test_grant_takes_one_region_only() -> None:
    assert "not a list" in problems(command(f"grant U1AB viewer --region {HZ},{SH}"))[0]


def test_a_selector_in_a_bare_instance_list_is_an_error() -> None:
    parsed = instances(f"{ID_A} tag:app=web")
    assert parsed.instances == refs(ID_A)
    assert any("`tag:app=web`" in m for m in messages(parsed))


def test_filter_matching_follows_ecs() -> None:
    web = InstanceFilter(tags=(("app", "web"),), names=("web-*",))
    assert web.matches("web-01", {"app": "web", "env": "prod"})
    assert not web.matches("db-01", {"app": "web"})
    assert not web.matches("web-01", {"app": "db"})
    assert InstanceFilter(names=("web",)).matches("web", {})
    assert not InstanceFilter(names=("web",)).matches("web-01", {})
    assert InstanceFilter(names=("*-0?",)).matches("a-0?", {})  # only `*` is special
    assert InstanceFilter.of([TagSelector("a", "1"), TagSelector("a", "2")]).contradictory


# ── selector properties ───────────────────────────────────────────────────────────

selector_text = st.text(
    alphabet=st.characters(
        blacklist_characters=" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029,;()[]{}<>\"'`“”‘’",
        blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
    ),
    min_size=1,
    max_size=40,
)
tag_selectors = st.builds(
    TagSelector, selector_text.filter(lambda key: "=" not in key), selector_text
)
name_selectors = st.builds(NameSelector, selector_text)
selectors_strategy = st.lists(st.one_of(tag_selectors, name_selectors), min_size=1, max_size=6)


@given(selectors_strategy, st.lists(valid_ids, unique=True, max_size=4), st.data())
def test_selectors_round_trip_with_ids(
    chosen: list[TagSelector | NameSelector], ids: list[str], data: st.DataObject
) -> None:
    tokens: list[str] = [str(s) for s in chosen] + ids
    order = data.draw(st.permutations(tokens))
    text = "".join(
        token + data.draw(st.sampled_from([" ", ",", ";", "\n", " , "])) for token in order
    )
    result = reboot(text)
    assert set(result.selectors) == set(chosen)
    assert len(result.selectors) == len(set(chosen))
    assert set(result.instances) == set(refs(*ids))
    assert result.search_regions == (HZ,)
    for selector in result.selectors:
        assert read_selector(str(selector)) == selector


@given(
    st.sampled_from(["tag:", "name:", "TAG:", "Name:"]),
    st.sampled_from(["", "=", "=web", "=x=y"]),
    st.lists(valid_ids, max_size=3),
)
def test_malformed_selectors_are_always_errors(prefix: str, body: str, ids: list[str]) -> None:
    token = prefix + body
    broken = body in ("", "=", "=web", "=x=y") if prefix.lower() == "tag:" else body == ""
    result = command(" ".join([*ids, token]))
    if broken:
        assert isinstance(result, CommandError)
        assert any(f"`{token}`" in p for p in result.problems)
    else:
        assert isinstance(result, RebootCommand)


@given(st.text(), st.sampled_from(["tag:", "name:", "--region ", "--region=", ","]))
def test_never_crashes_with_selector_pieces(text: str, piece: str) -> None:
    for joined in (piece + text, text + piece, f"{piece}{text} {piece}"):
        result = command(joined)
        if isinstance(result, RebootCommand):
            assert result.instances or result.selectors
        command(joined, region=None, limit=0)


def test_a_name_selector_close_to_a_keyword_is_a_selector() -> None:
    # Hypothesis found `name:DULED` read as a mistyped `scheduled`.
    parsed = parse_command("name:DULED", default_region="cn-hangzhou", max_instances=500)
    assert isinstance(parsed, RebootCommand)
    assert [str(s) for s in parsed.selectors] == ["name:DULED"]


# ── ids alone, read in one pass (bot/domain/parser/targets.read_only_ids) ──────────────────

_POOL_IDS = st.sampled_from(["i-abcdefgh01", "i-abcdefgh02", "i-bp1234567890abcdef"])
_ID_WORDS = st.tuples(
    st.sampled_from(["", "cn-hangzhou/", "us-west-1:", "cn-shanghai/"]),
    _POOL_IDS | st.from_regex(r"i-[a-z0-9]{8,30}", fullmatch=True),
).map("".join)
_GAPS = st.sampled_from([" ", ",", ";", "\n", ", ", " ;\t", "\r\n", ",,", "\u2028"])


@given(
    words=st.lists(_ID_WORDS, min_size=1, max_size=12),
    gaps=st.lists(_GAPS, min_size=13, max_size=13),
    reason=st.sampled_from(
        ["", " --reason oom", ' --reason "disk full"', " --reason", " —Reason x"]
    ),
    default_region=st.sampled_from([None, "cn-hangzhou"]),
    max_instances=st.integers(min_value=1, max_value=12),
    require_reason=st.booleans(),
)
def test_ids_alone_read_as_word_by_word(
    words: list[str],
    gaps: list[str],
    reason: str,
    default_region: str | None,
    max_instances: int,
    require_reason: bool,
) -> None:
    """A text of nothing but ids (and a reason, cut out first) takes the one-regex way
    (read_only_ids); it must read as the same text does word by word. A leading `()` adds
    no word, but sends a text the word by word way, since the one-regex way only reads
    spaces, commas and semicolons."""
    text = (
        gaps[0] + "".join(word + gap for word, gap in zip(words, gaps[1:], strict=False)) + reason
    )
    assert read_only_ids(take_reason(text)[0], region=default_region, max_instances=99) is not None
    at_once, word_by_word = (
        parse_command(
            written,
            default_region=default_region,
            max_instances=max_instances,
            require_reason=require_reason,
        )
        for written in (text, "()" + text)
    )
    assert at_once == word_by_word


@pytest.mark.parametrize(
    "text",
    [
        "i-abcdefgh01 --force",
        "i-abcdefgh01i-abcdefgh02",
        "i-abcdefgh01 web-01",
        "i-abcdefgh01 tag:env=prod",
        "status i-abcdefgh01",
        "(i-abcdefgh01)",
        "i-" + "a" * 31,
        "cn-hangzhou-h/i-abcdefgh01",
        "",
    ],
)
def test_anything_but_ids_is_read_word_by_word(text: str) -> None:
    assert read_only_ids(text, region="cn-hangzhou", max_instances=10) is None

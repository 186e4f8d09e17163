"""Putting a command together: the keyword, its arguments and the options that apply.

``parse_command`` is the one entry point for the text of a slash command; each
command's reading lives in a function of its own below.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Sequence

from bot.domain.commands import (
    Command,
    CommandError,
    GrantCommand,
    HelpCommand,
    RebootCommand,
    RevokeCommand,
    RolesCommand,
    ScheduledCommand,
    StatusCommand,
)
from bot.domain.model import Role
from bot.domain.parser.flags import (
    GivenOptions,
    misuse_problems,
    read_options,
    reading_problems,
)
from bot.domain.parser.options import (
    ACCOUNT,
    ALL_AT_ONCE,
    AT,
    BATCH,
    CANARY,
    FORCE,
    HELP,
    IN,
    MAX_ERRORS,
    PAUSE_AFTER_CANARY,
    REASON,
    REGION,
    TABLE,
    TAG,
    WINDOW,
    Keyword,
    binding_usage,
)
from bot.domain.parser.reason import ReasonReading, take_reason
from bot.domain.parser.targets import read_instances, read_only_ids
from bot.domain.parser.words import (
    ID_ATTEMPT,
    Word,
    by_line,
    is_valid_id_word,
    quote,
    quote_list,
    split_words,
)
from bot.domain.rollout import RolloutFlags
from bot.domain.schedule import When, WhenProblem
from bot.domain.selectors import is_selector_word

_KEYWORDS = tuple(keyword.value for keyword in Keyword if keyword is not Keyword.REBOOT)
_USER_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>")
_GROUP_MENTION = re.compile(r"<!subteam\^(?P<id>S[A-Z0-9]+)(?:\|[^>]*)?>")
_BARE_SUBJECT = re.compile(r"[UWS][A-Z0-9]{2,}")


def parse_command(
    text: str,
    *,
    default_region: str | None,
    max_instances: int,
    require_reason: bool = False,
    place_when: Callable[[When], WhenProblem | None] | None = None,
) -> Command:
    """Read the text of an ``/ecs-reboot`` slash command (docs/PRODUCT.md §4).

    Returns one command, or a ``CommandError`` that lists every problem at once.
    ``default_region`` is ``ECSBOT_DEFAULT_REGION``, ``max_instances`` is
    ``ECSBOT_MAX_INSTANCES`` and ``require_reason`` is ``ECSBOT_REQUIRE_REASON``.
    ``place_when`` checks a WHEN on the clock (too soon, too far, an unknown window:
    ``bot.domain.schedule.resolve_when`` with the caller's ``now`` and settings), so its
    problem is reported with every other one; the parser itself knows no clock.
    """
    text, reason = take_reason(text)
    only_ids = read_only_ids(text, region=default_region, max_instances=max_instances)
    if only_ids is not None:
        # Nothing but instance ids, as they are usually pasted: read at once, as the
        # words below would be (no option, keyword or selector among them).
        ids_command = RebootCommand(only_ids.instances, duplicates=only_ids.duplicates)
        problems = reason.problems + [problem.message for problem in only_ids.errors]
        return _with_reason(ids_command, reason, problems, require_reason=require_reason)
    words = split_words(text, list_options=TABLE.list_options())
    options, operands = read_options(words, TABLE)
    if reason.given:
        options.given.append(REASON.name)
    if (not words and not reason.given) or options.has(HELP):
        return HelpCommand()
    first = operands[0].text.lower() if operands else ""
    keyword = Keyword(first) if first in _KEYWORDS else Keyword.REBOOT
    arguments = [word.text for word in operands[1:]]
    problems = reading_problems(keyword, options, TABLE) + reason.problems
    problems += misuse_problems(keyword, options, TABLE)
    command: Command
    if keyword in (Keyword.HELP, Keyword.ROLES, Keyword.SCHEDULED):
        problems += _reject_arguments(keyword.value, arguments)
        if keyword is Keyword.HELP:
            command = HelpCommand()
        elif keyword is Keyword.ROLES:
            command = RolesCommand()
        else:
            command = ScheduledCommand()
    elif keyword is Keyword.STATUS:
        command = _status_command(arguments, problems)
    elif keyword in (Keyword.GRANT, Keyword.REVOKE):
        command = _binding_command(keyword, arguments, options, problems)
    else:
        command = _reboot_command(
            operands, options, problems, default_region=default_region, max_instances=max_instances
        )
        if command.when is not None and place_when is not None:
            placed = place_when(command.when)
            if placed is not None:
                problems.append(placed.message)
        return _with_reason(command, reason, problems, require_reason=require_reason)
    return CommandError(tuple(problems)) if problems else command


def _with_reason(
    command: RebootCommand, reason: ReasonReading, problems: list[str], *, require_reason: bool
) -> RebootCommand | CommandError:
    """The reboot with its ``--reason``, or every problem found, a missing reason too."""
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
    return [f"`{keyword}` takes no arguments; remove {quote_list(arguments)}."]


def _status_command(arguments: list[str], problems: list[str]) -> StatusCommand:
    if not arguments:
        problems.append("`status` needs a request id: `/ecs-reboot status REQUEST_ID`.")
        return StatusCommand("")
    problems += _reject_arguments("status REQUEST_ID", arguments[1:])
    return StatusCommand(arguments[0])


def _binding_command(
    keyword: Keyword, arguments: list[str], options: GivenOptions, problems: list[str]
) -> GrantCommand | RevokeCommand:
    if len(arguments) < 2:
        problems.append(
            f"`{keyword.value}` needs a user or group and a role: {binding_usage(keyword)}."
        )
    subject = _read_subject(arguments[0], problems) if arguments else ""
    role = _read_role(arguments[1], problems) if len(arguments) > 1 else Role.VIEWER
    problems += _reject_arguments(f"{keyword.value} SUBJECT ROLE", arguments[2:])
    tag_key, tag_value = options.get(TAG) or (None, None)
    regions = options.get(REGION) or ()
    region = regions[0] if regions else None
    accounts = options.get(ACCOUNT) or ()
    account = accounts[0] if accounts else None
    if keyword is Keyword.GRANT:
        return GrantCommand(subject, role, region, tag_key, tag_value, account)
    return RevokeCommand(subject, role, region, tag_key, tag_value, account)


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
        f"{quote(text)} is not a Slack user or user group: pick them from the @ menu "
        "so Slack sends their id, or give the id itself (`U…`, `W…` or `S…`)."
    )
    return ""


def _read_role(text: str, problems: list[str]) -> Role:
    try:
        return Role(text.lower())
    except ValueError:
        roles = ", ".join(f"`{role.value}`" for role in Role)
        problems.append(f"{quote(text)} is not a role; the roles are {roles}.")
        return Role.VIEWER


def _rollout(options: GivenOptions) -> RolloutFlags:
    return RolloutFlags(
        batch=options.get(BATCH),
        canary=options.get(CANARY),
        max_errors=options.get(MAX_ERRORS),
        pause_after_canary=options.has(PAUSE_AFTER_CANARY),
        all_at_once=options.has(ALL_AT_ONCE),
    )


def _reboot_command(
    operands: list[Word],
    options: GivenOptions,
    problems: list[str],
    *,
    default_region: str | None,
    max_instances: int,
) -> RebootCommand:
    force = options.has(FORCE)
    given_regions = options.get(REGION)
    regions = given_regions or ()
    if operands and _looks_like_mistyped_keyword(operands[0], operands):
        # The rest was written for that other command: judging it as instances
        # would only bury the one useful hint.
        close = difflib.get_close_matches(operands[0].text.lower(), _KEYWORDS, n=1)[0]
        problems.append(f"Unknown command {quote(operands[0].text)}. Did you mean `{close}`?")
        return RebootCommand((), force, None, regions=regions)
    single = regions[0] if len(regions) == 1 else None
    parsed = read_instances(
        by_line(operands),
        region=single or default_region,
        max_instances=max_instances,
        several_regions=regions if len(regions) > 1 else (),
    )
    problems += [problem.message for problem in parsed.errors]
    search_regions: tuple[str, ...] = ()
    if parsed.selectors:
        search_regions = regions or ((default_region,) if default_region else ())
        if not search_regions and given_regions is None:
            problems.append(
                f"No region to look {quote_list([str(s) for s in parsed.selectors])} up in: "
                "add `--region REGION[,REGION…]`, or set ECSBOT_DEFAULT_REGION."
            )
    return RebootCommand(
        parsed.instances,
        force,
        single,
        parsed.duplicates,
        _rollout(options),
        selectors=parsed.selectors,
        regions=regions,
        search_regions=search_regions,
        when=options.get(AT) or options.get(IN) or options.get(WINDOW),
        accounts=options.get(ACCOUNT) or (),
    )


def _looks_like_mistyped_keyword(first: Word, operands: list[Word]) -> bool:
    # Only a word that would be an error anyway gets the hint: a console line whose
    # first column is a host called `helper` is still a console line.
    # A selector (`name:duled`) is a target, however close it looks to a keyword.
    if (
        ID_ATTEMPT.fullmatch(first.text)
        or is_selector_word(first.text)
        or any(is_valid_id_word(word.text) for word in operands if word.line == first.line)
    ):
        return False
    return bool(difflib.get_close_matches(first.text.lower(), _KEYWORDS, n=1))

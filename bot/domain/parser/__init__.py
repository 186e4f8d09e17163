"""What people type after ``/ecs-reboot``, read into commands (docs/PRODUCT.md §4).

Pure: text in, frozen values out; no I/O and no framework. Nothing here raises on bad
input: every problem becomes a sentence for the person who typed it, all of them at
once, because a chat user fixes a whole paste in one go rather than one token a time.

Two entry points:

* ``parse_command`` reads the whole slash-command text into a ``Command``.
* ``parse_instances`` reads just an INSTANCES list (pasted ids, console lines).

The parts, each with one job:

* ``words``: splitting text into words; the shapes of ids, regions and options.
* ``options``: the option table, from which everything about options derives.
* ``flags``: reading the options typed, and judging them for the command at hand.
* ``reason``: ``--reason``'s quoted text, cut out before the words are split.
* ``targets``: instance ids, console lines and selectors.
* ``command``: the keyword, its arguments and options, put together.
"""

from bot.domain.commands import (
    Command,
    CommandError,
    GrantCommand,
    HelpCommand,
    RebootCommand,
    RevokeCommand,
    RoleBindingCommand,
    RolesCommand,
    StatusCommand,
)
from bot.domain.parser.command import parse_command
from bot.domain.parser.options import OPTIONS, REBOOT_EXAMPLE, REBOOT_USAGE, TABLE, Keyword
from bot.domain.parser.reason import MAX_REASON_CHARS
from bot.domain.parser.targets import InstanceListParse, ParseProblem, parse_instances
from bot.domain.parser.words import (
    ID_RULE,
    INSTANCE_ID_PATTERN,
    REGION_ID_PATTERN,
    SELECTOR_RULE,
)

__all__ = [
    "ID_RULE",
    "INSTANCE_ID_PATTERN",
    "MAX_REASON_CHARS",
    "OPTIONS",
    "REBOOT_EXAMPLE",
    "REBOOT_USAGE",
    "REGION_ID_PATTERN",
    "SELECTOR_RULE",
    "TABLE",
    "Command",
    "CommandError",
    "GrantCommand",
    "HelpCommand",
    "InstanceListParse",
    "Keyword",
    "ParseProblem",
    "RebootCommand",
    "RevokeCommand",
    "RoleBindingCommand",
    "RolesCommand",
    "StatusCommand",
    "parse_command",
    "parse_instances",
]

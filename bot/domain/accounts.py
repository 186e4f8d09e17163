"""Accounts (DESIGN §5.13): their names and the roles the bot assumes in them.

Pure: parsing ``ECSBOT_ACCOUNTS`` (``NAME=ROLE_ARN,…``) and the name lists of
``ECSBOT_DEFAULT_ACCOUNT`` and ``ECSBOT_APPROVALS_FOR_ACCOUNTS``. Without
``ECSBOT_ACCOUNTS`` there is one account, ``default``, used with the bot's own identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

DEFAULT_ACCOUNT: Final = "default"
ACCOUNT_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
# acs:ram::<16-digit account uid>:role/<role name> (RAM role names: 1..64 of
# letters, digits, '.' and '-').
ROLE_ARN: Final = re.compile(r"acs:ram::\d{16}:role/[A-Za-z0-9.\-]{1,64}")


def parse_accounts(text: str) -> dict[str, str]:
    """``prod=acs:ram::1234567890123456:role/ecs-reboot-bot,staging=…`` as name → role
    ARN, in the order given. Raises ValueError saying which entry is wrong and why."""
    accounts: dict[str, str] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, equals, arn = (part.strip() for part in entry.partition("="))
        if not equals or not name or not arn:
            raise ValueError(f"{entry!r} is not NAME=ROLE_ARN")
        if not ACCOUNT_NAME.fullmatch(name):
            raise ValueError(
                f"account name {name!r} must be 1-31 lower-case letters, digits or '-', "
                "starting with a letter or digit"
            )
        if not ROLE_ARN.fullmatch(arn):
            raise ValueError(
                f"account {name}: {arn!r} is not a role ARN (acs:ram::<16-digit account "
                "id>:role/<role name>)"
            )
        if name in accounts:
            raise ValueError(f"account {name!r} is named twice")
        accounts[name] = arn
    if not accounts:
        raise ValueError("names no account")
    return accounts


def parse_account_names(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of account names, each one of ``known``. Raises
    ValueError naming the unknown ones and listing the known."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown account {', '.join(unknown)} (known: {', '.join(known)})")
    return names


@dataclass(frozen=True)
class AccountProblem:
    """Why a command cannot say which accounts it acts in: ``unknown`` names, none named
    while several are configured and none is the default (``unknown`` empty), or ids
    given without a selector while several accounts are named (``bare_ids``)."""

    known: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    bare_ids: bool = False


def command_accounts(
    named: tuple[str, ...],
    known: tuple[str, ...],
    default: str | None,
    *,
    bare_ids: bool = False,
) -> tuple[str, ...] | AccountProblem:
    """The accounts a reboot command acts in (§5.13): the ones it names (``--account``),
    else ``ECSBOT_DEFAULT_ACCOUNT``, else the only one there is. Ids given as such belong
    to one account, so ``bare_ids`` with several accounts is a problem, as with regions."""
    if named:
        unknown = tuple(name for name in named if name not in known)
        if unknown:
            return AccountProblem(known, unknown)
        accounts = tuple(dict.fromkeys(named))
    elif default is not None:
        accounts = (default,)
    elif len(known) == 1:
        accounts = known
    else:
        return AccountProblem(known)
    if bare_ids and len(accounts) > 1:
        return AccountProblem(known, bare_ids=True)
    return accounts

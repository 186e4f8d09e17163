"""Simulated Alibaba Cloud accounts (DESIGN §5.13, ``simulator --accounts prod,staging``).

The *home* account owns the simulator's key pair (the bot's own identity) and the fleet
the simulator always had. Each *member* account has its own fleet (its own instance ids:
ids are unique across accounts, as on the real cloud) and one RAM role,
``acs:ram::<uid>:role/ecs-reboot-bot``, whose trust policy names the home account, the
way a Resource Directory member's role trusts the management account. Which fleet an ECS
call sees is decided by the credentials that signed it: the key pair → home; temporary
keys → the account of the role they were issued for.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from bot.simulator.api import EcsApi
from bot.simulator.fleet import Fleet
from bot.simulator.sts import ACCOUNT_ID

HOME = "home"
HOME_ACCOUNT_ID = ACCOUNT_ID
MEMBER_ROLE_NAME = "ecs-reboot-bot"
ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
_ARN_ACCOUNT = re.compile(r"acs:ram::(\d+):")


@dataclass(frozen=True)
class Account:
    """One simulated account: its name, 16-digit uid, instances and ECS API."""

    name: str
    account_id: str
    fleet: Fleet
    api: EcsApi

    @property
    def role_arn(self) -> str:
        """The role the bot assumes in this account (members only; home has the
        simulator's configured roles instead)."""
        return f"acs:ram::{self.account_id}:role/{MEMBER_ROLE_NAME}"


def member_account_id(name: str) -> str:
    """A stable 16-digit uid for a member account name (never the home uid)."""
    return f"2{zlib.crc32(name.encode('utf-8')):015d}"


def account_id_of_arn(arn: str) -> str | None:
    """The account uid in ``acs:ram::<uid>:…``, or None."""
    match = _ARN_ACCOUNT.match(arn)
    return match.group(1) if match else None


def parse_account_names(names: str | list[str] | tuple[str, ...]) -> list[str]:
    """Member account names, validated (``[a-z0-9][a-z0-9-]{0,30}``, distinct, not
    ``home``). Raises ValueError naming the bad one."""
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    items = [n for n in items if n]
    for name in items:
        if not ACCOUNT_NAME.fullmatch(name):
            raise ValueError(f"account name {name!r} must match [a-z0-9][a-z0-9-]{{0,30}}")
        if name == HOME:
            raise ValueError(f"{HOME!r} is the simulator's own account; name members otherwise")
    if len(set(items)) != len(items):
        raise ValueError("account names must be distinct")
    return items

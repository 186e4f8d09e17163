"""``ECSBOT_ACCOUNTS`` and the account name lists (DESIGN §5.13), as plain values."""

from __future__ import annotations

import pytest

from bot.domain.accounts import parse_account_names, parse_accounts
from bot.settings import SettingsError, load_settings

PROD = "acs:ram::1234567890123456:role/ecs-reboot-bot"
STAGING = "acs:ram::6543210987654321:role/ecs-reboot-bot"


def test_accounts_parse_in_order() -> None:
    assert parse_accounts(f" prod={PROD} , staging = {STAGING},") == {
        "prod": PROD,
        "staging": STAGING,
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("prod", "not NAME=ROLE_ARN"),
        (f"={PROD}", "not NAME=ROLE_ARN"),
        (f"Prod={PROD}", "lower-case"),
        (f"-prod={PROD}", "lower-case"),
        (f"{'a' * 32}={PROD}", "lower-case"),
        ("prod=acs:ram::123:role/x", "not a role ARN"),
        ("prod=acs:ram::1234567890123456:user/x", "not a role ARN"),
        (f"prod={PROD},prod={STAGING}", "named twice"),
        (" , ", "names no account"),
    ],
)
def test_malformed_accounts_say_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_accounts(text)


def test_name_lists_must_name_known_accounts() -> None:
    assert parse_account_names("prod, prod,staging", ("prod", "staging")) == ("prod", "staging")
    with pytest.raises(ValueError, match=r"unknown account dev \(known: prod, staging\)"):
        parse_account_names("prod,dev", ("prod", "staging"))


def test_settings_without_accounts_have_one_named_default() -> None:
    settings = load_settings()
    assert (settings.account_roles, settings.account_names) == ({}, ("default",))
    assert load_settings(ECSBOT_DEFAULT_ACCOUNT="default").default_account == "default"


def test_settings_with_accounts() -> None:
    settings = load_settings(
        ECSBOT_ACCOUNTS=f"prod={PROD},staging={STAGING}",
        ECSBOT_DEFAULT_ACCOUNT="staging",
        ECSBOT_APPROVALS_FOR_ACCOUNTS="prod",
    )
    assert settings.account_roles == {"prod": PROD, "staging": STAGING}
    assert settings.account_names == ("prod", "staging")
    assert settings.default_account == "staging"
    assert settings.approvals_for_accounts == ("prod",)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"ECSBOT_ACCOUNTS": "prod=nope"}, "ECSBOT_ACCOUNTS"),
        ({"ECSBOT_ACCOUNTS": f"prod={PROD}", "ECSBOT_DEFAULT_ACCOUNT": "default"}, "DEFAULT"),
        ({"ECSBOT_ACCOUNTS": f"prod={PROD}", "ECSBOT_DEFAULT_ACCOUNT": "prod,x"}, "DEFAULT"),
        ({"ECSBOT_APPROVALS_FOR_ACCOUNTS": "prod"}, "ECSBOT_APPROVALS_FOR_ACCOUNTS"),
    ],
)
def test_bad_account_settings_name_the_setting(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named) as raised:
        load_settings(**overrides)
    assert "\n" not in str(raised.value)

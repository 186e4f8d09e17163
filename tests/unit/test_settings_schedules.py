"""The settings of scheduled reboots (docs/PRODUCT.md §3, §5.10): defaults, and one line
naming a bad one at start-up."""

from __future__ import annotations

from datetime import time

import pytest

from bot.settings import Settings, SettingsError, load_settings
from bot.testing.settings import default_env


def _load(**overrides: str) -> Settings:
    return load_settings(**{**default_env(), **overrides})


def test_defaults() -> None:
    settings = _load()
    assert settings.timezone == "UTC"
    assert settings.schedule_min_lead == 60
    assert settings.schedule_max_ahead == 1209600
    assert settings.schedule_remind == 900
    assert settings.schedule_grace == 900
    assert settings.windows == {}


def test_windows_take_the_time_zone_by_default() -> None:
    settings = _load(
        ECSBOT_TIMEZONE="Europe/Berlin",
        ECSBOT_WINDOWS="nightly=Mon-Fri 02:00-04:00 Asia/Shanghai; weekend=Sat,Sun 00:00-06:00",
    )
    assert settings.windows["nightly"].tz == "Asia/Shanghai"
    assert settings.windows["weekend"].tz == "Europe/Berlin"
    assert settings.windows["weekend"].closes == time(6)


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"ECSBOT_TIMEZONE": "Mars/Olympus"},
            "ECSBOT_TIMEZONE is malformed: 'Mars/Olympus' is not an IANA time zone",
        ),
        ({"ECSBOT_SCHEDULE_MIN_LEAD": "-1"}, "ECSBOT_SCHEDULE_MIN_LEAD is malformed"),
        ({"ECSBOT_SCHEDULE_MAX_AHEAD": "soon"}, "ECSBOT_SCHEDULE_MAX_AHEAD is malformed"),
        (
            {"ECSBOT_SCHEDULE_MIN_LEAD": "600", "ECSBOT_SCHEDULE_MAX_AHEAD": "600"},
            "ECSBOT_SCHEDULE_MAX_AHEAD is malformed: must be more than ECSBOT_SCHEDULE_MIN_LEAD",
        ),
        ({"ECSBOT_SCHEDULE_REMIND": "x"}, "ECSBOT_SCHEDULE_REMIND is malformed"),
        ({"ECSBOT_SCHEDULE_GRACE": "-5"}, "ECSBOT_SCHEDULE_GRACE is malformed"),
        (
            {"ECSBOT_WINDOWS": "nightly=Mon-Fri 02:00-04:00; weekend=Sat,Sun 00:00"},
            "ECSBOT_WINDOWS is malformed: entry 2: window weekend: '00:00' is not HH:MM-HH:MM",
        ),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_it(
    overrides: dict[str, str], line: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        _load(**overrides)
    message = str(refused.value)
    assert message.startswith(line)
    assert "\n" not in message

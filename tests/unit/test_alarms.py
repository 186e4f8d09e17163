"""The pure rules of CloudMonitor alarms (bot.domain.alarms): reading a callback's form and
what an alarm does to the card of its rule and instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.alarms import (
    Alarm,
    AlarmProblem,
    AlarmState,
    CardChange,
    CardState,
    on_alarm,
    parse_alarm,
)

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
INSTANCE = "i-bp1alarm0000001"


def form(**changes: str) -> dict[str, str]:
    base = {
        "alertName": "cpu-high",
        "alertState": "ALERT",
        "curValue": "97.5",
        "dimensions": json.dumps({"userId": "1", "instanceId": INSTANCE}),
        "metricName": "CPUUtilization",
        "regionId": "cn-hangzhou",
        "ruleId": "rule-1",
        "timestamp": "1765000000000",
        "transId": "t-1",
    }
    return {**base, **changes}


def test_a_good_form_is_an_alarm() -> None:
    alarm = parse_alarm(form())
    assert isinstance(alarm, Alarm)
    assert (alarm.instance_id, alarm.region, alarm.state, alarm.rule) == (
        INSTANCE,
        "cn-hangzhou",
        AlarmState.ALERT,
        "rule-1",
    )
    assert alarm.at == datetime(2025, 12, 6, 5, 46, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"transId": ""}, "transId"),
        ({"alertState": "PANIC"}, "alertState"),
        ({"dimensions": "[1]"}, "dimensions"),
        ({"dimensions": json.dumps({"instanceId": "i-BAD"})}, "dimensions"),
        ({"dimensions": "not json"}, "dimensions"),
        ({"regionId": "Hangzhou"}, "regionId"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"alertName": "x" * 2000}, "alertName"),
    ],
)
def test_a_bad_field_is_named(changes: dict[str, str], field: str) -> None:
    problem = parse_alarm(form(**changes))
    assert isinstance(problem, AlarmProblem)
    assert problem.field == field


def test_without_a_rule_id_the_alarm_name_is_the_rule() -> None:
    alarm = parse_alarm(form(ruleId=""))
    assert isinstance(alarm, Alarm)
    assert alarm.rule == "cpu-high"


def _alarm(state: str = "ALERT", value: str = "97.5", trans_id: str = "t-1") -> Alarm:
    alarm = parse_alarm(form(alertState=state, curValue=value, transId=trans_id, timestamp=""))
    assert isinstance(alarm, Alarm)
    return alarm


def test_a_first_alert_opens_a_card_and_repeats_count_on_it() -> None:
    change, card = on_alarm(None, _alarm(), new_id="c1", channel="C1", now=NOW)
    assert change is CardChange.OPENED
    assert card is not None
    assert (card.id, card.count, card.state, card.first_at) == ("c1", 1, CardState.OPEN, NOW)
    later = NOW + timedelta(minutes=5)
    change, again = on_alarm(card, _alarm(value="99"), new_id="c2", channel="C1", now=later)
    assert change is CardChange.REPEATED
    assert again is not None
    assert (again.id, again.count, again.last_value, again.last_at) == ("c1", 2, "99", later)
    assert again.reason == "CloudMonitor: cpu-high (CPUUtilization = 99)"


def test_ok_recovers_an_open_card_and_is_nothing_without_one() -> None:
    _, card = on_alarm(None, _alarm(), new_id="c1", channel="C1", now=NOW)
    change, recovered = on_alarm(card, _alarm("OK", "40"), new_id="c2", channel="C1", now=NOW)
    assert change is CardChange.RECOVERED
    assert recovered is not None
    assert recovered.state is CardState.RECOVERED
    assert recovered.recovered_at == NOW
    assert on_alarm(None, _alarm("OK"), new_id="c3", channel="C1", now=NOW) == (
        CardChange.NONE,
        None,
    )
    assert (
        on_alarm(card, _alarm("INSUFFICIENT_DATA"), new_id="c4", channel="C1", now=NOW)[0]
        is CardChange.NONE
    )

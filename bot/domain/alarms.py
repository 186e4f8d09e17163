"""CloudMonitor alarms (docs/PRODUCT.md §5.12): reading the callback's form, and what an
alarm does to the card of its rule and instance. Pure: no I/O, ``now`` is an argument.

An alarm never reboots anything by itself. It makes (or updates) a card with a
**Reboot** button, and that button opens an ordinary preview under every rule of a
slash command.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.domain.parser import INSTANCE_ID_PATTERN

MAX_BODY_BYTES = 64 * 1024
"""CloudMonitor's callbacks are a few hundred bytes; anything this large is not one."""

# Bounds on what is stored and shown: a field longer than this is refused, not cut.
_MAX_FIELD = 1024
_REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+)+")


class AlarmState(enum.StrEnum):
    """``alertState`` as CloudMonitor sends it."""

    ALERT = "ALERT"
    OK = "OK"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class Alarm:
    """One callback, checked: what the card needs, nothing else."""

    trans_id: str
    state: AlarmState
    alert_name: str
    metric_name: str
    value: str
    instance_id: str
    region: str
    rule_id: str = ""
    metric_project: str = ""
    expression: str = ""
    trigger_level: str = ""
    at: datetime | None = None
    # The Alibaba Cloud account the instance belongs to (``dimensions.userId``), which
    # names one of ECSBOT_ACCOUNTS by its role ARN (docs/PRODUCT.md §5.13).
    owner_uid: str = ""

    @property
    def rule(self) -> str:
        """What identifies the alarm rule: CloudMonitor's rule id when it sends one,
        else the alarm's name."""
        return self.rule_id or self.alert_name


@dataclass(frozen=True)
class AlarmProblem:
    """A body that is not a usable alarm: which field, and what is wrong with it."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


def parse_alarm(form: Mapping[str, str]) -> Alarm | AlarmProblem:
    """The alarm a callback's form fields describe, or the first field that is wrong.

    ``dimensions`` is JSON text that must name one ECS instance (``instanceId``);
    ``regionId`` must be a region id. Fields the bot does not use are ignored.
    """
    for name, value in form.items():
        if len(value) > _MAX_FIELD:
            return AlarmProblem(name, f"longer than {_MAX_FIELD} characters")
    required = ("transId", "alertState", "alertName", "metricName", "dimensions", "regionId")
    for name in required:
        if not form.get(name, "").strip():
            return AlarmProblem(name, "missing")
    try:
        state = AlarmState(form["alertState"].strip())
    except ValueError:
        return AlarmProblem("alertState", "must be ALERT, OK or INSUFFICIENT_DATA")
    instance_id = _instance_of(form["dimensions"])
    if isinstance(instance_id, AlarmProblem):
        return instance_id
    owner = json.loads(form["dimensions"]).get("userId")
    region = form["regionId"].strip()
    if not _REGION.fullmatch(region):
        return AlarmProblem("regionId", "not a region id")
    at = _timestamp(form.get("timestamp", ""))
    if isinstance(at, AlarmProblem):
        return at
    return Alarm(
        trans_id=form["transId"].strip(),
        state=state,
        alert_name=form["alertName"].strip(),
        metric_name=form["metricName"].strip(),
        value=form.get("curValue", "").strip(),
        instance_id=instance_id,
        region=region,
        rule_id=form.get("ruleId", "").strip(),
        metric_project=form.get("metricProject", "").strip(),
        expression=form.get("expression", "").strip(),
        trigger_level=form.get("triggerLevel", "").strip(),
        at=at,
        owner_uid=str(owner) if isinstance(owner, str | int) else "",
    )


def _instance_of(dimensions: str) -> str | AlarmProblem:
    try:
        parsed = json.loads(dimensions)
    except ValueError:
        return AlarmProblem("dimensions", "not JSON")
    if not isinstance(parsed, dict):
        return AlarmProblem("dimensions", "not a JSON object")
    instance_id = parsed.get("instanceId")
    if not isinstance(instance_id, str) or not INSTANCE_ID_PATTERN.fullmatch(instance_id):
        return AlarmProblem("dimensions", "names no ECS instance (instanceId)")
    return instance_id


def _timestamp(text: str) -> datetime | AlarmProblem | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 15:
        return AlarmProblem("timestamp", "not milliseconds since the epoch")
    return datetime.fromtimestamp(int(text) / 1000, tz=UTC)


def alarm_reason(alert_name: str, metric_name: str, value: str) -> str:
    """The reason a reboot from an alarm card carries (docs/PRODUCT.md §5.12)."""
    return f"CloudMonitor: {alert_name} ({metric_name} = {value})"


class CardState(enum.StrEnum):
    OPEN = "open"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class AlarmCard:
    """The one card of an alarm rule and an instance, while the alarm is open."""

    id: str
    rule: str
    alert_name: str
    metric_name: str
    instance_id: str
    region: str
    channel: str
    state: CardState
    count: int
    last_value: str
    first_at: datetime
    last_at: datetime
    expression: str = ""
    message_ts: str | None = None
    instance_name: str | None = None
    instance_status: str | None = None
    recovered_at: datetime | None = None
    # The account of ECSBOT_ACCOUNTS the alarm's owner is; "" when the alarm did not
    # say or none matched (a Reboot… then acts in the default account, as a command).
    account: str = ""

    @property
    def reason(self) -> str:
        return alarm_reason(self.alert_name, self.metric_name, self.last_value)


def account_of_owner(owner_uid: str, role_arns: Mapping[str, str]) -> str:
    """The account (of ``ECSBOT_ACCOUNTS``, name → role ARN) whose ARN is in the
    alarm owner's Alibaba Cloud account (``acs:ram::<uid>:role/…``); "" for none."""
    for name, arn in role_arns.items():
        if owner_uid and arn.startswith(f"acs:ram::{owner_uid}:"):
            return name
    return ""


class CardChange(enum.Enum):
    """What an alarm did to its card."""

    OPENED = "opened"  # a new card
    REPEATED = "repeated"  # the open card counts one more
    RECOVERED = "recovered"  # the open card is marked recovered
    NONE = "none"  # nothing to show: OK or no data with no open card


def on_alarm(
    card: AlarmCard | None,
    alarm: Alarm,
    *,
    new_id: str,
    channel: str,
    now: datetime,
    account: str = "",
) -> tuple[CardChange, AlarmCard | None]:
    """The card after ``alarm``, given the open card of its rule and instance (or
    None): a new card for a first ``ALERT``, the count and last value for a repeat,
    recovered for an ``OK``. ``INSUFFICIENT_DATA`` changes nothing."""
    at = alarm.at or now
    if alarm.state is AlarmState.ALERT:
        if card is None:
            return CardChange.OPENED, AlarmCard(
                id=new_id,
                rule=alarm.rule,
                alert_name=alarm.alert_name,
                metric_name=alarm.metric_name,
                instance_id=alarm.instance_id,
                region=alarm.region,
                channel=channel,
                state=CardState.OPEN,
                count=1,
                last_value=alarm.value,
                first_at=at,
                last_at=at,
                expression=alarm.expression,
                account=account,
            )
        return CardChange.REPEATED, replace(
            card, count=card.count + 1, last_value=alarm.value, last_at=at
        )
    if alarm.state is AlarmState.OK and card is not None:
        return CardChange.RECOVERED, replace(
            card,
            state=CardState.RECOVERED,
            last_value=alarm.value or card.last_value,
            recovered_at=at,
        )
    return CardChange.NONE, card

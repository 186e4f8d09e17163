"""The reboot form (docs/PRODUCT.md §5.14) as command text: a submission goes through the
same parser and rules as ``/ecs-reboot``, so the form can never accept what the command
would refuse. Pure: field values in, text and field names out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

# The form's fields, by the block id each input has in the modal.
FIELD_CHANNEL = "channel"
FIELD_ACCOUNT = "account"
FIELD_REGION = "region"
FIELD_INSTANCES = "instances"
FIELD_TARGETS = "targets"
FIELD_FORCE = "force"
FIELD_REASON = "reason"
FIELD_ROLLOUT = "rollout"
FIELD_WHEN = "when"

# "in 90m", "90m", "1h30m": a delay; anything else that is not a window's name: --at.
_DELAY = re.compile(r"(?:in\s+)?((?:\d+[smhd])+)", re.IGNORECASE)

EMPTY_FORM = "Pick instances above, or paste ids, console lines or selectors here."

# Quote pairs a reason may be written in (the parser reads each), tried in this order.
_QUOTES = (('"', '"'), ("'", "'"), ("“", "”"))


@dataclass(frozen=True)
class FormFields:
    """What a person filled in. ``instances`` are the ids picked in the search box."""

    region: str = ""
    account: str = ""
    instances: Sequence[str] = ()
    targets: str = ""
    force: bool = False
    reason: str = ""
    rollout: str = ""
    # When (docs/PRODUCT.md §5.10): blank for now, a time (`02:00`, `2026-12-24T02:00`),
    # a delay (`3h`, `in 90m`) or a window's name.
    when: str = ""

    @property
    def empty(self) -> bool:
        return not self.instances and not self.targets.strip()


def when_flag(when: str, windows: Collection[str] = ()) -> str:
    """The WHEN flag the form's "when" field means: ``--window`` for a window's name,
    ``--in`` for a delay, else ``--at`` (whose reader says what is wrong with it)."""
    text = " ".join(when.split())
    if not text:
        return ""
    if text in windows:
        return f"--window {text}"
    delay = _DELAY.fullmatch(text)
    if delay:
        return f"--in {delay.group(1).lower()}"
    return f"--at {text.replace(' ', 'T', 1) if text[:4].isdigit() else text}"


def command_text(fields: FormFields, windows: Collection[str] = ()) -> str:
    """The ``/ecs-reboot`` text that says what the form says (``windows``: the names of
    ECSBOT_WINDOWS, so the "when" field can name one)."""
    parts: list[str] = []
    if fields.account.strip():
        parts.append(f"--account {fields.account.strip()}")
    if fields.region.strip():
        parts.append(f"--region {fields.region.strip()}")
    if fields.force:
        parts.append("--force")
    reason = " ".join(fields.reason.split())
    if reason:
        parts.append(f"--reason {_quoted(reason)}")
    if fields.rollout.strip():
        parts.append(" ".join(fields.rollout.split()))
    when = when_flag(fields.when, windows)
    if when:
        parts.append(when)
    parts.extend(fields.instances)
    text = " ".join(parts)
    # Targets last, on lines of their own: console lines keep their shape.
    return f"{text}\n{fields.targets.strip()}" if fields.targets.strip() else text


def _quoted(reason: str) -> str:
    for opening, closing in _QUOTES:
        if closing not in reason:
            return f"{opening}{reason}{closing}"
    return '"' + reason.replace('"', "'") + '"'


def problem_fields(problems: Sequence[str], fields: FormFields) -> Mapping[str, str]:
    """Each parser problem beside the field it is about (the one whose text it quotes,
    or whose option it names); the rest beside the targets. Several problems of one
    field are joined."""
    placed: dict[str, list[str]] = {}
    for problem in problems:
        placed.setdefault(_field_of(problem, fields), []).append(_plain(problem))
    return {field: " ".join(texts)[:2000] for field, texts in placed.items()}


def _field_of(problem: str, fields: FormFields) -> str:
    if "--reason" in problem or "reason" in problem.lower().split():
        return FIELD_REASON
    if fields.when.strip() and any(flag in problem for flag in ("--at", "--in", "--window")):
        return FIELD_WHEN
    if fields.when.strip() and any(
        word in problem.lower() for word in ("schedule", "window", "too soon", "ahead")
    ):
        return FIELD_WHEN
    if "--account" in problem or "account" in problem.lower():
        return FIELD_ACCOUNT if fields.account.strip() else FIELD_TARGETS
    if "--region" in problem or (fields.region.strip() and fields.region.strip() in problem):
        return FIELD_REGION
    if "--force" in problem:
        return FIELD_FORCE if fields.force else FIELD_TARGETS
    rollout_words = [word for word in fields.rollout.split() if len(word) > 1]
    if any(word in problem for word in rollout_words) or any(
        flag in problem for flag in ("--batch", "--canary", "--max-errors", "--all-at-once")
    ):
        return FIELD_ROLLOUT
    if any(instance in problem for instance in fields.instances) and not fields.targets.strip():
        return FIELD_INSTANCES
    return FIELD_TARGETS


def _plain(problem: str) -> str:
    """Modal errors are plain text: drop the mrkdwn code marks."""
    return problem.replace("`", "")

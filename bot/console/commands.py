"""The console's prompt language, parsed into values (pure; no I/O).

/ecs-reboot …            any slash command, sent as Slack sends it
click confirm|cancel|approve|reject|retry|pause|resume|abort [ID]  press a button of
                         the latest request (or of request ID); retry is on the summary
never-returns ID         the simulator: this instance never comes back from a reboot
alarm [ok] ID [VALUE]    CloudMonitor: an alarm (or its recovery) on this instance
form                     /ecs-reboot with no arguments: the reboot form
shortcut TEXT            a message saying TEXT, and "Reboot from this message" on it
submit FIELD=VALUE …     submit the open form (fields left out keep what they show)
home                     your App Home
platform-event ID [SECONDS]  the simulator: Alibaba Cloud schedules a maintenance reboot
                         of this instance, SECONDS from now (default a day)
as USER                  play another Slack user
instances                the simulator's instances and their status now
wait                     until every request in flight has finished
sleep SECONDS            let time pass (live updates keep coming)
help, quit | exit        this text; leave
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

_USER_RE = re.compile(r"^[UW][A-Z0-9]{2,}$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

MAX_SLEEP_SECONDS = 600.0

HELP = """\
Type what you would type in Slack, and click buttons by name:
  /ecs-reboot i-… i-…          preview a reboot (also --force, --region R, help, status ID, roles)
  click confirm | click cancel press a button of the latest request (add a request id for another)
  click approve | click reject as another user (`as U0SOMEONE`), when approval is needed
  click pause | resume | abort a running rollout's buttons, the same way
  click retry                  the Retry button of a finished request's summary
  never-returns i-…            the simulator: this instance will never come back from a reboot
  alarm i-… [VALUE]            CloudMonitor calls the bot: a CPU alarm on i-… (a card with Reboot…)
  alarm ok i-…                 …and its recovery; `click reboot` presses the latest card's button
  form                         the reboot form (what /ecs-reboot with no arguments opens)
  shortcut TEXT                post TEXT as a message and use "Reboot from this message" on it
  submit targets=… reason="…"  submit the open form (also instances=i-…,i-… force=yes
                               rollout="--batch 2" region=… channel=C…); blank keeps a field
  home                         your App Home: approvals waiting for you, your requests, roles
  platform-event i-… [SECONDS] the simulator: Alibaba Cloud schedules its own reboot of it
  click reboot-now             the Reboot now button of the latest platform event card
  as U0SOMEONE                 play another Slack user (you start as an admin)
  instances                    the simulator's instances and their status now
  wait                         until every request in flight has finished (live updates meanwhile)
  sleep N                      let N seconds pass
  help                         this text
  quit | exit                  leave (Ctrl-D and Ctrl-C too)
{request} stands for the latest request's id, e.g. /ecs-reboot status {request};
{web} for the twelve web instances in two zones, to try a rolling reboot; {staging1} …
for the instances of the second account (`/ecs-reboot --account staging {staging1}`)."""

# What `submit` may fill in: the form's fields (bot.domain.form).
FORM_FIELDS = ("targets", "instances", "region", "reason", "rollout", "force", "channel")

# The buttons the console clicks by name.
BUTTONS = (
    "confirm",
    "cancel",
    "approve",
    "reject",
    "retry",
    "pause",
    "resume",
    "abort",
    "reboot",
    "reboot-now",
)
# A platform event is scheduled this far ahead unless the line says otherwise.
DEFAULT_EVENT_SECONDS = 86400.0


@dataclass(frozen=True)
class Slash:
    command: str
    text: str


@dataclass(frozen=True)
class Click:
    action: str  # one of BUTTONS
    request_id: str | None = None


@dataclass(frozen=True)
class PlayAs:
    user: str


@dataclass(frozen=True)
class Instances:
    pass


@dataclass(frozen=True)
class Wait:
    pass


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class NeverReturns:
    """The simulator's instance ``instance_id`` will never come back from a reboot."""

    instance_id: str


@dataclass(frozen=True)
class PlatformEvent:
    """The simulator schedules a ``SystemMaintenance.Reboot`` of ``instance_id``."""

    instance_id: str
    seconds: float = DEFAULT_EVENT_SECONDS


@dataclass(frozen=True)
class RaiseAlarm:
    """CloudMonitor calls the bot: an ``ALERT`` (or, with ``recovered``, an ``OK``) of
    the console's CPU alarm on ``instance_id``."""

    instance_id: str
    value: str = "97.5"
    recovered: bool = False


@dataclass(frozen=True)
class OpenForm:
    pass


@dataclass(frozen=True)
class UseShortcut:
    """Post ``text`` as a person's message, then the message shortcut on it."""

    text: str


@dataclass(frozen=True)
class SubmitForm:
    """Submit the open form with these fields changed (by block id)."""

    fields: Mapping[str, str]


@dataclass(frozen=True)
class ShowHome:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Comment:
    """A ``# …`` line: narration in a script, shown as it is."""

    text: str


@dataclass(frozen=True)
class Blank:
    pass


@dataclass(frozen=True)
class Invalid:
    """Input the console does not understand; ``hint`` is one line saying what to do."""

    hint: str


ConsoleCommand = (
    Slash
    | Click
    | PlayAs
    | Instances
    | Wait
    | Sleep
    | NeverReturns
    | RaiseAlarm
    | OpenForm
    | UseShortcut
    | SubmitForm
    | ShowHome
    | PlatformEvent
    | Help
    | Quit
    | Comment
    | Blank
    | Invalid
)


def parse_line(line: str) -> ConsoleCommand:
    """What one line of input asks for."""
    stripped = line.strip()
    if not stripped:
        return Blank()
    if stripped.startswith("#"):
        return Comment(stripped)
    if stripped.startswith("/"):
        command, _, text = stripped.partition(" ")
        if command == "/":
            return Invalid("A slash command needs a name, e.g. /ecs-reboot help")
        return Slash(command, text.strip())
    word, *args = stripped.split()
    word = word.lower()
    if word == "click":
        return _click(args)
    if word == "as":
        if len(args) != 1 or not is_user_id(args[0]):
            return Invalid("Say whom to play as a Slack user id, e.g. as U0SOMEONE")
        return PlayAs(args[0])
    if word in ("quit", "exit") and not args:
        return Quit()
    if word in ("help", "?") and not args:
        return Help()
    if word == "instances" and not args:
        return Instances()
    if word == "wait" and not args:
        return Wait()
    if word == "sleep":
        return _sleep(args)
    if word == "never-returns":
        if len(args) != 1 or not args[0].startswith("i-"):
            return Invalid("Name one instance: never-returns i-…")
        return NeverReturns(args[0])
    if word == "alarm":
        return _alarm(args)
    if word == "form" and not args:
        return OpenForm()
    if word == "home" and not args:
        return ShowHome()
    if word == "shortcut":
        text = stripped.partition(" ")[2].strip()
        return UseShortcut(text) if text else Invalid("Say the message: shortcut TEXT")
    if word == "submit":
        return _submit(stripped.partition(" ")[2])
    if word == "platform-event":
        return _platform_event(args)
    if word in ("reboot", "ecs-reboot", "status"):
        return Invalid(f"Commands go to the bot as in Slack: /ecs-reboot {stripped}")
    return Invalid(f"Unknown command {stripped[:40]!r}. Type help for what the console knows.")


def _click(args: list[str]) -> ConsoleCommand:
    if not args or args[0].lower() not in BUTTONS or len(args) > 2:
        return Invalid(
            "Click a button by name: click confirm, cancel, approve, reject, retry, pause, "
            "resume or abort [REQUEST_ID]; click reboot for the latest alarm card, "
            "click reboot-now for the latest platform event card"
        )
    return Click(args[0].lower(), args[1] if len(args) == 2 else None)


def _alarm(args: list[str]) -> ConsoleCommand:
    recovered = bool(args) and args[0].lower() == "ok"
    rest = args[1:] if recovered else args
    if not 1 <= len(rest) <= 2 or not rest[0].startswith("i-"):
        return Invalid("Name one instance: alarm i-… [VALUE], or alarm ok i-…")
    value = rest[1] if len(rest) == 2 else ("40" if recovered else "97.5")
    return RaiseAlarm(rest[0], value, recovered)


def _submit(rest: str) -> ConsoleCommand:
    try:
        words = shlex.split(rest)
    except ValueError as error:
        return Invalid(f"submit: {error}")
    fields: dict[str, str] = {}
    for word in words:
        name, equals, value = word.partition("=")
        if not equals or name not in FORM_FIELDS:
            return Invalid(f"submit takes FIELD=VALUE with FIELD one of {', '.join(FORM_FIELDS)}")
        fields[name] = value
    return SubmitForm(fields)


def _platform_event(args: list[str]) -> ConsoleCommand:
    hint = "Name one instance and, if you like, seconds ahead: platform-event i-… [SECONDS]"
    if not 1 <= len(args) <= 2 or not args[0].startswith("i-"):
        return Invalid(hint)
    try:
        seconds = float(args[1]) if len(args) == 2 else DEFAULT_EVENT_SECONDS
    except ValueError:
        return Invalid(hint)
    if not 0 < seconds <= 30 * 86400:
        return Invalid(hint)
    return PlatformEvent(args[0], seconds)


def _sleep(args: list[str]) -> ConsoleCommand:
    try:
        seconds = float(args[0]) if len(args) == 1 else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:
        return Invalid(f"sleep takes a number of seconds from 0 to {MAX_SLEEP_SECONDS:.0f}")
    return Sleep(seconds)


def is_user_id(text: str) -> bool:
    """A Slack user id as the console accepts one (``U…`` or ``W…``)."""
    return bool(_USER_RE.match(text))


def substitute(line: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders that ``values`` knows; leave the others."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), line)


__all__ = [
    "HELP",
    "Blank",
    "Click",
    "Comment",
    "ConsoleCommand",
    "Help",
    "Instances",
    "Invalid",
    "OpenForm",
    "PlatformEvent",
    "PlayAs",
    "Quit",
    "RaiseAlarm",
    "ShowHome",
    "Slash",
    "Sleep",
    "SubmitForm",
    "UseShortcut",
    "Wait",
    "is_user_id",
    "parse_line",
    "substitute",
]

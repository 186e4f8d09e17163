"""One person at the console: runs each parsed command against the offline stack.

Slash commands and clicks go to the Bolt app as signed Slack requests; everything the
bot says comes back through the terminal Slack and is printed by :class:`SlackView`.

Why one file of about 530 lines: every console command ends in the same transcript
and the same offline stack; one class keeps what the person is (user, channel) and
what they last saw in step.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from bot.console.commands import (
    HELP,
    Blank,
    Click,
    Comment,
    ConsoleCommand,
    Help,
    Instances,
    Invalid,
    NeverReturns,
    OpenForm,
    PlatformEvent,
    PlayAs,
    Quit,
    RaiseAlarm,
    ShowHome,
    Slash,
    Sleep,
    SubmitForm,
    UseShortcut,
    Wait,
)
from bot.console.render import indent, wrap
from bot.console.stack import CHANNEL_ID, CHANNEL_NAME, CHANNELS, REGION, OfflineStack
from bot.console.transcript import WIDTH, Transcript, describe, describe_ack
from bot.domain.model import RequestState
from bot.domain.request import RebootRequest
from bot.domain.rollout import wave_in_flight
from bot.simulator import ApiError
from bot.slack.blocks import (
    ACTION_ABORT,
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_PAUSE,
    ACTION_REJECT,
    ACTION_RESUME,
    ACTION_RETRY,
    ROLLOUT_BLOCK_ID,
    request_message,
)
from bot.slack.cards import ACTION_ALARM_REBOOT
from bot.slack.event_cards import ACTION_EVENT_REBOOT
from bot.slack.views import SHORTCUT_FROM_MESSAGE
from bot.testing.slack_api import Event, Message, Updated
from bot.testing.slack_requests import click_body, dispatch, slash_command_body
from bot.testing.slack_surfaces import (
    dispatch_answer,
    home_opened_event,
    message_shortcut_body,
    view_submission_body,
)

ACTIONS = {
    "confirm": ACTION_CONFIRM,
    "cancel": ACTION_CANCEL,
    "pause": ACTION_PAUSE,
    "resume": ACTION_RESUME,
    "abort": ACTION_ABORT,
    "approve": ACTION_APPROVE,
    "reject": ACTION_REJECT,
    "retry": ACTION_RETRY,
    "reboot": ACTION_ALARM_REBOOT,
}
# How long a command's follow-up work (a preview, a confirm) may take before the
# prompt comes back anyway; the messages still print when they arrive.
SETTLE_SECONDS = 30.0
# After a request is final in the database, how long to wait for the bot's last edit of
# its message to arrive before `wait` returns regardless.
FINAL_EDIT_GRACE = 3.0


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


class SlackView:
    """Prints each Slack event as the person being played would see it."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.user = ""
        self.lookup: Callable[[str, str], Message | None] = lambda channel, ts: None

    def __call__(self, event: Event) -> None:
        parent = None
        if isinstance(event, Updated) and event.message.thread_ts:
            parent = self.lookup(event.message.channel, event.message.thread_ts)
        self.transcript.show(describe(event, me=self.user, channels=CHANNELS, parent=parent))


def _element_state(field: str, typed: str) -> dict[str, Any]:
    """What Slack puts in a submitted view's state for a field, from console text."""
    if field == "instances":
        picked = [{"value": part.strip()} for part in typed.split(",") if part.strip()]
        return {"type": "multi_external_select", "selected_options": picked}
    if field == "force":
        ticked = [{"value": "force"}] if typed.lower() in ("yes", "y", "true", "force") else []
        return {"type": "checkboxes", "selected_options": ticked}
    if field == "channel":
        return {"type": "conversations_select", "selected_conversation": typed or None}
    return {"type": "plain_text_input", "value": typed or None}


class Session:
    """Runs console commands; ``ask`` answers a confirm dialog (a question → yes/no)."""

    def __init__(
        self,
        stack: OfflineStack,
        view: SlackView,
        *,
        user: str,
        ask: Callable[[str], bool],
        wait_timeout: float,
    ) -> None:
        self.stack = stack
        self.view = view
        self.transcript = view.transcript
        self.view.user = user
        self.ask = ask
        self.wait_timeout = wait_timeout
        self.channel = Channel(CHANNEL_ID, CHANNEL_NAME)
        self.complete = True  # False once a `wait` gave up: scripts then exit non-zero
        self._alarms_sent = 0
        self._final_seen: dict[str, float] = {}

    @property
    def user(self) -> str:
        return self.view.user

    @property
    def prompt(self) -> str:
        return f"{self.user} #{self.channel.name}> "

    def placeholders(self) -> dict[str, str]:
        """``{id1}`` … (the running instances), ``{stopped}``, ``{request}`` (the latest),
        ``{staging1}`` … (the instances of the second account)."""
        running = [i for i in self.stack.fleet.ids(REGION) if i != self.stack.stopped_instance]
        values = {f"id{n}": instance for n, instance in enumerate(running, start=1)}
        values["stopped"] = self.stack.stopped_instance
        values["web"] = " ".join(self.stack.rolling_instances)
        for n, instance in enumerate(self.stack.rolling_instances, start=1):
            values[f"web{n}"] = instance
        for n, instance in enumerate(self.stack.staging_fleet.ids(REGION), start=1):
            values[f"staging{n}"] = instance
        latest = self._latest_request()
        if latest is not None:
            values["request"] = latest.id
        return values

    # --- one command ------------------------------------------------------------------

    def run(self, command: ConsoleCommand) -> bool:
        """Carry out ``command``; False when the person asked to leave."""
        if isinstance(command, Quit):
            return False
        if isinstance(command, Blank):
            pass
        elif isinstance(command, Comment):
            self.transcript.say(command.text)
        elif isinstance(command, Invalid):
            self.transcript.say(f"? {command.hint}")
        elif isinstance(command, Help):
            self.transcript.say(HELP)
        elif isinstance(command, PlayAs):
            self.view.user = command.user
            admin = " (an admin)" if command.user in self.stack.bot.settings.admins else ""
            self.transcript.say(f"You are now {command.user}{admin}.")
        elif isinstance(command, Instances):
            self.transcript.say(self.instances_text())
        elif isinstance(command, Slash):
            self._slash(command)
        elif isinstance(command, Click):
            self._click(command)
        elif isinstance(command, Wait):
            self.wait()
        elif isinstance(command, Sleep):
            threading.Event().wait(command.seconds)
        elif isinstance(command, NeverReturns):
            self._never_returns(command.instance_id)
        elif isinstance(command, RaiseAlarm):
            self._alarm(command)
        elif isinstance(command, OpenForm):
            self._slash(Slash("/ecs-reboot", ""))
        elif isinstance(command, UseShortcut):
            self._shortcut(command.text)
        elif isinstance(command, SubmitForm):
            self._submit(command.fields)
        elif isinstance(command, ShowHome):
            self._home()
        elif isinstance(command, PlatformEvent):
            self._platform_event(command)
        return True

    def instances_text(self) -> str:
        lines = [f"Instances in the simulator ({REGION}), account prod (the default):"]
        for fleet in (self.stack.fleet, self.stack.staging_fleet):
            if fleet is self.stack.staging_fleet:
                lines.append("… and in account staging (`--account staging`):")
            for view in fleet.page(REGION, 0, fleet.count(REGION)):
                lines.append(f"  {view.instance_id}  {view.name:<10} {view.status:<9} {view.zone}")
        return "\n".join(lines)

    def _never_returns(self, instance_id: str) -> None:
        try:
            self.stack.fleet.update(REGION, instance_id, never_returns=True)
        except KeyError:
            self.transcript.say(f"? The simulator holds no instance {instance_id} in {REGION}.")
            return
        self.transcript.say(f"(simulator: {instance_id} will never come back from a reboot)")

    def _alarm(self, command: RaiseAlarm) -> None:
        """What CloudMonitor would POST: the same form, through the same hook."""
        hook = self.stack.bot.cloudmonitor
        if hook is None:
            self.transcript.say("? CloudMonitor alarms are off (no ECSBOT_ALERT_TOKEN).")
            return
        self._alarms_sent += 1
        form = {
            "alertName": "cpu-high",
            "alertState": "OK" if command.recovered else "ALERT",
            "curValue": command.value,
            "dimensions": json.dumps({"instanceId": command.instance_id}),
            "expression": "$Average>90",
            "metricName": "CPUUtilization",
            "metricProject": "acs_ecs_dashboard",
            "regionId": REGION,
            "transId": f"console-{self._alarms_sent}-{time.time_ns()}",
        }
        state = "recovered" if command.recovered else f"CPUUtilization = {command.value}"
        self.transcript.say(
            f"(CloudMonitor calls the bot: cpu-high on {command.instance_id}, {state})"
        )
        with self.transcript.holding():
            answer = hook.handle(
                self.stack.alert_token,
                urlencode(form).encode(),
                "application/x-www-form-urlencoded",
            )
            if answer.status != 200:
                self.transcript.say(f"! CloudMonitor got {answer.status}: {answer.text}")
        self.stack.bot.jobs.wait_idle(timeout=SETTLE_SECONDS)

    def _shortcut(self, text: str) -> None:
        message = self.stack.slack.post_as_user(self.channel.id, text, user="U0COLLEAGUE")
        self._send(
            message_shortcut_body(
                SHORTCUT_FROM_MESSAGE,
                user_id=self.user,
                channel_id=self.channel.id,
                message=message.to_slack(),
            )
        )

    def _submit(self, changes: Mapping[str, str]) -> None:
        """Submit the latest form as a person would: what it shows, with ``changes``."""
        views = list(self.stack.slack.views.values())
        if not views:
            self.transcript.say("? No form is open: type form, or shortcut TEXT, first.")
            return
        view = views[-1]
        values: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            name = str(block.get("block_id"))
            element = block.get("element") or {}
            typed = changes.get(name, element.get("initial_value") or "")
            values[name] = {name: _element_state(name, str(typed))}
        with self.transcript.holding():
            answer = dispatch_answer(
                self.stack.bot.app,
                view_submission_body(view, values, user_id=self.user),
                self.stack.signing_secret,
            )
            errors = answer.get("errors") if answer.get("response_action") == "errors" else None
            if isinstance(errors, dict):
                lines = [f"  {field}: {problem}" for field, problem in errors.items()]
                self.transcript.say(
                    "The form stays open; Slack shows beside the fields:\n" + "\n".join(lines)
                )
            else:
                self.transcript.say("(the form closes)")
        if not self.stack.bot.jobs.wait_idle(timeout=SETTLE_SECONDS):
            self.transcript.say("(the bot is still working on it; its messages will follow)")

    def _home(self) -> None:
        with self.transcript.holding():
            dispatch_answer(
                self.stack.bot.app,
                json.dumps(home_opened_event(self.user)).encode(),
                self.stack.signing_secret,
                content_type="application/json",
            )
        self.stack.bot.jobs.wait_idle(timeout=SETTLE_SECONDS)

    def _platform_event(self, command: PlatformEvent) -> None:
        sim = self.stack.sim
        not_before = sim.clock() + timedelta(seconds=command.seconds)
        try:
            events = sim.events_of_instance(REGION, command.instance_id)
            (event_id,) = events.create(REGION, [command.instance_id], not_before=not_before)
        except ApiError as error:
            self.transcript.say(f"? The simulator refused: {error.message}")
            return
        when = not_before.strftime("%H:%M:%S UTC")
        self.transcript.say(
            f"(simulator: Alibaba Cloud schedules SystemMaintenance.Reboot of "
            f"{command.instance_id}, not before {when}: event {event_id})"
        )
        # The bot's next look for events finds it; wait for its card, as a person would.
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline and self._card_of(event_id) is None:
            self.stack.slack.wait_for_change(timeout=0.5)

    def _card_of(self, event_id: str) -> Message | None:
        for message in reversed(self.stack.slack.messages()):
            if event_id in message.text or event_id in str(message.blocks):
                return message
        return None

    def _latest_card(self) -> tuple[Message, str, dict[str, Any]] | None:
        for message in reversed(self.stack.slack.messages()):
            for block_id, button in message.buttons():
                if button.get("action_id") == ACTION_EVENT_REBOOT:
                    return message, block_id, button
        self.transcript.say("? No platform event card shows Reboot now.")
        return None

    def _slash(self, command: Slash) -> None:
        body = slash_command_body(
            command.text,
            command=command.command,
            user_id=self.user,
            user_name=self.user.lower(),
            channel_id=self.channel.id,
            channel_name=self.channel.name,
            response_url=self.stack.slack.response_url("commands"),
        )
        self._send(body)

    def _click(self, command: Click) -> None:
        target = self._button(command)
        if target is None:
            return
        message, block_id, button = target
        dialog = button.get("confirm")
        if isinstance(dialog, dict) and not self._accept(dialog):
            self.transcript.say("Kept running: nothing was sent.")
            return
        self._send(
            click_body(
                message,
                block_id,
                button,
                user=self.user,
                channel_name=self.channel.name,
                response_url=self.stack.slack.response_url("actions"),
            )
        )

    def _send(self, body: bytes) -> None:
        # Slack events that the command causes are held until its ack is printed, so
        # the transcript reads in the order a person sees things in Slack.
        with self.transcript.holding():
            try:
                ack = dispatch(self.stack.bot.app, body, self.stack.signing_secret)
            except RuntimeError as error:
                self.transcript.say(f"! {error}")
                return
            if ack:
                self.transcript.say(describe_ack(ack, channel=self.channel.id, channels=CHANNELS))
        # What the command set off (a preview, a confirm) prints before the next prompt.
        if not self.stack.bot.jobs.wait_idle(timeout=SETTLE_SECONDS):
            self.transcript.say("(the bot is still working on it; its messages will follow)")

    def _button(self, command: Click) -> tuple[Message, str, dict[str, Any]] | None:
        """The message and button a click presses, or None after saying why not."""
        if command.action == "reboot-now":
            return self._latest_card()
        action_id = ACTIONS[command.action]
        if action_id == ACTION_ALARM_REBOOT:
            return self._card_button()
        if command.request_id is None:
            request = self._latest_request()
            if request is None:
                self.transcript.say("? There is nothing to click yet: type /ecs-reboot i-… first.")
                return None
        else:
            with self.stack.bot.ctx.uow() as uow:
                request = uow.requests.get(command.request_id)
            if request is None:
                self.transcript.say(
                    f"? No request {command.request_id!r}: ids are in each preview."
                )
                return None
        message = self.stack.slack.find(request.channel, request.message_ts or "")
        if message is None:
            self.transcript.say(f"? Request {request.id} has no message in the channel to click.")
            return None
        if action_id == ACTION_RETRY:
            # Retry sits on the summary, the last reply in the request's thread.
            for reply in reversed(self.stack.slack.thread(request.channel, message.ts)):
                for block_id, button in reply.buttons():
                    if button.get("action_id") == action_id:
                        return reply, block_id, button
        for block_id, button in message.buttons():
            if button.get("action_id") == action_id:
                return message, block_id, button
        if command.request_id is None:
            self.transcript.say(
                f"? Request {request.id} shows no {command.action} button (it is "
                f"{request.state.value}). To click anyway, as a stale Slack window could: "
                f"click {command.action} {request.id}"
            )
            return None
        # Asked for by id: press the button the message showed before, as a Slack
        # client that has not refreshed would; the bot must refuse it politely.
        self.transcript.say(f"(request {request.id} no longer shows its buttons; clicking anyway)")
        stale: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "value": request.id,
            "text": {"type": "plain_text", "text": command.action.capitalize()},
        }
        rollout = command.action in ("pause", "resume", "abort")
        return message, ROLLOUT_BLOCK_ID if rollout else "reboot_actions", stale

    def _card_button(self) -> tuple[Message, str, dict[str, Any]] | None:
        """The **Reboot…** button of the latest alarm card still showing one."""
        for message in reversed(self.stack.slack.messages()):
            for block_id, button in message.buttons():
                if button.get("action_id") == ACTION_ALARM_REBOOT:
                    return message, block_id, button
        self.transcript.say("? No alarm card shows a Reboot button: try alarm i-… first.")
        return None

    def _accept(self, dialog: dict[str, Any]) -> bool:
        def text(key: str) -> str:
            value = dialog.get(key)
            return str(value.get("text", "")) if isinstance(value, dict) else ""

        self.transcript.say(
            f'Slack asks first: "{text("title")}"\n'
            + indent(wrap([text("text")], WIDTH - 2), "  ")
            + f"\n  [ {text('confirm')} ]  [ {text('deny')} ]"
        )
        return self.ask(f"{text('confirm')}? [y/N] ")

    # --- waiting ----------------------------------------------------------------------

    def _latest_request(self) -> RebootRequest | None:
        with self.stack.bot.ctx.uow() as uow:
            recent = uow.requests.list_recent(limit=1)
        return recent[0] if recent else None

    def _unsettled(self) -> int:
        """Requests still moving: executing, or final without their last edit shown."""
        with self.stack.bot.ctx.uow() as uow:
            recent = uow.requests.list_recent(limit=200)
        moving = 0
        now = time.monotonic()
        for request in recent:
            if (
                request.state is RequestState.EXECUTING
                or (
                    # A paused rollout is still moving while its wave in flight comes back;
                    # after that it waits for a person, which ``wait`` must not wait for.
                    request.state is RequestState.PAUSED and wave_in_flight(request.instances)
                )
                or self._due_soon(request)
            ):
                moving += 1
            elif request.state.is_final and request.confirmed_by and request.message_ts:
                # The bot edits the message right after the final state is stored; the
                # edit shows the same text as rendering the stored request.
                shown = self.stack.slack.find(request.channel, request.message_ts)
                expected = request_message(request, can_execute=False).text
                first_seen = self._final_seen.setdefault(request.id, now)
                edit_pending = shown is not None and shown.text != expected
                if edit_pending and now - first_seen < FINAL_EDIT_GRACE:
                    moving += 1
        return moving

    def _due_soon(self, request: RebootRequest) -> bool:
        """A scheduled request whose start comes before ``wait`` would give up: waited
        for (the demo's starts by itself); one due tonight is not."""
        if request.state is not RequestState.SCHEDULED or request.scheduled_for is None:
            return False
        ahead = (request.scheduled_for - self.stack.bot.ctx.clock()).total_seconds()
        return ahead < self.wait_timeout / 2

    def wait(self) -> bool:
        """Block until nothing is in flight (live updates keep printing); False on timeout."""
        deadline = time.monotonic() + self.wait_timeout
        jobs_idle = self.stack.bot.jobs.wait_idle(timeout=self.wait_timeout)
        moving = self._unsettled()
        if moving:
            self.transcript.say(f"(waiting for {moving} request(s) to finish…)")
        while jobs_idle and moving and time.monotonic() < deadline:
            self.stack.slack.wait_for_change(timeout=min(0.5, deadline - time.monotonic()))
            moving = self._unsettled()
        if jobs_idle and not moving:
            return True
        self.complete = False
        self.transcript.say(f"! still in flight after {self.wait_timeout:.0f} s; giving up waiting")
        return False


__all__ = ["Session", "SlackView"]

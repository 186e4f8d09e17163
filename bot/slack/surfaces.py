"""The surfaces beyond the slash command (docs/PRODUCT.md §5.14): the reboot form (opened by
``/ecs-reboot`` with no arguments, the global shortcut ``reboot_open`` and the message
shortcut ``reboot_from_message``), its instance search, its submission, and App Home.

A submission is turned into command text and goes through ``answer_command``'s parser
and rules, so the form accepts exactly what the command would. Where the preview goes
(channel, thread) travels in the view's ``private_metadata``, sealed with an HMAC so a
tampered view is refused, never trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import form
from bot.domain.errors import StoreUnavailable
from bot.domain.events import KnownEvent
from bot.domain.model import RequestSource, Role
from bot.domain.parser import CommandError, RebootCommand, parse_command
from bot.domain.policy import check_channel
from bot.services import home as home_service
from bot.services import preview as preview_service
from bot.services import scheduled as scheduled_service
from bot.services.context import Context
from bot.services.event_watch import EventWatch
from bot.services.instance_search import InstanceSearch
from bot.slack.jobs import Jobs
from bot.slack.text import denied_text
from bot.slack.views import (
    CALLBACK_FORM,
    SHORTCUT_FROM_MESSAGE,
    SHORTCUT_OPEN,
    FormSeed,
    home_view,
    reboot_form,
)

log = logging.getLogger(__name__)

_REF = re.compile(r"\b(?:([a-z]{2}(?:-[a-z0-9]+)+)[/:])?(i-[a-z0-9]{8,30})\b")
_NO_INSTANCE_NOTE = (
    ":information_source: I found no instance id in that message. Pick instances below, "
    "or paste them."
)
_TIMED_OUT = (
    ":hourglass: The reboot form could not open in time (Slack allows 3 seconds). "
    "Nothing was recorded; try again."
)


class Forms:
    """The form and App Home for one bot: holds the sealing key and the search cache."""

    def __init__(
        self, ctx: Context, jobs: Jobs, *, key: bytes, events: EventWatch | None = None
    ) -> None:
        self._ctx = ctx
        self._jobs = jobs
        self._key = key
        self._events = events
        self.search = InstanceSearch(ctx)

    # --- opening ---------------------------------------------------------------------

    def open_later(
        self,
        client: WebClient,
        *,
        trigger_id: str,
        user: str,
        channel: str | None,
        thread_ts: str | None = None,
        targets: str = "",
        note: str | None = None,
        source: RequestSource = RequestSource.FORM,
    ) -> None:
        """Open the form (on the worker pool, right after the ack)."""

        def open_it() -> None:
            seed = self._seed(
                user,
                channel=channel,
                thread_ts=thread_ts,
                targets=targets,
                note=note,
                source=source,
            )
            try:
                client.views_open(trigger_id=trigger_id, view=reboot_form(seed))
            except (SlackApiError, SlackClientError) as error:
                log.warning("views.open failed: %s", _reason(error))
                if channel:
                    _ephemeral(client, channel, user, _TIMED_OUT)
                return
            if self._ctx.config.default_region:
                self.search.read_ahead(self._ctx.config.default_region)

        self._jobs.submit(open_it, channel=channel or "", user=user)

    def _seed(
        self,
        user: str,
        *,
        channel: str | None,
        thread_ts: str | None,
        targets: str,
        note: str | None,
        source: RequestSource,
    ) -> FormSeed:
        with self._ctx.uow() as uow:
            principal = self._ctx.principal(uow, user)
        may_force = principal.bootstrap_admin or any(
            b.role is Role.ADMIN for b in principal.bindings
        )
        metadata = self.seal({"channel": channel, "thread_ts": thread_ts, "source": source})
        return FormSeed(
            metadata=metadata,
            channel=channel,
            region=self._ctx.config.default_region or "",
            targets=targets,
            note=note,
            may_force=may_force,
            reason_required=self._ctx.config.require_reason,
            accounts=tuple(self._ctx.config.accounts),
            windows=tuple(self._ctx.config.windows),
            default_account=self._ctx.config.default_account,
        )

    # --- sealing where the preview goes ------------------------------------------------

    def seal(self, data: dict[str, Any]) -> str:
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        mac = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{mac}.{text}"

    def unseal(self, sealed: str) -> dict[str, Any] | None:
        mac, _, text = sealed.partition(".")
        expected = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(mac, expected):
            return None
        loaded = json.loads(text)
        return loaded if isinstance(loaded, dict) else None

    # --- submitting --------------------------------------------------------------------

    def submit(
        self, user: str, view: dict[str, Any]
    ) -> tuple[dict[str, str], Callable[[], object] | None]:
        """The errors to show beside the fields (nothing recorded), or none and the
        preview to run after the ack."""
        where = self.unseal(str(view.get("private_metadata") or ""))
        if where is None:
            return {form.FIELD_TARGETS: "This form was changed on the way; open it again."}, None
        values = _values(view)
        channel = str(where.get("channel") or values.get(form.FIELD_CHANNEL) or "")
        if not channel:
            return {form.FIELD_CHANNEL: "Pick the channel for the preview."}, None
        fields = form.FormFields(
            region=str(values.get(form.FIELD_REGION) or ""),
            account=str(values.get(form.FIELD_ACCOUNT) or ""),
            instances=tuple(values.get(form.FIELD_INSTANCES) or ()),
            targets=str(values.get(form.FIELD_TARGETS) or ""),
            force=bool(values.get(form.FIELD_FORCE)),
            reason=str(values.get(form.FIELD_REASON) or ""),
            rollout=str(values.get(form.FIELD_ROLLOUT) or ""),
            when=str(values.get(form.FIELD_WHEN) or ""),
        )
        if fields.empty:
            return {form.FIELD_TARGETS: form.EMPTY_FORM}, None
        config = self._ctx.config
        text = form.command_text(fields, tuple(config.windows))
        parsed = parse_command(
            text,
            default_region=config.default_region,
            max_instances=config.max_instances,
            require_reason=config.require_reason,
            place_when=lambda when: scheduled_service.when_problem(self._ctx, when),
        )
        if isinstance(parsed, CommandError):
            return dict(form.problem_fields(parsed.problems, fields)), None
        if not isinstance(parsed, RebootCommand):
            return {form.FIELD_TARGETS: form.EMPTY_FORM}, None
        field_for_channel = (
            form.FIELD_CHANNEL if where.get("channel") is None else form.FIELD_TARGETS
        )
        allowed = check_channel(channel, config.allowed_channels)
        if allowed.denial is not None:
            return {field_for_channel: _plain(denied_text(allowed.denial))}, None
        source = RequestSource(str(where.get("source") or RequestSource.FORM.value))
        asked = preview_service.PreviewAsked(
            user=user,
            channel=channel,
            command=parsed,
            command_text=text,
            source=source,
            thread_ts=str(where["thread_ts"]) if where.get("thread_ts") else None,
        )
        decision = preview_service.early_check(self._ctx, asked)
        if decision.denial is not None:
            return {form.FIELD_TARGETS: _plain(denied_text(decision.denial))}, None
        return {}, lambda: preview_service.preview(self._ctx, asked)

    # --- App Home ---------------------------------------------------------------------

    def _pending_events(self) -> Sequence[KnownEvent]:
        if self._events is None:
            return ()
        with self._events.uow() as uow:
            return uow.events.pending()

    def publish_home_later(self, client: WebClient, user: str) -> None:
        def publish() -> None:
            home = home_service.home_of(self._ctx, user, self._pending_events)
            try:
                client.views_publish(user_id=user, view=home_view(home))
            except (SlackApiError, SlackClientError) as error:
                log.warning("views.publish for %s failed: %s", user, _reason(error))

        self._jobs.submit(publish, channel="", user=user)


def register_surfaces(app: App, forms: Forms) -> None:
    """Attach the shortcuts, the form's submission and options, and App Home."""

    @app.shortcut(SHORTCUT_OPEN)
    def on_open(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        forms.open_later(
            client, trigger_id=str(body.get("trigger_id") or ""), user=_user(body), channel=None
        )

    @app.shortcut(SHORTCUT_FROM_MESSAGE)
    def on_message(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        message = body.get("message") if isinstance(body.get("message"), dict) else {}
        assert isinstance(message, dict)
        targets = ids_in_message(message)
        channel = str((body.get("channel") or {}).get("id") or "")
        thread_ts = str(message.get("thread_ts") or message.get("ts") or "") or None
        forms.open_later(
            client,
            trigger_id=str(body.get("trigger_id") or ""),
            user=_user(body),
            channel=channel or None,
            thread_ts=thread_ts,
            targets=targets,
            note=None if targets else _NO_INSTANCE_NOTE,
            source=RequestSource.MESSAGE,
        )

    @app.view(CALLBACK_FORM)
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = _user(body)
        try:
            errors, work = forms.submit(user, view)
        except StoreUnavailable as error:
            errors, work = {form.FIELD_TARGETS: str(error)}, None
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if work is not None:
            forms._jobs.submit(work, channel="", user=user)
        ack()

    @app.options(form.FIELD_INSTANCES)
    def on_options(ack: Ack, body: dict[str, Any]) -> None:
        view = body.get("view") if isinstance(body.get("view"), dict) else {}
        assert isinstance(view, dict)
        region = str(_values(view).get(form.FIELD_REGION) or "") or (
            forms._ctx.config.default_region or ""
        )
        region = region.split(",")[0].strip()
        account = str(_values(view).get(form.FIELD_ACCOUNT) or "")
        typed = str(body.get("value") or "")
        found = forms.search.search(_user(body), region, typed, account=account) if region else ()
        ack(
            options=[
                {
                    "text": {
                        "type": "plain_text",
                        "text": f"{i.name or i.instance_id} ({i.instance_id}, {i.status})"[:75],
                    },
                    "value": i.instance_id,
                }
                for i in found
            ]
        )

    @app.event("app_home_opened")
    def on_home(ack: Ack, event: dict[str, Any], client: WebClient) -> None:
        ack()
        if event.get("tab", "home") == "home" and event.get("user"):
            forms.publish_home_later(client, str(event["user"]))


def ids_in_message(message: dict[str, Any]) -> str:
    """Every instance id a message names (its text, blocks and attachments), one a line,
    with its region when the message gave one, in order, without repeats."""
    texts: list[str] = []
    _collect_text(message.get("text"), texts)
    _collect_text(message.get("blocks"), texts)
    _collect_text(message.get("attachments"), texts)
    seen: dict[str, None] = {}
    for text in texts:
        for region, instance_id in _REF.findall(text):
            seen.setdefault(f"{region}/{instance_id}" if region else instance_id, None)
    return "\n".join(seen)


def _collect_text(value: object, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_text(item, into)
    elif isinstance(value, list):
        for item in value:
            _collect_text(item, into)


def _values(view: dict[str, Any]) -> dict[str, Any]:
    """Each field's value from a view's state: text, selected options' values, checkboxes
    as a bool, the picked conversation."""
    state = view.get("state") if isinstance(view.get("state"), dict) else {}
    assert isinstance(state, dict)
    values: dict[str, Any] = {}
    for block_id, actions in (state.get("values") or {}).items():
        if not isinstance(actions, dict):
            continue
        for element in actions.values():
            if not isinstance(element, dict):
                continue
            if "selected_option" in element:
                chosen = element.get("selected_option") or {}
                values[block_id] = chosen.get("value") if isinstance(chosen, dict) else None
            elif "selected_options" in element:
                picked = [str(o.get("value")) for o in element.get("selected_options") or []]
                values[block_id] = picked if block_id == form.FIELD_INSTANCES else bool(picked)
            elif "selected_conversation" in element:
                values[block_id] = element.get("selected_conversation")
            else:
                values[block_id] = element.get("value")
    return values


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id") or "") if isinstance(user, dict) else ""


def _plain(text: str) -> str:
    return text.replace("*", "").replace("`", "")[:2000]


def _ephemeral(client: WebClient, channel: str, user: str, text: str) -> None:
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except (SlackApiError, SlackClientError) as error:
        log.warning("chat.postEphemeral failed: %s", _reason(error))


def _reason(error: SlackClientError) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown error"))
    return type(error).__name__

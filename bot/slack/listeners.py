"""Bolt listeners: thin. Parse, ack within Slack's 3 seconds, hand slow work (ECS calls,
the reboot) to the worker pool. Every answer the person sees is built elsewhere."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.domain.errors import StoreUnavailable
from bot.domain.model import Role
from bot.domain.parser import (
    CommandError,
    GrantCommand,
    HelpCommand,
    RebootCommand,
    RevokeCommand,
    RolesCommand,
    ScheduledCommand,
    StatusCommand,
    parse_command,
)
from bot.domain.policy import Binding, Principal, Target, check_channel, check_role
from bot.logs import request_context
from bot.services import alarms as alarms_service
from bot.services import approval as approval_service
from bot.services import clicks
from bot.services import confirm as confirm_service
from bot.services import preview as preview_service
from bot.services import retry as retry_service
from bot.services import roles as roles_service
from bot.services import rollout as rollout_service
from bot.services import scheduled as scheduled_service
from bot.services.answers import ClickNotRecorded
from bot.services.context import Context
from bot.slack import blocks, cards, replies
from bot.slack.jobs import Jobs
from bot.slack.surfaces import Forms
from bot.slack.text import (
    denied_text,
    help_text,
    problems_text,
    role_change_text,
    roles_text,
    scheduled_text,
)

log = logging.getLogger(__name__)

Handler = Callable[..., None]


def register(app: App, ctx: Context, jobs: Jobs, forms: Forms) -> None:
    """Attach the slash command and the buttons to ``app``."""
    # Any command name: workspaces may install the app as /ecs-reboot-staging and so on.
    app.command(re.compile(r"^/.+"))(_on_command(ctx, jobs, forms))
    app.action(blocks.ACTION_CONFIRM)(_on_click(ctx, jobs, forms, confirm_service.confirm))
    app.action(blocks.ACTION_CANCEL)(_on_click(ctx, jobs, forms, confirm_service.cancel))
    app.action(blocks.ACTION_PAUSE)(_on_click(ctx, jobs, forms, rollout_service.pause))
    app.action(blocks.ACTION_RESUME)(_on_click(ctx, jobs, forms, rollout_service.resume))
    app.action(blocks.ACTION_ABORT)(_on_click(ctx, jobs, forms, rollout_service.abort))
    app.action(blocks.ACTION_APPROVE)(_on_click(ctx, jobs, forms, approval_service.approve))
    app.action(blocks.ACTION_REJECT)(_on_click(ctx, jobs, forms, approval_service.reject))
    app.action(blocks.ACTION_RETRY)(_on_click(ctx, jobs, forms, retry_service.retry))
    app.action(cards.ACTION_ALARM_REBOOT)(
        _on_click(ctx, jobs, forms, alarms_service.reboot_from_card)
    )


def _on_command(ctx: Context, jobs: Jobs, forms: Forms) -> Handler:
    def on_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        user = str(command.get("user_id", ""))
        channel = str(command.get("channel_id", ""))
        text = str(command.get("text", ""))
        if not text.strip() and command.get("trigger_id"):
            # No arguments: the reboot form (docs/PRODUCT.md §5.14), in this channel.
            forms.open_later(
                client, trigger_id=str(command["trigger_id"]), user=user, channel=channel
            )
            ack()
            return
        try:
            reply, work = answer_command(ctx, user=user, channel=channel, text=text)
        except StoreUnavailable as error:
            log.error("command not handled: %s", error)
            reply, work = f":x: {error}", None
        # Queued before the ack is sent, so that "acked" implies "the work is on its way".
        if work is not None:
            jobs.submit(work, channel=channel, user=user)
        ack(text=reply, response_type="ephemeral")

    return on_command


def answer_command(
    ctx: Context, *, user: str, channel: str, text: str
) -> tuple[str, Callable[[], object] | None]:
    """The immediate (ephemeral) answer to a command, and the slow work to run after
    the ack, if any. Fast: the database at most, never ECS."""
    parsed = parse_command(
        text,
        default_region=ctx.config.default_region,
        max_instances=ctx.config.max_instances,
        require_reason=ctx.config.require_reason,
        place_when=lambda when: scheduled_service.when_problem(ctx, when),
    )
    if isinstance(parsed, CommandError):
        return problems_text(parsed), None
    if isinstance(parsed, HelpCommand):
        return (
            help_text(
                default_region=ctx.config.default_region,
                max_instances=ctx.config.max_instances,
                confirm_ttl=ctx.config.confirm_ttl,
                approval=ctx.config.approval_rules,
                approval_ttl=ctx.config.approval_ttl,
                require_reason=ctx.config.require_reason,
            ),
            None,
        )
    if isinstance(parsed, StatusCommand):
        return _status(ctx, user=user, channel=channel, request_id=parsed.request_id), None
    if isinstance(parsed, RolesCommand):
        return roles_text(roles_service.roles_view(ctx, user)), None
    if isinstance(parsed, ScheduledCommand):
        return scheduled_text(scheduled_service.scheduled_view(ctx)), None
    if isinstance(parsed, GrantCommand | RevokeCommand):
        binding = Binding(
            subject=parsed.subject,
            role=Role(parsed.role),
            region=parsed.region or "",
            tag_key=parsed.tag_key or "",
            tag_value=parsed.tag_value or "",
            account=parsed.account or "",
        )
        change = roles_service.change_from_slack(
            ctx, user=user, binding=binding, revoke_it=isinstance(parsed, RevokeCommand)
        )
        return role_change_text(change), None
    assert isinstance(parsed, RebootCommand)
    asked = preview_service.PreviewAsked(user, channel, parsed, command_text=text)
    decision = preview_service.early_check(ctx, asked)
    if decision.denial is not None:
        return denied_text(decision.denial), None
    count = len(parsed.instances)
    if parsed.selectors:
        typed = " ".join(
            f"`{str(selector).replace('`', chr(39))}`" for selector in parsed.selectors
        )
        reply = f":mag: Looking up {typed} in {', '.join(parsed.search_regions)}"
        reply += f" (and {count} instance{'s' if count != 1 else ''} by id)…" if count else "…"
    else:
        regions = ", ".join(sorted({ref.region for ref in parsed.instances}))
        reply = f":mag: Checking {count} instance{'s' if count != 1 else ''} in {regions}…"
    if parsed.duplicates:
        dropped = ", ".join(f"`{ref.instance_id}`" for ref in parsed.duplicates[:10])
        reply += f" (dropped {len(parsed.duplicates)} duplicate(s): {dropped})"
    return reply, lambda: preview_service.preview(ctx, asked)


def _status(ctx: Context, *, user: str, channel: str, request_id: str) -> str:
    with ctx.uow() as uow:
        principal: Principal = ctx.principal(uow, user)
        request = uow.requests.get(request_id)
    allowed_here = check_channel(channel, ctx.config.allowed_channels)
    if allowed_here.denial is not None:
        return denied_text(allowed_here.denial)
    if request is None:
        return f"No request `{blocks.escape(request_id)}` exists. Request ids are in each preview."
    targets = [Target.at(i.ref, i.tags) for i in request.instances]
    may_view = check_role(principal, Role.VIEWER, targets)
    if may_view.denial is not None:
        return denied_text(may_view.denial)
    return replies.status_text(request, permalink=request.permalink)


HomeChannel = Callable[[Context, str], str | None]
"""The channel a button's value belongs to (a request's, a card's), for a click made in
App Home, which has none; None when the value names nothing."""


def _on_click(
    ctx: Context,
    jobs: Jobs,
    forms: Forms,
    use_case: Callable[[Context, clicks.Click], clicks.Later],
    home_channel: HomeChannel | None = None,
) -> Handler:
    channel_of = home_channel or _requests_channel

    def on_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        click = click_from_body(body)
        from_home = click is not None and not click.channel
        if click is not None and from_home:
            click = _in_channel_of(ctx, click, channel_of)
        if click is None:
            log.warning("ignored a malformed block_actions payload")
            ack()
            return
        # Decided before the ack (the database only), so that "acked" means "recorded":
        # a process killed right after it has not lost the click.
        try:
            with request_context(click.request_id):
                later: Callable[[], object] = use_case(ctx, click)
        except StoreUnavailable as error:
            log.error("click not handled: %s", error)
            later = _tell_unavailable(ctx, click, error)
        if from_home:
            later = _then_home(later, forms, client, click.user)
        jobs.submit(later, channel=click.channel, user=click.user, request_id=click.request_id)
        # An empty ack: the message itself is updated by the worker.
        ack()

    return on_click


def _then_home(
    work: Callable[[], object], forms: Forms, client: WebClient, user: str
) -> Callable[[], object]:
    """A click in App Home: the home is drawn again once the click has done its work."""

    def work_then_home() -> object:
        try:
            return work()
        finally:
            forms.publish_home_later(client, user)

    return work_then_home


def _in_channel_of(
    ctx: Context, click: clicks.Click, channel_of: HomeChannel
) -> clicks.Click | None:
    """A click from App Home (no channel) as one in the channel of what it acts on, since
    the rules are those of a click on that message; None when the value names nothing."""
    try:
        channel = channel_of(ctx, click.request_id)
    except StoreUnavailable:
        return None
    return None if channel is None else dataclasses.replace(click, channel=channel)


def _requests_channel(ctx: Context, request_id: str) -> str | None:
    with ctx.uow() as uow:
        request = uow.requests.get(request_id)
    return None if request is None else request.channel


def _tell_unavailable(
    ctx: Context, click: clicks.Click, error: StoreUnavailable
) -> Callable[[], None]:
    def tell() -> None:
        ctx.presenter.tell(click.channel, click.user, ClickNotRecorded(error))

    return tell


def click_from_body(body: dict[str, Any]) -> clicks.Click | None:
    """The click's user, channel and request id, or None when the payload lacks them."""
    try:
        action = body["actions"][0]
        user = str(body["user"]["id"])
        container = body.get("container") or {}
        if container.get("type") == "view":
            channel = ""  # App Home: the caller finds the request's channel
        else:
            channel = str((body.get("channel") or {}).get("id") or container["channel_id"])
        value = str(action["value"])
    except (KeyError, IndexError, TypeError):
        return None
    if not value or len(value) > 64:
        return None
    return clicks.Click(
        user=user,
        channel=channel,
        request_id=value,
        message_ts=clicked_message_ts(body, str(action.get("action_id") or ""), value),
    )


def clicked_message_ts(body: dict[str, Any], action_id: str, request_id: str) -> str | None:
    """The ts of the message the click was made on, only when the signed payload ties
    that message to this request: its ``message`` is at that ts and carries the clicked
    button (``action_id``) with this request id as its ``value``. A crash-window click
    adopts this ts as the request's message (bot/services/clicks.py), so a ts that
    any other message (or none) came with must never be taken."""
    container = body.get("container")
    message = body.get("message")
    if not isinstance(container, dict) or not isinstance(message, dict):
        return None
    ts = container.get("message_ts")
    if not ts or str(message.get("ts") or "") != str(ts):
        return None
    blocks = message.get("blocks")
    for block in blocks if isinstance(blocks, list) else ():
        elements = block.get("elements") if isinstance(block, dict) else None
        for element in elements if isinstance(elements, list) else ():
            if (
                isinstance(element, dict)
                and element.get("action_id") == action_id
                and element.get("value") == request_id
            ):
                return str(ts)
    return None

"""The ``Presenter`` port over the Slack Web API: renders with ``blocks`` and sends.

Slack failures here are logged and swallowed on purpose: the request's state is in the
database already, and a message that could not be posted must not undo a reboot or
crash a worker. Rate limits are honoured by the WebClient's retry handler (it sleeps
the worker thread, never the thread that acks).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot import metrics
from bot.domain.alarms import AlarmCard
from bot.domain.model import RolloutEvent
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.schedule import ScheduleEvent, ScheduleEventKind
from bot.services.answers import Answer, PreviewNote
from bot.slack import blocks, cards, replies, text
from bot.slack.blocks import Message

_THREAD_ONLY = frozenset(
    {
        ScheduleEventKind.WINDOW_CLOSED,
        ScheduleEventKind.WINDOW_REOPENED,
        ScheduleEventKind.SOME_SKIPPED,
        ScheduleEventKind.STARTED_LATE,
    }
)

log = logging.getLogger(__name__)


class SlackPresenter:
    def __init__(self, client: WebClient, *, notify_channel: str | None = None) -> None:
        self._client = client
        self._notify_channel = notify_channel

    def _post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> str | None:
        return self._post_or_reason(channel, message, thread_ts=thread_ts)[0]

    def _post_or_reason(
        self, channel: str, message: Message, *, thread_ts: str | None = None
    ) -> tuple[str | None, str]:
        """The message's ts, or None and Slack's reason for refusing it."""
        metrics.SLACK_CALLS.labels(method="chat.postMessage").inc()
        try:
            response = self._client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=message.block_dicts() or None,
                thread_ts=thread_ts,
                unfurl_links=False,
            )
        except (SlackApiError, SlackClientError) as error:
            reason = _reason(error)
            log.error("chat.postMessage to %s failed: %s", channel, reason)
            return None, reason
        ts = response.get("ts")
        for extra in message.overflow:
            self._post(channel, extra, thread_ts=thread_ts or ts)
        return (str(ts) if ts else None), ""

    def publish_request(
        self, request: RebootRequest, *, can_execute: bool, note: PreviewNote | None = None
    ) -> str | None:
        message = blocks.request_message(
            request,
            can_execute=can_execute,
            note=text.preview_note_text(note) if note is not None else None,
        )
        ts, reason = self._post_or_reason(request.channel, message, thread_ts=request.thread_ts)
        if ts is None:
            self._post_ephemeral(request.channel, request.requester, _preview_not_posted(reason))
        return ts

    def refresh_request(self, request: RebootRequest) -> bool:
        if not request.message_ts:
            return True  # no message to redraw (the preview was never posted)
        message = blocks.request_message(request, can_execute=False)
        return self._update(request.channel, request.message_ts, message, what=request.id)

    def _update(self, channel: str, ts: str, message: Message, *, what: str) -> bool:
        metrics.SLACK_CALLS.labels(method="chat.update").inc()
        try:
            self._client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.block_dicts()
            )
        except (SlackApiError, SlackClientError) as error:
            log.error("chat.update of %s failed: %s", what, _reason(error))
            return False
        return True

    def post_alarm_card(self, card: AlarmCard) -> str | None:
        return self._post(card.channel, cards.alarm_card(card))

    def refresh_alarm_card(self, card: AlarmCard) -> bool:
        if not card.message_ts:
            return True
        return self._update(
            card.channel, card.message_ts, cards.alarm_card(card), what=f"alarm card {card.id}"
        )

    def reply_execution(self, request: RebootRequest) -> None:
        if request.thread_root:
            self._post(
                request.channel, replies.execution_reply(request), thread_ts=request.thread_root
            )

    def reply_progress(self, request: RebootRequest, changed: Sequence[PlannedInstance]) -> None:
        if request.thread_root:
            message = replies.progress_reply(request, changed)
            self._post(request.channel, message, thread_ts=request.thread_root)

    def reply_summary(self, request: RebootRequest) -> bool:
        if not request.message_ts:
            return True  # no thread to reply in (the preview was never posted)
        message = replies.summary_reply(request)
        return self._post(request.channel, message, thread_ts=request.thread_root) is not None

    def notify_started(self, request: RebootRequest) -> str | None:
        if not self._notify_channel:
            return None
        message = replies.notify_started(request, self._permalink(request))
        return self._post(self._notify_channel, message)

    def notify_finished(self, request: RebootRequest) -> bool:
        if not self._notify_channel:
            return True
        message = replies.notify_finished(request, self._permalink(request))
        return self._post(self._notify_channel, message) is not None

    def notify_rollout(self, request: RebootRequest, event: RolloutEvent) -> bool:
        if not self._notify_channel:
            return True
        message = replies.notify_rollout(request, event, self._permalink(request))
        return self._post(self._notify_channel, message) is not None

    def announce_schedule(self, request: RebootRequest, event: ScheduleEvent) -> bool:
        said = text.schedule_event_text(request, event)
        message = Message(text=said, blocks=(SectionBlock(text=MarkdownTextObject(text=said)),))
        told = False
        if request.message_ts:
            told = self._post(request.channel, message, thread_ts=request.message_ts) is not None
        # The notify channel hears of schedules, reminders and schedules that did not run;
        # a window closing or opening is for the thread.
        if self._notify_channel and event.kind not in _THREAD_ONLY:
            link = self._permalink(request)
            said_there = said + (f" · <{link}|thread>" if link else "")
            there = Message(
                text=said_there, blocks=(SectionBlock(text=MarkdownTextObject(text=said_there)),)
            )
            told = self._post(self._notify_channel, there) is not None or told
        return told

    def notify_awaiting_approval(
        self, request: RebootRequest, *, approver_group: str | None
    ) -> str | None:
        if not self._notify_channel:
            return None
        message = replies.notify_awaiting_approval(
            request, self._permalink(request), approver_group
        )
        return self._post(self._notify_channel, message)

    def _permalink(self, request: RebootRequest) -> str | None:
        if request.permalink or not request.message_ts:
            return request.permalink
        return self.permalink(request.channel, request.message_ts)

    def permalink(self, channel: str, ts: str) -> str | None:
        metrics.SLACK_CALLS.labels(method="chat.getPermalink").inc()
        try:
            response = self._client.chat_getPermalink(channel=channel, message_ts=ts)
        except (SlackApiError, SlackClientError) as error:
            log.warning("chat.getPermalink failed: %s", _reason(error))
            return None
        link = response.get("permalink")
        return str(link) if link else None

    def tell(self, channel: str, user: str, answer: Answer) -> None:
        self._post_ephemeral(channel, user, text.answer_text(answer))

    def _post_ephemeral(self, channel: str, user: str, reply: str) -> None:
        metrics.SLACK_CALLS.labels(method="chat.postEphemeral").inc()
        try:
            self._client.chat_postEphemeral(channel=channel, user=user, text=reply)
        except (SlackApiError, SlackClientError) as error:
            log.error("chat.postEphemeral to %s in %s failed: %s", user, channel, _reason(error))


def _preview_not_posted(reason: str) -> str:
    if reason == "ratelimited":
        # Still refused after the retries: a busy moment, not a missing permission.
        return (
            ":x: Slack is limiting how fast I may post just now, so I could not post the "
            "preview. Nothing will be rebooted; send the command again in a minute."
        )
    return (
        ":x: I could not post the preview in this channel (is the app allowed to post "
        "here?). Nothing will be rebooted."
    )


def _reason(error: SlackClientError) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown error"))
    return type(error).__name__

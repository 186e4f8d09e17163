"""The in-memory ``Presenter`` and ``GroupDirectory`` behind
:func:`bot.testing.memory.memory_bot`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.alarms import AlarmCard
from bot.domain.model import RolloutEvent
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.schedule import ScheduleEvent
from bot.services.answers import Answer, PreviewNote

# --- chat ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresenterCall:
    """One thing the use cases asked the presenter to show."""

    method: str
    request: RebootRequest | None = None
    changed: tuple[PlannedInstance, ...] = ()
    channel: str | None = None
    user: str | None = None
    # What the use case handed over to be said: an ``Answer`` for ``tell``, the
    # ``PreviewNote`` for ``publish_request``. Values, not words: the fake renders none.
    said: object = None


class FakePresenter:
    """``Presenter`` that draws nothing and records every call.

    Set :attr:`slack_down` to make every call that can fail (``refresh_request``,
    ``reply_summary``, ``notify_finished``) report that Slack did not take it.
    """

    def __init__(self) -> None:
        self.calls: list[PresenterCall] = []
        self.slack_down = False
        self._posted = 0

    def of(self, method: str) -> list[PresenterCall]:
        return [call for call in self.calls if call.method == method]

    def _ts(self) -> str:
        self._posted += 1
        return f"1700000000.{self._posted:06d}"

    def publish_request(
        self, request: RebootRequest, *, can_execute: bool, note: PreviewNote | None = None
    ) -> str | None:
        self.calls.append(PresenterCall("publish_request", request, said=note))
        return self._ts()

    def permalink(self, channel: str, ts: str) -> str | None:
        return f"https://slack.example/archives/{channel}/p{ts.replace('.', '')}"

    def refresh_request(self, request: RebootRequest) -> bool:
        self.calls.append(PresenterCall("refresh_request", request))
        return not self.slack_down

    def reply_execution(self, request: RebootRequest) -> None:
        self.calls.append(PresenterCall("reply_execution", request))

    def reply_progress(self, request: RebootRequest, changed: Sequence[PlannedInstance]) -> None:
        self.calls.append(PresenterCall("reply_progress", request, tuple(changed)))

    def reply_summary(self, request: RebootRequest) -> bool:
        self.calls.append(PresenterCall("reply_summary", request))
        return not self.slack_down

    def notify_started(self, request: RebootRequest) -> str | None:
        self.calls.append(PresenterCall("notify_started", request))
        return self._ts()

    def notify_finished(self, request: RebootRequest) -> bool:
        self.calls.append(PresenterCall("notify_finished", request))
        return not self.slack_down

    def notify_rollout(self, request: RebootRequest, event: RolloutEvent) -> bool:
        self.calls.append(PresenterCall("notify_rollout", request, said=event))
        return not self.slack_down

    def announce_schedule(self, request: RebootRequest, event: ScheduleEvent) -> bool:
        self.calls.append(PresenterCall("announce_schedule", request, said=event))
        return not self.slack_down

    def notify_awaiting_approval(
        self, request: RebootRequest, *, approver_group: str | None
    ) -> str | None:
        self.calls.append(PresenterCall("notify_awaiting_approval", request, said=approver_group))
        return self._ts()

    def tell(self, channel: str, user: str, answer: Answer) -> None:
        self.calls.append(PresenterCall("tell", channel=channel, user=user, said=answer))

    def post_alarm_card(self, card: AlarmCard) -> str | None:
        self.calls.append(PresenterCall("post_alarm_card", channel=card.channel, said=card))
        return self._ts()

    def refresh_alarm_card(self, card: AlarmCard) -> bool:
        self.calls.append(PresenterCall("refresh_alarm_card", channel=card.channel, said=card))
        return not self.slack_down


class FakeGroups:
    """``GroupDirectory`` over a dict of group id → members."""

    def __init__(self, members: Mapping[str, Iterable[str]] | None = None) -> None:
        self.groups = {group: frozenset(users) for group, users in (members or {}).items()}

    def members(self, group_id: str) -> frozenset[str]:
        return self.groups.get(group_id, frozenset())

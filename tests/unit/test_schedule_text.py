"""The words of scheduled reboots (``bot.slack.text``): every moment of a scheduled request,
a WHEN that cannot be used, and ``/ecs-reboot scheduled``. Pure: value in, text out."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.domain.model import InstanceRef, RequestState, Role, Verdict
from bot.domain.policy import NoRole, RequesterOrAdminOnly, RoleMissing, Target
from bot.domain.request import PlannedInstance, RebootRequest
from bot.domain.schedule import ScheduleEvent, ScheduleEventKind, WhenProblem
from bot.domain.windows import Window
from bot.services.answers import CannotSchedule
from bot.services.scheduled import ScheduledView, WindowView
from bot.slack.text import answer_text, schedule_event_text, scheduled_text

T0 = datetime(2026, 12, 6, 10, tzinfo=UTC)
START = T0 + timedelta(hours=8)


def _request(**fields: object) -> RebootRequest:
    return RebootRequest(
        id="r1",
        state=RequestState.SCHEDULED,
        force=False,
        requester="U0REQ",
        channel="C0OPS",
        created_at=T0,
        expires_at=T0 + timedelta(minutes=5),
        instances=(
            PlannedInstance(InstanceRef("cn-hangzhou", "i-bp1abcdefgh"), 0, Verdict.WILL_REBOOT),
        ),
        confirmed_by="U0CONF",
        scheduled_for=START,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", list(ScheduleEventKind))
def test_every_moment_has_words_naming_the_request(kind: ScheduleEventKind) -> None:
    said = schedule_event_text(_request(window="night"), ScheduleEvent(kind, at=START, count=1))
    assert "`r1`" in said
    assert "\n" not in said


def test_moments_say_when_with_a_slack_date() -> None:
    said = schedule_event_text(_request(), ScheduleEvent(ScheduleEventKind.SCHEDULED, at=START))
    assert f"<!date^{int(START.timestamp())}^" in said
    assert "<@U0REQ>" in said
    assert "<@U0CONF>" in said


@pytest.mark.parametrize(
    ("denial", "says"),
    [
        (
            NoRole(Role.OPERATOR),
            "<@U0CONF>, who confirmed it, no longer holds any /ecs-reboot role",
        ),
        (
            RoleMissing(Role.OPERATOR, (Target("cn-hangzhou", "i-bp1abcdefgh"),)),
            "no longer holds the operator role for i-bp1abcdefgh (cn-hangzhou)",
        ),
        (RequesterOrAdminOnly("U0REQ"), "is no longer an admin for these instances"),
    ],
)
def test_a_lost_permission_names_whose_and_why(denial: object, says: str) -> None:
    event = ScheduleEvent(ScheduleEventKind.PERMISSION_LOST, user="U0CONF", denial=denial)  # type: ignore[arg-type]
    said = schedule_event_text(_request(), event)
    assert says in said
    assert "Nothing was rebooted" in said


def test_a_when_that_cannot_be_used() -> None:
    problem = WhenProblem(
        "`--in 30s` is only 30 s from now; a scheduled reboot starts at least 1 min ahead."
    )
    assert answer_text(CannotSchedule(problem)) == (
        ":x: `--in 30s` is only 30 s from now; a scheduled reboot starts at least 1 min ahead. "
        "Nothing was previewed or rebooted."
    )


def test_scheduled_list_with_nothing_and_no_windows() -> None:
    said = scheduled_text(ScheduledView((), (), (), "Asia/Shanghai"))
    assert "Nothing is scheduled." in said
    assert "No maintenance window is set up (ECSBOT_WINDOWS)" in said
    assert "Asia/Shanghai" in said


def test_scheduled_list_shows_an_open_window_until_its_closing() -> None:
    window = Window("night", frozenset(range(7)), time(2), time(4), "UTC")
    view = ScheduledView(
        (_request(window="night"),),
        (),
        (WindowView(window, START, open_until=T0 + timedelta(hours=1)),),
        "UTC",
    )
    said = scheduled_text(view)
    assert "• `r1`" in said
    assert "`night`: daily 02:00-04:00 UTC: open now, until" in said

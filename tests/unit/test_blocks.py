"""Every message the bot sends (docs/PRODUCT.md §5.3–5.6), within Slack's limits
(docs/SLACK-API.md), with user-supplied text that can never ping anyone."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.model import InstanceOutcome, InstanceRef, RequestState, Verdict
from bot.domain.request import PlannedInstance, RebootRequest
from bot.slack.blocks import ACTION_CANCEL, ACTION_CONFIRM, Message, code, escape, request_message
from bot.slack.replies import (
    execution_reply,
    notify_finished,
    notify_started,
    progress_reply,
    status_text,
    summary_reply,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
HZ = "cn-hangzhou"
SH = "cn-shanghai"
REQUESTER = "U0ALICE"
CONFIRMER = "U0BOB"
CHANNEL = "C0OPS"
REQUEST_ID = "01HXYZREQUEST"
PERMALINK = "https://example.slack.com/archives/C0OPS/p1714557600000100"
HOSTILE = "<!channel> *bold* <@U123> <!here> <#C999> & `tick` <https://evil.example|click>"
# Names as long as ECS allows (128 characters), full of characters that grow when escaped.
LONG_NAME = ("web-&<>" * 20)[:128]

# What the bot itself may put in angle brackets: its people, its dates, its links.
_OWN_MARKUP = re.compile(
    r"<@U0[A-Z]+>|<#C0OPS>|<!date\^\d+\^[^|>]*\|[^<>]*>|<https://example\.slack\.com/[^<>]*>"
)


# --- builders -------------------------------------------------------------------------------


def iid(n: int) -> str:
    return f"i-bp1abcd{n:06d}"


def planned(
    n: int,
    *,
    verdict: Verdict = Verdict.WILL_REBOOT,
    outcome: InstanceOutcome = InstanceOutcome.PENDING,
    name: str | None = None,
    region: str = HZ,
    **fields: Any,
) -> PlannedInstance:
    return PlannedInstance(
        ref=InstanceRef(region, iid(n)),
        position=n,
        verdict=verdict,
        name=f"web-{n}" if name is None else name,
        status="Running" if verdict is not Verdict.NOT_RUNNING else "Stopped",
        zone=f"{region}-h",
        outcome=outcome,
        **fields,
    )


def request(
    instances: list[PlannedInstance] | tuple[PlannedInstance, ...],
    *,
    state: RequestState = RequestState.PREVIEWED,
    force: bool = False,
    **fields: Any,
) -> RebootRequest:
    return RebootRequest(
        id=REQUEST_ID,
        state=state,
        force=force,
        requester=REQUESTER,
        channel=CHANNEL,
        created_at=T0,
        expires_at=T0 + timedelta(minutes=5),
        instances=tuple(instances),
        **fields,
    )


def executing(req: RebootRequest) -> RebootRequest:
    return dataclasses.replace(
        req,
        state=RequestState.EXECUTING,
        confirmed_by=CONFIRMER,
        confirmed_at=T0 + timedelta(minutes=1),
    )


def finished(req: RebootRequest, state: RequestState) -> RebootRequest:
    return dataclasses.replace(
        executing(req), state=state, finished_at=T0 + timedelta(minutes=4, seconds=5)
    )


def with_outcomes(instances: list[PlannedInstance]) -> list[PlannedInstance]:
    """A mix of every end: back, failed with a message, timed out, skipped."""
    sent = T0 + timedelta(minutes=1)
    result = []
    for i in instances:
        kind = i.position % 4
        if not i.will_reboot:
            result.append(dataclasses.replace(i, outcome=InstanceOutcome.SKIPPED))
        elif kind in (0, 1):
            result.append(
                dataclasses.replace(
                    i,
                    outcome=InstanceOutcome.SUCCEEDED,
                    reboot_sent_at=sent,
                    finished_at=sent + timedelta(seconds=40 + i.position % 50),
                )
            )
        elif kind == 2:
            result.append(
                dataclasses.replace(
                    i,
                    outcome=InstanceOutcome.FAILED,
                    code="IncorrectInstanceStatus",
                    message="The instance is not Running any more (code IncorrectInstanceStatus, "
                    "RequestId 6D4C2F8A-1B2C-4D5E-9F00-112233445566)",
                    reboot_sent_at=sent,
                    finished_at=sent,
                )
            )
        else:
            result.append(
                dataclasses.replace(
                    i,
                    outcome=InstanceOutcome.TIMED_OUT,
                    message="Not back after 600 s (last seen Stopped).",
                    reboot_sent_at=sent,
                    finished_at=sent + timedelta(minutes=10),
                )
            )
    return result


def many(count: int, *, name: str | None = None, mixed: bool = True) -> list[PlannedInstance]:
    verdicts = [Verdict.WILL_REBOOT, Verdict.WILL_REBOOT, Verdict.NOT_RUNNING, Verdict.REFUSED]
    instances = []
    for n in range(count):
        verdict = verdicts[n % 4] if mixed else Verdict.WILL_REBOOT
        refused = verdict is Verdict.REFUSED
        instances.append(
            planned(
                n,
                verdict=verdict,
                name=name,
                region=HZ if n % 3 else SH,
                verdict_code="QuotaExceed" if refused else None,
                verdict_message="Not enough quota & try later (code QuotaExceed)"
                if refused
                else None,
            )
        )
    return instances


# --- inspection -----------------------------------------------------------------------------


def all_messages(message: Message) -> Iterator[Message]:
    yield message
    for extra in message.overflow:
        yield from all_messages(extra)


def rendered(message: Message) -> str:
    """Everything Slack would receive for the message and its overflow, as JSON."""
    return json.dumps(
        [{"text": m.text, "blocks": m.block_dicts()} for m in all_messages(message)],
        ensure_ascii=False,
    )


def section_texts(block: dict[str, Any]) -> Iterator[str]:
    if block["type"] == "section":
        if "text" in block:
            yield block["text"]["text"]
        for f in block.get("fields", []):
            yield f["text"]


def assert_within_slack_limits(message: Message) -> None:
    for m in all_messages(message):
        assert 1 <= len(m.blocks) <= 50, f"{len(m.blocks)} blocks"
        dicts: list[dict[str, Any]] = m.block_dicts()  # slack_sdk checks its own limits
        for block in dicts:
            for text in section_texts(block):
                assert len(text) <= 3000
            if block["type"] == "section":
                assert len(block.get("fields", [])) <= 10
            if block["type"] == "actions":
                assert len(block["elements"]) <= 25
        assert m.text


def actions(message: Message) -> list[dict[str, Any]]:
    return [b for b in message.block_dicts() if b["type"] == "actions"]


def buttons(message: Message) -> dict[str, dict[str, Any]]:
    found = [e for block in actions(message) for e in block["elements"]]
    by_id = {e["action_id"]: e for e in found}
    assert len(by_id) == len(found)
    return by_id


def assert_no_injected_markup(text: str) -> None:
    leftover = _OWN_MARKUP.sub("", text)
    assert "<" not in leftover, leftover
    assert ">" not in leftover, leftover
    assert "<!channel>" not in text
    assert "<!here>" not in text
    assert "<@U123>" not in text


# --- escaping -------------------------------------------------------------------------------


def test_escape_replaces_only_the_three_mrkdwn_characters() -> None:
    assert escape("a & b < c > d *e* _f_ ~g~") == "a &amp; b &lt; c &gt; d *e* _f_ ~g~"
    assert escape("<!channel>") == "&lt;!channel&gt;"
    assert escape("&lt;") == "&amp;lt;"


def test_code_puts_text_in_a_span_that_cannot_be_closed_from_inside() -> None:
    assert code("web-1") == "`web-1`"
    spanned = code("a`*b*`<@U1>")
    assert spanned.startswith("`")
    assert spanned.endswith("`")
    assert spanned.count("`") == 2
    assert "<" not in spanned


@given(st.text())
def test_escaped_text_holds_no_angle_brackets_and_round_trips(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped
    assert ">" not in escaped
    unescaped = escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == text


# --- the preview ----------------------------------------------------------------------------


def test_preview_has_confirm_and_cancel_buttons_carrying_the_request_id() -> None:
    message = request_message(request([planned(1), planned(2)]), can_execute=True)
    found = buttons(message)
    assert set(found) == {ACTION_CONFIRM, ACTION_CANCEL}
    assert ACTION_CONFIRM == "reboot_confirm"
    assert ACTION_CANCEL == "reboot_cancel"
    confirm, cancel = found[ACTION_CONFIRM], found[ACTION_CANCEL]
    assert confirm["style"] == "primary"
    assert confirm["value"] == REQUEST_ID
    assert "confirm" not in confirm
    assert cancel["value"] == REQUEST_ID
    assert cancel.get("style") != "danger"
    assert_within_slack_limits(message)


def test_force_preview_has_a_red_button_with_a_dialog_that_warns_of_data_loss() -> None:
    message = request_message(request([planned(1)], force=True), can_execute=True)
    confirm = buttons(message)[ACTION_CONFIRM]
    assert confirm["style"] == "danger"
    assert confirm["value"] == REQUEST_ID
    dialog = confirm["confirm"]
    assert dialog["style"] == "danger"
    assert dialog["text"]["type"] == "plain_text"
    warning = dialog["text"]["text"].lower()
    assert "data" in warning
    assert "lost" in warning or "loss" in warning
    assert "force" in rendered(message).lower()
    assert_within_slack_limits(message)


def test_preview_lists_every_instance_with_name_status_and_verdict() -> None:
    instances = [
        planned(1, name="web-1"),
        planned(2, verdict=Verdict.NOT_RUNNING, name="db-2"),
        planned(3, verdict=Verdict.NOT_FOUND, name=""),
        planned(
            4,
            verdict=Verdict.DENIED,
            verdict_code="Forbidden.RAM",
            verdict_message="The bot's RAM user may not reboot (code Forbidden.RAM)",
        ),
        planned(
            5,
            verdict=Verdict.REFUSED,
            verdict_code="OperationDenied.InArrears",
            verdict_message="The account is in arrears",
        ),
    ]
    text = rendered(request_message(request(instances), can_execute=True))
    for n in range(1, 6):
        assert iid(n) in text
    assert "web-1" in text
    assert "db-2" in text
    assert "will reboot" in text
    assert "not Running (Stopped)" in text
    assert "not found" in text
    assert "denied" in text
    assert "Forbidden.RAM" in text
    assert "in arrears" in text
    assert f"<@{REQUESTER}>" in text
    assert HZ in text
    assert "expires" in text


@pytest.mark.parametrize("verdict", [v for v in Verdict if v is not Verdict.WILL_REBOOT])
def test_no_buttons_when_nothing_can_be_rebooted(verdict: Verdict) -> None:
    message = request_message(request([planned(1, verdict=verdict)]), can_execute=True)
    assert actions(message) == []
    assert "Nothing here can be rebooted" in rendered(message)


@pytest.mark.parametrize("force", [False, True])
def test_no_buttons_for_someone_who_may_not_execute(force: bool) -> None:
    message = request_message(
        request([planned(1)], force=force),
        can_execute=False,
        note=f"<@{REQUESTER}> may view but not reboot: you need the operator role.",
    )
    assert actions(message) == []
    assert "may view but not reboot" in rendered(message)


def test_confirmed_request_has_no_buttons_and_names_who_confirmed() -> None:
    message = request_message(executing(request([planned(1), planned(2)])), can_execute=True)
    assert actions(message) == []
    text = rendered(message)
    assert f"Confirmed by <@{CONFIRMER}>" in text
    assert f"<@{REQUESTER}>" in text


def test_cancelled_request_has_no_buttons_and_names_who_cancelled() -> None:
    cancelled = dataclasses.replace(
        request([planned(1)], force=True),
        state=RequestState.CANCELLED,
        cancelled_by=CONFIRMER,
        cancelled_at=T0 + timedelta(minutes=2),
    )
    message = request_message(cancelled, can_execute=True)
    assert actions(message) == []
    text = rendered(message)
    assert f"Cancelled by <@{CONFIRMER}>" in text
    assert "cancelled" in text
    # The force warning belongs to the question, not to the record.
    assert "data not yet written" not in text


def test_expired_request_has_no_buttons_and_says_nothing_was_rebooted() -> None:
    expired = dataclasses.replace(request([planned(1)]), state=RequestState.EXPIRED)
    message = request_message(expired, can_execute=True)
    assert actions(message) == []
    assert "expired" in rendered(message)


@pytest.mark.parametrize(
    "state", [RequestState.SUCCEEDED, RequestState.PARTIALLY_FAILED, RequestState.FAILED]
)
def test_finished_request_has_no_buttons_and_shows_the_outcome(state: RequestState) -> None:
    done = finished(request(with_outcomes(many(8))), state)
    message = request_message(done, can_execute=True, permalink=PERMALINK)
    assert actions(message) == []
    text = rendered(message)
    assert state.value.replace("_", " ") in text
    assert f"<@{CONFIRMER}>" in text
    back, attempted = done.progress()
    assert f"{back}/{attempted} back" in text
    assert PERMALINK in text


def test_live_progress_is_shown_while_executing() -> None:
    instances = with_outcomes(many(4, mixed=False))
    instances[2] = dataclasses.replace(instances[2], outcome=InstanceOutcome.REBOOTING)
    instances[3] = dataclasses.replace(instances[3], outcome=InstanceOutcome.REBOOTING)
    text = rendered(request_message(executing(request(instances)), can_execute=True))
    assert "2/4 back" in text


# --- limits: 50 blocks, 3000 characters, nothing dropped ------------------------------------


SIZES = [1, 10, 11, 49, 50, 51, 100, 500, 1000]


def preview_variants(count: int) -> Iterator[tuple[str, RebootRequest, str | None]]:
    note = "Dropped 3 duplicate(s): `i-bp1abcd000001`."
    for name in (None, LONG_NAME, HOSTILE):
        instances = many(count, name=name)
        yield "normal", request(instances), None
        yield "force+note", request(instances, force=True), note
        yield "executing", executing(request(with_outcomes(instances))), None
        yield (
            "partially_failed",
            finished(request(with_outcomes(instances)), RequestState.PARTIALLY_FAILED),
            note,
        )
        later: dict[str, Any] = {
            "scheduled_for": T0 + timedelta(hours=5),
            "window": "nightly",
            "reason": "kernel " * 100,
            "approvals_needed": 2,
            "rollout_waves": 4,
            "rollout_canary": 1,
            "rollout_batch": 25,
            "rollout_max_errors": 0,
        }
        yield "scheduled force rollout+note", request(instances, force=True, **later), note
        yield (
            "scheduled",
            dataclasses.replace(
                request(instances, **later),
                state=RequestState.SCHEDULED,
                confirmed_by=CONFIRMER,
                confirmed_at=T0,
                scheduled_at=T0,
            ),
            None,
        )


@pytest.mark.parametrize("count", SIZES)
def test_request_message_stays_within_limits_and_drops_nothing(count: int) -> None:
    for label, req, note in preview_variants(count):
        message = request_message(req, can_execute=True, note=note, permalink=PERMALINK)
        assert_within_slack_limits(message)
        text = rendered(message)
        missing = [i.ref.instance_id for i in req.instances if i.ref.instance_id not in text]
        assert not missing, f"{label}: {len(missing)} instances missing"
        if req.state is RequestState.PREVIEWED and req.to_reboot:
            assert set(buttons(message)) == {ACTION_CONFIRM, ACTION_CANCEL}, label
        if req.scheduled_for is not None:
            assert "(in 5 h)" in text, label
            assert "window `nightly`" in text, label
        if req.state is RequestState.SCHEDULED:
            assert set(buttons(message)) == {ACTION_CANCEL}, label
            assert "*Scheduled for*" in text, label
        if note:
            assert note in text


@pytest.mark.parametrize("count", SIZES)
def test_thread_replies_stay_within_limits_and_drop_nothing(count: int) -> None:
    for name in (None, LONG_NAME, HOSTILE):
        instances = many(count, name=name)
        req = executing(request(instances))
        accepted = [
            dataclasses.replace(
                i, outcome=InstanceOutcome.REBOOTING, code="200", reboot_acked_at=T0
            )
            if i.will_reboot
            else i
            for i in instances
        ]
        reply = execution_reply(dataclasses.replace(req, instances=tuple(accepted)))
        assert_within_slack_limits(reply)
        text = rendered(reply)
        assert all(i.ref.instance_id in text for i in req.to_reboot)

        ended = with_outcomes(instances)
        done = finished(request(ended), RequestState.PARTIALLY_FAILED)
        progress = progress_reply(done, ended)
        assert_within_slack_limits(progress)
        text = rendered(progress)
        assert all(i.ref.instance_id in text for i in ended)

        summary = summary_reply(done)
        assert_within_slack_limits(summary)
        text = rendered(summary)
        problems = [
            i for i in ended if i.outcome in (InstanceOutcome.FAILED, InstanceOutcome.TIMED_OUT)
        ]
        assert all(i.ref.instance_id in text for i in problems)


def test_a_large_preview_sends_the_rest_to_the_thread() -> None:
    message = request_message(request(many(1000, name=LONG_NAME)), can_execute=True)
    assert message.overflow
    assert "rest of the list is in the thread" in rendered(
        Message(text=message.text, blocks=message.blocks)
    )
    for extra in message.overflow:
        assert_within_slack_limits(extra)


# --- escaping in every message --------------------------------------------------------------


def hostile_request(name: str, *, state: RequestState) -> RebootRequest:
    instances = [
        planned(1, name=name, tags={"team": name}),
        planned(
            2,
            name=name,
            verdict=Verdict.REFUSED,
            verdict_code="QuotaExceed",
            verdict_message=f"refused {name}",
        ),
    ]
    req = request(instances)
    if state is RequestState.PREVIEWED:
        return req
    ended = [
        dataclasses.replace(i, outcome=InstanceOutcome.FAILED, message=f"failed {name}", code="X")
        for i in instances
    ]
    return finished(request(ended), state)


def every_message(req: RebootRequest) -> list[Message]:
    return [
        request_message(req, can_execute=True, permalink=PERMALINK),
        execution_reply(req),
        progress_reply(req, req.instances),
        summary_reply(req),
        notify_started(req, PERMALINK),
        notify_finished(req, PERMALINK),
        Message(text=status_text(req, permalink=PERMALINK)),
    ]


@pytest.mark.parametrize("state", [RequestState.PREVIEWED, RequestState.FAILED])
def test_a_hostile_instance_name_pings_nobody(state: RequestState) -> None:
    messages = every_message(hostile_request(HOSTILE, state=state))
    for message in messages:
        assert_no_injected_markup(rendered(message))
    # The name is shown, made inert, not dropped.
    assert "&lt;!channel&gt;" in rendered(messages[0])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(min_size=1, max_size=128))
def test_no_instance_name_breaks_escaping(name: str) -> None:
    for state in (RequestState.PREVIEWED, RequestState.PARTIALLY_FAILED):
        for message in every_message(hostile_request(name, state=state)):
            assert_no_injected_markup(rendered(message))
            if message.blocks:
                assert_within_slack_limits(message)


@settings(max_examples=40)
@given(
    name=st.text(alphabet=st.sampled_from("<>&@!#`*_~| x"), min_size=1, max_size=128),
)
def test_markup_heavy_names_stay_inert(name: str) -> None:
    req = hostile_request(name, state=RequestState.PREVIEWED)
    assert_no_injected_markup(rendered(request_message(req, can_execute=True)))


# --- notifications and status ---------------------------------------------------------------


def test_notify_started_names_people_what_mode_and_thread() -> None:
    req = executing(request([planned(1), planned(2, region=SH)], force=True))
    message = notify_started(req, PERMALINK)
    assert_within_slack_limits(message)
    text = rendered(message)
    assert f"<@{REQUESTER}>" in text
    assert f"<@{CONFIRMER}>" in text
    assert f"<#{CHANNEL}>" in text
    assert REQUEST_ID in text
    assert "Force reboot of 2 instances" in text
    assert HZ in text
    assert SH in text
    assert PERMALINK in text


def test_notify_finished_names_people_outcome_and_thread() -> None:
    done = finished(request(with_outcomes(many(8, mixed=False))), RequestState.PARTIALLY_FAILED)
    message = notify_finished(done, PERMALINK)
    assert_within_slack_limits(message)
    text = rendered(message)
    back, attempted = done.progress()
    assert f"{back}/{attempted} back" in text
    assert "partially failed" in text
    assert "failed or timed out" in text
    assert f"<@{REQUESTER}>" in text
    assert f"<@{CONFIRMER}>" in text
    assert PERMALINK in text


def test_notify_without_a_permalink_has_no_dangling_link() -> None:
    text = rendered(notify_started(executing(request([planned(1)])), None))
    assert "|thread>" not in text


def test_summary_gives_the_outcome_the_people_and_every_failure() -> None:
    ended = with_outcomes(many(8, mixed=False))
    done = finished(request(ended), RequestState.PARTIALLY_FAILED)
    text = rendered(summary_reply(done))
    assert "partially failed" in text
    assert f"<@{REQUESTER}>" in text
    assert f"<@{CONFIRMER}>" in text
    assert "IncorrectInstanceStatus" in text
    assert "Not back after 600 s" in text
    assert "median" in text


def test_execution_reply_lists_each_api_result() -> None:
    instances = [
        planned(1, outcome=InstanceOutcome.REBOOTING, code="200", reboot_acked_at=T0),
        planned(
            2,
            outcome=InstanceOutcome.FAILED,
            code="IncorrectInstanceStatus",
            message="Not Running (code IncorrectInstanceStatus, RequestId R-1)",
        ),
        planned(3, verdict=Verdict.NOT_FOUND, outcome=InstanceOutcome.SKIPPED),
    ]
    text = rendered(execution_reply(executing(request(instances))))
    assert f"<@{CONFIRMER}> confirmed" in text
    assert "1/2" in text
    assert "1 skipped" in text
    assert "reboot accepted" in text
    assert "RequestId R-1" in text


def test_progress_reply_coalesces_every_change_in_one_message() -> None:
    ended = with_outcomes(many(6, mixed=False))
    message = progress_reply(executing(request(ended)), ended)
    assert len(list(all_messages(message))) == 1
    text = rendered(message)
    assert all(i.ref.instance_id in text for i in ended)
    assert "back after" in text


def test_status_text_names_people_and_states() -> None:
    done = finished(request(with_outcomes(many(3))), RequestState.SUCCEEDED)
    text = status_text(done, permalink=PERMALINK)
    assert REQUEST_ID in text
    assert f"<@{REQUESTER}>" in text
    assert f"Confirmed by <@{CONFIRMER}>" in text
    assert "succeeded" in text
    assert PERMALINK in text


def test_status_text_of_a_long_request_says_how_many_more() -> None:
    text = status_text(request(many(100)))
    assert "and 60 more" in text


def test_execution_reply_does_not_call_a_lost_answer_accepted() -> None:
    # EcsOutcomeUnknown: the call was sent, its answer lost; the instance is watched.
    lost = planned(
        1,
        outcome=InstanceOutcome.REBOOTING,
        reboot_sent_at=T0,
        reboot_calls=1,
        seen_leaving_running=True,
        message="The reboot call's answer was lost (timeout); watching the instance.",
    )
    accepted = planned(2, outcome=InstanceOutcome.REBOOTING, code="200", reboot_acked_at=T0)
    text = rendered(execution_reply(executing(request([lost, accepted]))))
    assert "accepted 1/2" in text
    assert "answer lost; the instance had restarted, so that call rebooted it" in text
    assert text.count("reboot accepted") == 1


def test_execution_reply_posted_late_still_shows_each_api_result() -> None:
    # After a crash the first reply may be posted by the poller, once some instances are
    # already back or timed out: their API result was still "accepted", not a failure.
    sent = T0 + timedelta(minutes=1)
    back = planned(
        1,
        outcome=InstanceOutcome.SUCCEEDED,
        code="200",
        reboot_sent_at=sent,
        reboot_acked_at=sent,
        message="Back to Running.",
    )
    slow = planned(
        2,
        outcome=InstanceOutcome.TIMED_OUT,
        code="200",
        reboot_sent_at=sent,
        reboot_acked_at=sent,
        message="Not back after 600 s (last seen Stopped).",
    )
    refused = planned(
        3,
        outcome=InstanceOutcome.FAILED,
        code="IncorrectInstanceStatus",
        reboot_sent_at=sent,
        reboot_acked_at=sent,
        message="Not Running (code IncorrectInstanceStatus)",
    )
    text = rendered(execution_reply(executing(request([back, slow, refused]))))
    assert "accepted 2/3" in text
    assert text.count("reboot accepted") == 2
    assert text.count(":x:") == 1
    assert ":x: Back to Running" not in text


def test_a_preview_over_several_accounts_groups_by_account_and_region() -> None:
    def at(n: int, account: str, region: str) -> PlannedInstance:
        one = planned(n, region=region)
        return dataclasses.replace(one, ref=InstanceRef(region, iid(n), account))

    instances = [at(1, "prod", HZ), at(2, "staging", HZ), at(3, "prod", SH), at(4, "prod", HZ)]
    text = rendered(request_message(request(instances), can_execute=True))
    headings = [text.index(h) for h in ("*prod · cn-hangzhou*", "*staging · cn-hangzhou*")]
    assert headings == sorted(headings)
    assert "*prod · cn-shanghai*" in text
    # Within a group, the person's order: 1 then 4 under prod · cn-hangzhou.
    assert headings[0] < text.index(iid(1)) < text.index(iid(4)) < headings[1]
    assert text.index(iid(2)) > headings[1]
    # One account: no headings, as before.
    single = rendered(request_message(request([planned(1), planned(2)]), can_execute=True))
    assert "*default · " not in single


def test_notifications_name_the_accounts_beyond_default() -> None:
    prod = dataclasses.replace(planned(1), ref=InstanceRef(HZ, iid(1), "prod"))
    confirmed = dataclasses.replace(
        request([prod], state=RequestState.EXECUTING), confirmed_by=CONFIRMER
    )
    assert "in cn-hangzhou of account prod started" in notify_started(confirmed, None).text
    plain = dataclasses.replace(
        request([planned(1)], state=RequestState.EXECUTING), confirmed_by=CONFIRMER
    )
    assert "in cn-hangzhou started" in notify_started(plain, None).text

"""Every outcome value in words, checked against the calls really sent: no sentence may
say "not sent again" of an instance sent a call more than once, nor "sent once more" of
one sent a single call (the self-contradicting message of issue 25 read "…so it was not
sent again…; sent once more: reboot accepted")."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.model import Happened, InstanceOutcome, InstanceRef, Verdict
from bot.domain.request import PlannedInstance
from bot.ecs import catalogue
from bot.slack.outcomes import first_result, outcome_sentence

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)

# Words that claim no further call went out, and words that claim one did.
NO_FURTHER_CALL = re.compile(r"not sent again|not re-sent|was not sent|only one call", re.I)
SENT_AGAIN = re.compile(r"sent once more|(?<!not )sent again|calls in all|second call", re.I)
NEVER_SENT = re.compile(r"never sent|nothing was sent", re.I)

# The calls an instance can have been sent when each value is recorded.
_CALLS: dict[Happened, tuple[int, ...]] = {
    Happened.NOT_SENT: (0,),
    Happened.NEVER_SENT: (0,),
    Happened.ROLLOUT_ABORTED: (0,),
    Happened.ROLLOUT_MAX_ERRORS: (0,),
}
for _happened in Happened:
    _CALLS.setdefault(_happened, (2, 3, 5) if _happened.sent_again else (1, 2, 3))

# What the ECS adapter may put in ``message`` beside a value: every catalogue sentence,
# with and without its code, and no words at all.
DETAILS = (None, *sorted(set(catalogue.CATALOGUE.values())), catalogue.OUTCOME_UNKNOWN)


def _instance(happened: Happened, calls: int, detail: str | None) -> PlannedInstance:
    sent = T0 if calls else None
    outcome = {
        Happened.ACCEPTED: InstanceOutcome.REBOOTING,
        Happened.REFUSED: InstanceOutcome.FAILED,
        Happened.NOT_IN_ANSWER: InstanceOutcome.FAILED,
        Happened.NOT_SENT: InstanceOutcome.PENDING,
        Happened.NEVER_SENT: InstanceOutcome.FAILED,
        Happened.ANSWER_LOST: InstanceOutcome.PENDING,
        Happened.BACK: InstanceOutcome.SUCCEEDED,
        Happened.BACK_AGENT_ONLINE: InstanceOutcome.SUCCEEDED,
        Happened.BACK_NO_AGENT: InstanceOutcome.SUCCEEDED,
        Happened.AGENT_SILENT: InstanceOutcome.TIMED_OUT,
        Happened.NOT_BACK: InstanceOutcome.TIMED_OUT,
        Happened.NOT_BACK_UNLISTED: InstanceOutcome.TIMED_OUT,
        Happened.NOT_BACK_UNREACHABLE: InstanceOutcome.TIMED_OUT,
        Happened.ROLLOUT_ABORTED: InstanceOutcome.ABORTED,
        Happened.ROLLOUT_MAX_ERRORS: InstanceOutcome.ABORTED,
    }.get(happened, InstanceOutcome.REBOOTING)
    return PlannedInstance(
        ref=InstanceRef("cn-hangzhou", "i-bp1abcd00001"),
        position=0,
        verdict=Verdict.WILL_REBOOT,
        status="Stopped",
        outcome=outcome,
        code="InternalError" if detail else None,
        message=detail,
        reboot_sent_at=sent,
        reboot_acked_at=T0 if happened in (Happened.ACCEPTED, Happened.RESENT_ACCEPTED) else None,
        reboot_calls=calls,
        reboot_resent_at=T0 + timedelta(seconds=1) if calls > 1 else None,
        unsent_since=T0 if not calls else None,
        finished_at=T0 + timedelta(seconds=600) if outcome.is_final else None,
        seen_leaving_running=happened is Happened.LOST_RESTARTED,
        happened=happened,
    )


def _cases() -> list[tuple[Happened, int]]:
    return [(happened, calls) for happened in Happened for calls in _CALLS[happened]]


@pytest.mark.parametrize(("happened", "calls"), _cases())
def test_every_value_has_words_that_agree_with_the_calls_sent(
    happened: Happened, calls: int
) -> None:
    for detail in DETAILS:
        instance = _instance(happened, calls, detail)
        texts = [outcome_sentence(instance, max_errors=1) or ""]
        if calls:
            texts.append(first_result(instance))
        for text in texts:
            assert text.strip(), f"{happened} has no words"
            if calls > 1:
                assert not NO_FURTHER_CALL.search(text), f"{happened}, {calls} calls: {text}"
            if calls <= 1:
                assert not SENT_AGAIN.search(text), f"{happened}, {calls} call: {text}"
            if calls:
                assert not NEVER_SENT.search(text), f"{happened}, {calls} calls: {text}"


def test_the_contradiction_of_issue_25_is_caught() -> None:
    # The sentence the bot used to write for an instance sent the call once more.
    old = (
        "The reboot call's answer was lost (The reboot call was sent but its answer was "
        "lost …, so it was not sent again; check the instances' status …); the instance "
        "had not restarted; sent once more: reboot accepted."
    )
    assert NO_FURTHER_CALL.search(old)
    assert SENT_AGAIN.search(old)


def test_no_catalogue_sentence_says_how_many_calls_went_out() -> None:
    # The adapter's sentences are put inside outcome sentences: one that claims a call
    # was or was not sent again would contradict the count beside it.
    for code, sentence in catalogue.CATALOGUE.items():
        assert not NO_FURTHER_CALL.search(sentence), code
        assert not SENT_AGAIN.search(sentence), code
    assert not NO_FURTHER_CALL.search(catalogue.OUTCOME_UNKNOWN)


def test_a_row_from_before_the_values_shows_its_words_as_written() -> None:
    old = dataclasses.replace(
        _instance(Happened.BACK, 1, None), happened=None, message="Back to Running."
    )
    assert outcome_sentence(old) == "Back to Running."


def test_a_second_call_accepted_says_so_once() -> None:
    instance = _instance(Happened.RESENT_ACCEPTED, 2, catalogue.OUTCOME_UNKNOWN)
    assert outcome_sentence(instance) == (
        "The answer to the reboot call was lost and the instance had not restarted, so it "
        "was sent once more: reboot accepted."
    )

"""What happened to an instance, in words: the one place an instance's ``Happened`` value
becomes a sentence, for the Slack messages and for ``history --json``'s ``message``.

Plain text (the Block Kit builders escape it). Every sentence about a lost answer is
built from the count of calls the instance was really sent (``reboot_calls``), so it
never says "not sent again" of an instance sent a call once more, nor "sent once more"
of one sent a single call (tests/unit/test_outcome_words.py renders every value).
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.model import Happened, InstanceOutcome
from bot.domain.request import PlannedInstance, RebootRequest


def instance_message(request: RebootRequest, instance: PlannedInstance) -> str | None:
    """``history --json``'s ``message``: what happened, else the preview's verdict."""
    sentence = outcome_sentence(instance, max_errors=request.rollout_max_errors)
    return sentence if sentence is not None else instance.verdict_message


def outcome_sentence(instance: PlannedInstance, *, max_errors: int | None = None) -> str | None:
    """What happened to the instance's reboot, as one sentence; None when nothing did.

    An instance recorded before outcomes were values (no ``happened``) has its words of
    the time in ``message``, shown as they are.
    """
    happened = instance.happened
    if happened is None:
        return instance.message
    detail = instance.message
    if happened.lost_answer:
        return _lost_sentence(instance, happened)
    seconds = _seconds_since_last_call(instance)
    match happened:
        case Happened.ACCEPTED:
            return "Reboot accepted."
        case Happened.REFUSED:
            return detail or _refused_without_words(instance)
        case Happened.NOT_IN_ANSWER:
            return "The API's answer did not mention this instance."
        case Happened.NOT_SENT:
            return (
                f"{detail or _throttled(instance)}; nothing was sent: trying again at the next poll"
            )
        case Happened.NEVER_SENT:
            waited = _seconds(instance.unsent_since, instance.finished_at)
            return f"{detail or _throttled(instance)} (refused for {waited} s, never sent)"
        case Happened.BACK:
            return "Back to Running."
        case Happened.BACK_AGENT_ONLINE:
            return "Back to Running, Cloud Assistant agent online."
        case Happened.BACK_NO_AGENT:
            return "Back to Running (no Cloud Assistant agent: judged on Running alone)."
        case Happened.WAITING_FOR_AGENT:
            return "Running again; waiting for its Cloud Assistant agent to report online."
        case Happened.AGENT_SILENT:
            return (
                "Running again, but its Cloud Assistant agent did not report online within "
                f"{seconds} s."
            )
        case Happened.NOT_BACK:
            return f"Not back after {seconds} s (last seen {instance.status or 'unknown'})."
        case Happened.NOT_BACK_UNLISTED:
            return f"Not back after {seconds} s (no longer listed by ECS)."
        case Happened.NOT_BACK_UNREACHABLE:
            why = f": {detail}" if detail else ""
            return f"Not back after {seconds} s (its account could not be reached{why})."
        case Happened.ROLLOUT_ABORTED:
            return "Not rebooted: the rollout was aborted before its wave."
        case Happened.ROLLOUT_MAX_ERRORS:
            allowed = f"--max-errors {max_errors}" if max_errors is not None else "--max-errors"
            return (
                "Not rebooted: the rollout stopped because more instances failed than "
                f"{allowed} allows."
            )
    raise AssertionError(f"no words for {happened}")  # pragma: no cover


def first_result(instance: PlannedInstance) -> str:
    """An instance's line in the first thread reply, for one sent a call: what the API
    answered, or what became of a lost answer. Short, lower case."""
    happened = instance.happened
    calls = _calls(instance)
    if instance.reboot_acked_at is not None and instance.outcome is not InstanceOutcome.FAILED:
        if happened is Happened.RESENT_ACCEPTED or calls > 1:
            again = _sent_again(calls)
            return f"answer lost; the instance had not restarted; {again}: reboot accepted"
        return "reboot accepted"
    if instance.outcome is InstanceOutcome.FAILED:
        return outcome_sentence(instance) or "failed"
    if instance.outcome is InstanceOutcome.PENDING:
        return "answer lost; checking whether the instance restarted"
    if happened is Happened.LOST_RESTARTED or (happened is None and instance.seen_leaving_running):
        return f"answer lost; the instance had restarted, so {_rebooted_by(calls)}"
    if calls > 1:
        return (
            f"answer lost; the instance had not restarted; {_sent_again(calls)}, "
            "no answer: watching whether it restarts"
        )
    return "answer lost; watching whether the instance restarts"


# --- lost answers -------------------------------------------------------------------------


def _lost_sentence(instance: PlannedInstance, happened: Happened) -> str:
    calls = _calls(instance)
    # The adapter's sentence for a lost answer says only that it was lost: the code and
    # RequestId are what is worth repeating. A refusal's sentence says what to do.
    reference = _reference(instance)
    detail = f" ({instance.message})" if instance.message else reference
    if happened.sent_again:
        lost = (
            "The answer to the reboot call was lost and the instance had not restarted, "
            f"so it was {_sent_again(calls)}"
        )
    elif instance.code or instance.message:
        lost = f"The reboot call's answer was lost{reference}"
    else:
        lost = "This process stopped before the reboot call's answer was recorded"
    match happened:
        case Happened.ANSWER_LOST:
            return f"{lost}; checking whether the instance restarted."
        case Happened.LOST_RESTARTED:
            status = f" ({instance.status})" if instance.status else ""
            return f"{lost}; the instance had restarted{status}, so {_rebooted_by(calls)}."
        case Happened.LOST_UNPROVEN:
            return f"{lost}; its StartTime cannot tell whether it restarted: watching it."
        case Happened.LOST_UNLISTED:
            return f"{lost}; ECS no longer lists it: watching whether it comes back."
        case Happened.LOST_NO_CALL_LEFT:
            return f"{lost}; {_plural_calls(calls)} sent already: watching whether it restarts."
        case Happened.RESENT_ACCEPTED:
            return f"{lost}: reboot accepted."
        case Happened.RESENT_LOST:
            return f"{lost}, and that answer was lost too{reference}: watching whether it restarts."
        case Happened.RESENT_REFUSED:
            return (
                f"{lost}, and ECS refused it{detail}: watching whether an earlier call restarts it."
            )
        case Happened.RESENT_ALREADY_REBOOTING:
            return (
                f"{lost}, and ECS refused it as no longer Running (IncorrectInstanceStatus): "
                "an earlier call had started it."
            )
    raise AssertionError(f"not a lost answer: {happened}")  # pragma: no cover


def _rebooted_by(calls: int) -> str:
    if calls <= 1:
        return "that call rebooted it: not sent again"
    return f"one of its {calls} calls rebooted it: no further call"


def _sent_again(calls: int) -> str:
    if calls <= 2:
        return "sent once more"
    return f"sent again ({calls} calls in all)"


def _plural_calls(calls: int) -> str:
    return "1 call" if calls == 1 else f"{calls} calls"


# --- helpers ------------------------------------------------------------------------------


def _calls(instance: PlannedInstance) -> int:
    # A send recorded by a version without the count is one call.
    return max(instance.reboot_calls, 1) if instance.reboot_sent_at is not None else 0


def _reference(instance: PlannedInstance) -> str:
    """`` (code X, RequestId Y)``, or as much of it as is known."""
    parts = [f"code {instance.code}"] if instance.code else []
    if instance.api_request_id:
        parts.append(f"RequestId {instance.api_request_id}")
    return f" ({', '.join(parts)})" if parts else ""


def _refused_without_words(instance: PlannedInstance) -> str:
    return f"ECS refused the reboot (code {instance.code or 'unknown'})."


def _throttled(instance: PlannedInstance) -> str:
    return f"ECS refused the call before it reached it (code {instance.code or 'unknown'})"


def _seconds_since_last_call(instance: PlannedInstance) -> int:
    last = instance.reboot_resent_at or instance.reboot_sent_at
    return _seconds(last, instance.finished_at)


def _seconds(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, int((end - start).total_seconds()))

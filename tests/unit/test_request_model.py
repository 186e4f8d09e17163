"""States, outcomes and the rules of a request's life (docs/PRODUCT.md §5, §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import (
    InstanceOutcome,
    InstanceRef,
    RequestState,
    Verdict,
    final_request_state,
)
from bot.domain.request import PlannedInstance, RebootRequest, expiry, may_follow

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
HZ = "cn-hangzhou"

S = InstanceOutcome.SUCCEEDED
F = InstanceOutcome.FAILED
K = InstanceOutcome.SKIPPED
T = InstanceOutcome.TIMED_OUT


def planned(
    n: int,
    *,
    verdict: Verdict = Verdict.WILL_REBOOT,
    outcome: InstanceOutcome = InstanceOutcome.PENDING,
    region: str = HZ,
) -> PlannedInstance:
    return PlannedInstance(
        ref=InstanceRef(region, f"i-bp1abcd{n:04d}"), position=n, verdict=verdict, outcome=outcome
    )


def request(
    *instances: PlannedInstance, state: RequestState = RequestState.PREVIEWED
) -> RebootRequest:
    return RebootRequest(
        id="req-1",
        state=state,
        force=False,
        requester="U0ALICE",
        channel="C0OPS",
        created_at=T0,
        expires_at=expiry(T0, 300),
        instances=instances,
    )


# --- the public vocabulary ------------------------------------------------------------------


def test_state_and_outcome_values_are_the_public_names() -> None:
    assert [s.value for s in RequestState] == [
        "previewed",
        "awaiting_approval",
        "scheduled",
        "cancelled",
        "expired",
        "rejected",
        "executing",
        "succeeded",
        "partially_failed",
        "failed",
        "paused",
        "aborted",
    ]
    assert [o.value for o in InstanceOutcome] == [
        "pending",
        "skipped",
        "rebooting",
        "succeeded",
        "failed",
        "timed_out",
        "aborted",
    ]


def test_final_states_and_outcomes() -> None:
    assert {s for s in RequestState if not s.is_final} == {
        RequestState.PREVIEWED,
        RequestState.AWAITING_APPROVAL,
        RequestState.SCHEDULED,
        RequestState.EXECUTING,
        RequestState.PAUSED,
    }
    assert {o for o in InstanceOutcome if not o.is_final} == {
        InstanceOutcome.PENDING,
        InstanceOutcome.REBOOTING,
    }


def test_instance_ref_reads_region_slash_id() -> None:
    assert str(InstanceRef(HZ, "i-bp1abcd0001")) == "cn-hangzhou/i-bp1abcd0001"


# --- final_request_state --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "state"),
    [
        ([S], RequestState.SUCCEEDED),
        ([S, S, S], RequestState.SUCCEEDED),
        ([F], RequestState.FAILED),
        ([F, T, K], RequestState.FAILED),
        ([K], RequestState.FAILED),
        ([S, F], RequestState.PARTIALLY_FAILED),
        ([S, T], RequestState.PARTIALLY_FAILED),
        # Skipped instances were never sent a reboot: they do not count (docs/PRODUCT.md §7).
        ([S, K], RequestState.SUCCEEDED),
        ([K, S, S], RequestState.SUCCEEDED),
        ([K, S, F], RequestState.PARTIALLY_FAILED),
        ([K, F], RequestState.FAILED),
    ],
)
def test_final_request_state(outcomes: list[InstanceOutcome], state: RequestState) -> None:
    assert final_request_state(outcomes) is state


def test_no_instance_at_all_is_not_a_success() -> None:
    assert final_request_state([]) is RequestState.FAILED


@given(st.lists(st.sampled_from([S, F, K, T]), min_size=1, max_size=50))
def test_final_request_state_by_count_of_successes(outcomes: list[InstanceOutcome]) -> None:
    succeeded = outcomes.count(S)
    sent = len(outcomes) - outcomes.count(K)
    state = final_request_state(outcomes)
    if sent and succeeded == sent:
        assert state is RequestState.SUCCEEDED
    elif succeeded == 0:
        assert state is RequestState.FAILED
    else:
        assert state is RequestState.PARTIALLY_FAILED
    assert state.is_final
    assert may_follow(RequestState.EXECUTING, state)


@given(st.permutations([S, S, F, K, T]))
def test_final_request_state_ignores_order(outcomes: list[InstanceOutcome]) -> None:
    assert final_request_state(outcomes) is RequestState.PARTIALLY_FAILED


# --- transitions ----------------------------------------------------------------------------


ALLOWED = {
    (RequestState.PREVIEWED, RequestState.EXECUTING),
    (RequestState.PREVIEWED, RequestState.CANCELLED),
    (RequestState.PREVIEWED, RequestState.EXPIRED),
    # Four-eyes approval (docs/PRODUCT.md §6.1): the confirm waits, the approvals start it.
    (RequestState.PREVIEWED, RequestState.AWAITING_APPROVAL),
    (RequestState.AWAITING_APPROVAL, RequestState.EXECUTING),
    (RequestState.AWAITING_APPROVAL, RequestState.REJECTED),
    (RequestState.AWAITING_APPROVAL, RequestState.CANCELLED),
    (RequestState.AWAITING_APPROVAL, RequestState.EXPIRED),
    (RequestState.EXECUTING, RequestState.SUCCEEDED),
    (RequestState.EXECUTING, RequestState.PARTIALLY_FAILED),
    (RequestState.EXECUTING, RequestState.FAILED),
    # Rolling reboots (docs/PRODUCT.md §5.8): pause, resume, abort, and a paused wave that ends.
    (RequestState.EXECUTING, RequestState.PAUSED),
    (RequestState.EXECUTING, RequestState.ABORTED),
    (RequestState.PAUSED, RequestState.EXECUTING),
    (RequestState.PAUSED, RequestState.ABORTED),
    (RequestState.PAUSED, RequestState.SUCCEEDED),
    (RequestState.PAUSED, RequestState.PARTIALLY_FAILED),
    (RequestState.PAUSED, RequestState.FAILED),
    # Scheduled reboots (docs/PRODUCT.md §5.10): the confirm (or the last approval) schedules;
    # the poller starts it, a click or a lost permission cancels it, a missed start expires it.
    (RequestState.PREVIEWED, RequestState.SCHEDULED),
    (RequestState.AWAITING_APPROVAL, RequestState.SCHEDULED),
    (RequestState.SCHEDULED, RequestState.EXECUTING),
    (RequestState.SCHEDULED, RequestState.CANCELLED),
    (RequestState.SCHEDULED, RequestState.EXPIRED),
}


@pytest.mark.parametrize("current", list(RequestState))
@pytest.mark.parametrize("nxt", list(RequestState))
def test_only_the_designed_transitions_are_allowed(
    current: RequestState, nxt: RequestState
) -> None:
    assert may_follow(current, nxt) is ((current, nxt) in ALLOWED)


@pytest.mark.parametrize("final", [s for s in RequestState if s.is_final])
def test_nothing_follows_a_final_state(final: RequestState) -> None:
    assert not any(may_follow(final, nxt) for nxt in RequestState)


def test_no_state_follows_itself() -> None:
    assert not any(may_follow(state, state) for state in RequestState)


# --- expiry ---------------------------------------------------------------------------------


def test_expiry_is_created_plus_ttl() -> None:
    assert expiry(T0, 300) == T0 + timedelta(seconds=300)


def test_previewed_request_expires_at_its_ttl() -> None:
    preview = request(planned(1))
    assert not preview.is_expired(T0)
    assert not preview.is_expired(T0 + timedelta(seconds=299, microseconds=999_999))
    assert preview.is_expired(T0 + timedelta(seconds=300))
    assert preview.is_expired(T0 + timedelta(days=1))


@pytest.mark.parametrize("state", [s for s in RequestState if s is not RequestState.PREVIEWED])
def test_only_a_previewed_request_can_expire(state: RequestState) -> None:
    assert not request(planned(1), state=state).is_expired(T0 + timedelta(days=1))


# --- derived views --------------------------------------------------------------------------


def test_to_reboot_keeps_only_will_reboot_in_order() -> None:
    a, b, c = planned(1), planned(2, verdict=Verdict.NOT_RUNNING), planned(3)
    assert request(a, b, c).to_reboot == (a, c)
    assert a.will_reboot
    assert not b.will_reboot


@pytest.mark.parametrize("verdict", [v for v in Verdict if v is not Verdict.WILL_REBOOT])
def test_only_will_reboot_is_rebooted(verdict: Verdict) -> None:
    assert request(planned(1, verdict=verdict)).to_reboot == ()


def test_regions_are_distinct_and_sorted() -> None:
    req = request(planned(1, region="cn-shanghai"), planned(2), planned(3, region="cn-shanghai"))
    assert req.regions == ("cn-hangzhou", "cn-shanghai")


def test_progress_counts_back_out_of_attempted() -> None:
    req = request(
        planned(1, outcome=S),
        planned(2, outcome=InstanceOutcome.REBOOTING),
        planned(3, outcome=F),
        planned(4, verdict=Verdict.NOT_FOUND, outcome=K),
        planned(5, outcome=S),
        state=RequestState.EXECUTING,
    )
    assert req.progress() == (2, 4)


def test_progress_of_an_empty_request() -> None:
    assert request().progress() == (0, 0)

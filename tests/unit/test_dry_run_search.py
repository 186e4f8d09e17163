"""Finding the refused instances of a DryRun by halving (bot/domain/dry_run.py)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.dry_run import DryRunAnswer, dry_run_call_bound, find_refused


class AllTogether:
    """Plays one DryRun call with ``AllTogether``: the whole call fails with the first
    refused instance's reason; records every call's ids."""

    def __init__(self, refused: dict[str, str], *, per_instance: bool = True) -> None:
        self.refused = refused
        self.per_instance = per_instance
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, batch: Sequence[str]) -> DryRunAnswer[str]:
        assert 0 < len(batch) <= 100, "one call carries 1..100 ids"
        self.calls.append(tuple(batch))
        reason = next((self.refused[i] for i in batch if i in self.refused), None)
        return DryRunAnswer(reason, self.per_instance)


def ids(count: int) -> list[str]:
    return [f"i-bp1{n:012d}" for n in range(count)]


def test_a_clean_batch_is_one_call_per_hundred() -> None:
    ecs = AllTogether({})
    assert find_refused(ids(250), ecs) == {}
    assert [len(call) for call in ecs.calls] == [100, 100, 50]


def test_one_refused_instance_does_not_hide_its_batch_mates() -> None:
    wanted = ids(8)
    ecs = AllTogether({wanted[2]: "InstanceLockedForSecurity", wanted[5]: "Forbidden.RAM"})
    assert find_refused(wanted, ecs) == {
        wanted[2]: "InstanceLockedForSecurity",
        wanted[5]: "Forbidden.RAM",
    }
    assert len(ecs.calls) <= dry_run_call_bound(8, 2)


def test_a_refusal_of_the_call_is_every_instances_verdict_without_halving() -> None:
    wanted = ids(150)
    ecs = AllTogether(dict.fromkeys(wanted, "InsufficientBalance"), per_instance=False)
    assert find_refused(wanted, ecs) == dict.fromkeys(wanted, "InsufficientBalance")
    assert len(ecs.calls) == 2


def test_the_bound_of_the_issue() -> None:
    # ⌈n/100⌉ + 2·k·⌈log2 100⌉, ⌈log2 100⌉ = 7.
    assert dry_run_call_bound(250, 0) == 3
    assert dry_run_call_bound(250, 1) == 17
    assert dry_run_call_bound(250, 5) == 73
    assert dry_run_call_bound(0, 0) == 0


@given(
    st.integers(min_value=1, max_value=300).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), max_size=12))
    )
)
def test_finds_exactly_the_refused_within_the_bound(case: tuple[int, set[int]]) -> None:
    count, refused_positions = case
    wanted = ids(count)
    refused = {wanted[p]: f"code-{p}" for p in refused_positions}
    ecs = AllTogether(refused)

    assert find_refused(wanted, ecs) == refused
    assert len(ecs.calls) <= dry_run_call_bound(count, len(refused))
    # Every instance that was not refused was covered by some passing call.
    passed = {i for call in ecs.calls if not set(call) & set(refused) for i in call}
    assert passed == set(wanted) - set(refused)

"""Grouping instance references by (account, region), in the order given: one ECS call
reaches one region of one account."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.ecs_values import by_place
from bot.domain.model import InstanceRef

_refs = st.lists(
    st.builds(
        InstanceRef,
        st.sampled_from(["cn-hangzhou", "cn-shanghai"]),
        st.from_regex(r"i-[a-z0-9]{4}", fullmatch=True),
        st.sampled_from(["default", "prod"]),
    ),
    max_size=30,
)


@given(_refs)
def test_by_place_groups_every_reference_in_order(refs: list[InstanceRef]) -> None:
    expected: dict[tuple[str, str], list[str]] = {}
    for ref in refs:
        expected.setdefault((ref.account, ref.region), []).append(ref.instance_id)
    grouped = by_place(refs)
    assert grouped == expected
    assert list(grouped) == list(expected), "places in the order first met"


def test_runs_of_a_place_that_come_back_join_its_first_run() -> None:
    a1, b1, a2 = (
        InstanceRef("cn-hangzhou", "i-a1"),
        InstanceRef("cn-shanghai", "i-b1"),
        InstanceRef("cn-hangzhou", "i-a2"),
    )
    assert by_place([a1, b1, a2]) == {
        ("default", "cn-hangzhou"): ["i-a1", "i-a2"],
        ("default", "cn-shanghai"): ["i-b1"],
    }

"""The preview's verdicts (docs/PRODUCT.md §5.3): every instance named gets one, in the order
given, with the reason when it will not be rebooted; API calls go ≤100 ids, per region."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.ecs_values import MAX_IDS_PER_CALL, DryRunBatch, InstanceInfo, batches, by_region
from bot.domain.errors import EcsError
from bot.domain.model import InstanceRef, Verdict
from bot.domain.verdicts import plan_instances
from bot.ecs import catalogue

HZ = "cn-hangzhou"
SH = "cn-shanghai"
BOOTED = datetime(2024, 4, 1, 8, 0, tzinfo=UTC)


def ref(n: int, region: str = HZ) -> InstanceRef:
    return InstanceRef(region, f"i-bp1abcd{n:05d}")


def info(r: InstanceRef, status: str = "Running", **tags: str) -> InstanceInfo:
    return InstanceInfo(
        instance_id=r.instance_id,
        region=r.region,
        name=f"name-{r.instance_id}",
        status=status,
        zone=f"{r.region}-h",
        tags=tags,
        start_time=BOOTED,
    )


def passed(*refs: InstanceRef) -> dict[InstanceRef, DryRunBatch]:
    batch = DryRunBatch(refs[0].region, tuple(r.instance_id for r in refs), error=None)
    return dict.fromkeys(refs, batch)


def refused(
    code: str, *refs: InstanceRef, request_id: str = "REQ-9"
) -> dict[InstanceRef, DryRunBatch]:
    error = EcsError(
        code,
        f"message for {code}",
        explanation=f"What to do about {code}.",
        request_id=request_id,
        http_status=403,
        kind=catalogue.kind_of(code),
    )
    batch = DryRunBatch(refs[0].region, tuple(r.instance_id for r in refs), error=error)
    return dict.fromkeys(refs, batch)


def test_running_instance_whose_dry_run_passed_will_reboot() -> None:
    a = ref(1)
    [planned] = plan_instances([a], {a: info(a, env="prod")}, passed(a))
    assert planned.verdict is Verdict.WILL_REBOOT
    assert planned.will_reboot
    assert planned.ref == a
    assert planned.position == 0
    assert planned.name == f"name-{a.instance_id}"
    assert planned.status == "Running"
    assert planned.zone == "cn-hangzhou-h"
    assert dict(planned.tags) == {"env": "prod"}
    assert planned.start_time_before == BOOTED
    assert planned.verdict_code is None


def test_instance_not_found_says_so() -> None:
    a = ref(1)
    [planned] = plan_instances([a], {}, {})
    assert planned.verdict is Verdict.NOT_FOUND
    assert not planned.will_reboot
    assert planned.verdict_message
    assert planned.name is None


@pytest.mark.parametrize("status", ["Stopped", "Starting", "Stopping", "Pending"])
def test_instance_not_running_is_not_rebooted(status: str) -> None:
    a = ref(1)
    [planned] = plan_instances([a], {a: info(a, status)}, {})
    assert planned.verdict is Verdict.NOT_RUNNING
    assert planned.status == status
    assert planned.verdict_message is not None
    assert status in planned.verdict_message


def test_dry_run_refusal_applies_to_every_instance_of_the_batch() -> None:
    a, b, c = ref(1), ref(2), ref(3)
    found = {r: info(r) for r in (a, b, c)}
    planned = plan_instances([a, b, c], found, refused("InvalidInstance.NotSupported", a, b, c))
    for p in planned:
        assert p.verdict is Verdict.REFUSED
        assert p.verdict_code == "InvalidInstance.NotSupported"
        assert p.verdict_message is not None
        assert "What to do about InvalidInstance.NotSupported." in p.verdict_message
        assert "InvalidInstance.NotSupported" in p.verdict_message
        assert "REQ-9" in p.verdict_message


def test_a_refused_batch_does_not_taint_another_batch() -> None:
    a, b = ref(1), ref(2, SH)
    dry = refused("OperationDenied.InArrears", a) | passed(b)
    planned = plan_instances([a, b], {a: info(a), b: info(b)}, dry)
    assert [p.verdict for p in planned] == [Verdict.REFUSED, Verdict.WILL_REBOOT]


@pytest.mark.parametrize(
    "code", ["Forbidden.RAM", "Forbidden", "NoPermission", "Forbidden.NoPermission", "Forbidden.X"]
)
def test_permission_codes_are_denied(code: str) -> None:
    a = ref(1)
    [planned] = plan_instances([a], {a: info(a)}, refused(code, a))
    assert planned.verdict is Verdict.DENIED
    assert planned.verdict_code == code
    assert planned.verdict_message


def test_incorrect_status_in_the_dry_run_is_not_running() -> None:
    a = ref(1)
    [planned] = plan_instances([a], {a: info(a)}, refused("IncorrectInstanceStatus", a))
    assert planned.verdict is Verdict.NOT_RUNNING
    assert planned.verdict_code == "IncorrectInstanceStatus"


def test_running_instance_the_dry_run_did_not_cover_is_not_rebooted() -> None:
    a = ref(1)
    [planned] = plan_instances([a], {a: info(a)}, {})
    assert planned.verdict is Verdict.REFUSED
    assert planned.verdict_message


def test_a_dry_run_pass_never_overrides_not_running() -> None:
    a = ref(1)
    [planned] = plan_instances([a], {a: info(a, "Stopped")}, passed(a))
    assert planned.verdict is Verdict.NOT_RUNNING


def test_same_id_in_two_regions_are_two_instances() -> None:
    a, b = ref(1, HZ), ref(1, SH)
    planned = plan_instances([a, b], {a: info(a)}, passed(a))
    assert [p.verdict for p in planned] == [Verdict.WILL_REBOOT, Verdict.NOT_FOUND]


def test_order_is_the_order_given() -> None:
    refs = [ref(5), ref(3, SH), ref(9), ref(1, SH), ref(2)]
    found = {r: info(r) for r in refs[:3]}
    planned = plan_instances(refs, found, passed(refs[0], refs[2]) | passed(refs[1]))
    assert [p.ref for p in planned] == refs
    assert [p.position for p in planned] == list(range(5))
    assert [p.verdict for p in planned] == [
        Verdict.WILL_REBOOT,
        Verdict.WILL_REBOOT,
        Verdict.WILL_REBOOT,
        Verdict.NOT_FOUND,
        Verdict.NOT_FOUND,
    ]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 999),
            st.sampled_from([HZ, SH]),
            st.sampled_from(["missing", "Running", "Stopped", "refused"]),
        ),
        unique_by=lambda t: (t[0], t[1]),
        max_size=40,
    )
)
def test_every_instance_gets_one_verdict_in_order(
    spec: list[tuple[int, str, str]],
) -> None:
    refs = [ref(n, region) for n, region, _ in spec]
    found: dict[InstanceRef, InstanceInfo] = {}
    dry: dict[InstanceRef, DryRunBatch] = {}
    for r, (_, _, kind) in zip(refs, spec, strict=True):
        if kind != "missing":
            found[r] = info(r, "Stopped" if kind == "Stopped" else "Running")
        if kind == "Running":
            dry |= passed(r)
        if kind == "refused":
            dry |= refused("QuotaExceed", r)
    planned = plan_instances(refs, found, dry)
    assert [p.ref for p in planned] == refs
    expected = {
        "missing": Verdict.NOT_FOUND,
        "Running": Verdict.WILL_REBOOT,
        "Stopped": Verdict.NOT_RUNNING,
        "refused": Verdict.REFUSED,
    }
    assert [p.verdict for p in planned] == [expected[kind] for _, _, kind in spec]


# --- by_region and batches ------------------------------------------------------------------


def test_by_region_groups_ids_keeping_their_order() -> None:
    refs = [ref(1), ref(2, SH), ref(3), ref(4, SH), ref(5)]
    assert by_region(refs) == {
        HZ: [ref(1).instance_id, ref(3).instance_id, ref(5).instance_id],
        SH: [ref(2).instance_id, ref(4).instance_id],
    }
    assert by_region([]) == {}


def test_batches_hold_at_most_one_hundred_ids() -> None:
    ids = [f"i-bp1abcd{n:05d}" for n in range(250)]
    chunks = batches(ids)
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert MAX_IDS_PER_CALL == 100
    assert batches([]) == []


@given(st.integers(0, 1000), st.integers(1, 150))
def test_batches_keep_every_id_once_in_order(count: int, size: int) -> None:
    ids = [f"i-bp1abcd{n:05d}" for n in range(count)]
    chunks = batches(ids, size)
    assert [i for chunk in chunks for i in chunk] == ids
    assert all(1 <= len(chunk) <= size for chunk in chunks)
    assert len(chunks) == -(-count // size)

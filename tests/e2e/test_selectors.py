"""Instances picked by tag and by name (docs/PRODUCT.md §4): resolved after the ack in
every region asked, frozen into the request at preview, authorized on what matched.
Signed Slack requests over HTTP, the simulator behind."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.domain.model import InstanceOutcome, RequestState, Role
from bot.services.history import request_json
from bot.slack.blocks import ACTION_CONFIRM
from bot.slack.outcomes import instance_message
from tests.e2e.harness import OPERATOR, Harness, Message, buttons, running_bot

HZ, SH = "cn-hangzhou", "cn-shanghai"
WEB_OPERATOR = "U0WEBOPS"


@pytest.fixture
def two_regions(migrated_url: str) -> Iterator[Harness]:
    with running_bot(migrated_url, regions=(HZ, SH), instances=6) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        yield h


def _add(h: Harness, region: str, count: int, tags: dict[str, str], name: str) -> list[str]:
    return [
        h.sim.fleet.add_instance(region, name=f"{name}-{n:02d}", tags=tags) for n in range(count)
    ]


def text_of(message: Message) -> str:
    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)


def _describes_by_filter(h: Harness) -> list[str]:
    return [
        call.region
        for call in h.sim.calls.of("DescribeInstances")
        if "InstanceIds" not in call.params
    ]


def test_a_tag_selector_across_two_regions_previews_and_reboots_exactly_its_matches(
    two_regions: Harness,
) -> None:
    h = two_regions
    pay_hz = _add(h, HZ, 3, {"app": "pay", "env": "prod"}, "pay")
    pay_sh = _add(h, SH, 2, {"app": "pay", "env": "prod"}, "pay")
    _add(h, SH, 2, {"app": "pay", "env": "staging"}, "pay-stg")

    reply = h.command(f"--region {HZ},{SH} tag:app=pay tag:env=prod").json()["text"]
    assert "`tag:app=pay`" in reply
    h.settle()
    request_id, preview = h.last_preview()

    request = h.request(request_id)
    assert [i.ref.instance_id for i in request.instances] == pay_hz + pay_sh
    assert request.selectors == ("tag:app=pay", "tag:env=prod")
    shown = text_of(preview)
    assert "→ 3 in cn-hangzhou, 2 in cn-shanghai (5 in all)" in shown
    assert ACTION_CONFIRM in [b["action_id"] for b in buttons(preview.blocks)]
    # One filtered page per region, no describe by id; one DryRun per region.
    assert sorted(_describes_by_filter(h)) == [HZ, SH]
    assert h.sim.calls.count("DescribeInstances") == 2
    assert h.sim.calls.count("RebootInstances", dry_run=True) == 2
    [hz_page] = [c for c in h.sim.calls.of("DescribeInstances") if c.region == HZ]
    assert (hz_page.params["Tag.1.Key"], hz_page.params["Tag.1.Value"]) == ("app", "pay")
    assert hz_page.params["MaxResults"] == "100"

    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)

    final = h.request(request_id)
    assert final.state is RequestState.SUCCEEDED
    for region in (HZ, SH):
        for instance_id in h.sim.fleet.ids(region):
            expected = 1 if instance_id in pay_hz + pay_sh else 0
            assert h.sim.fleet.reboot_count(region, instance_id) == expected
    assert request_json(final, message=instance_message)["selectors"] == [
        "tag:app=pay",
        "tag:env=prod",
    ]


def test_a_name_wildcard_with_ids_and_a_duplicate(harness: Harness) -> None:
    h = harness
    ids = h.sim.fleet.ids(HZ)  # web-01 … web-10
    web_0x = h.sim.fleet.find(HZ, name="web-0*")
    assert len(web_0x) == 9
    extra = h.sim.fleet.add_instance(HZ, name="db-99", tags={"app": "db"})

    h.command(f"name:web-0* {extra} {ids[0]}, {extra}")
    h.settle()
    request_id, preview = h.last_preview()

    request = h.request(request_id)
    assert [i.ref.instance_id for i in request.instances] == [*web_0x, extra]
    shown = text_of(preview)
    assert "`name:web-0*` → 9 in cn-hangzhou, plus 1 named by id" in shown
    assert "Dropped 2 duplicate(s)" in shown
    assert ids[0] in shown.split("Dropped")[1]
    # The extra id was described by id (the matched ones were not described again).
    by_id = [c for c in h.sim.calls.of("DescribeInstances") if "InstanceIds" in c.params]
    assert [c.ids for c in by_id] == [(extra,)]

    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)
    assert [h.sim.fleet.reboot_count(HZ, i) for i in ids] == [1] * 9 + [0]
    assert h.sim.fleet.reboot_count(HZ, extra) == 1


def test_the_previewed_set_is_frozen_an_instance_tagged_later_is_not_rebooted(
    harness: Harness,
) -> None:
    h = harness
    ids = h.sim.fleet.ids(HZ)
    for instance_id in ids[:3]:
        h.sim.fleet.update(HZ, instance_id, tags={"app": "pay"})
    h.command("tag:app=pay")
    h.settle()
    request_id, _ = h.last_preview()

    late = ids[5]
    h.sim.fleet.update(HZ, late, tags={"app": "pay"})
    describes = h.sim.calls.count("DescribeInstances")
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)

    assert h.request(request_id).state is RequestState.SUCCEEDED
    [real] = h.sim.calls.of("RebootInstances", dry_run=False)
    assert sorted(real.ids) == sorted(ids[:3])
    assert h.sim.fleet.reboot_count(HZ, late) == 0
    # Nothing after the preview asked ECS for the filter again.
    later = h.sim.calls.of("DescribeInstances")[describes:]
    assert all("InstanceIds" in call.params for call in later)


def test_a_selector_that_matches_nothing_says_so_and_records_nothing(harness: Harness) -> None:
    h = harness
    h.command("tag:app=nothing-like-this")
    h.settle()

    [told] = h.ephemerals(OPERATOR)
    assert "`tag:app=nothing-like-this` matched no instance in cn-hangzhou" in told
    assert h.previews() == []
    assert h.sim.calls.count("RebootInstances") == 0
    with h.bot.ctx.uow() as uow:
        assert uow.requests.list_recent(10) == []


def test_ids_beside_a_selector_that_matches_nothing_are_previewed_with_a_warning(
    harness: Harness,
) -> None:
    """§4: ids given as well are added to what the filter matched (here nothing), and a
    selector that matches nothing is said so, in the preview itself."""
    h = harness
    named = h.sim.fleet.ids(HZ)[0]
    h.command(f"tag:app=nothing-like-this {named}")
    h.settle()

    request_id, preview = h.last_preview()
    assert [i.ref.instance_id for i in h.request(request_id).instances] == [named]
    assert (
        ":warning: `tag:app=nothing-like-this` matched no instance in cn-hangzhou; "
        "previewing the 1 named by id."
    ) in text_of(preview)
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0


def test_more_matches_than_the_limit_is_an_error_with_the_count(migrated_url: str) -> None:
    with running_bot(migrated_url, env={"ECSBOT_MAX_INSTANCES": "4"}) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        h.command("name:web-*")
        h.settle()
        [told] = h.ephemerals(OPERATOR)
        assert "10 instances in all, more than the 4" in told
        assert "ECSBOT_MAX_INSTANCES" in told
        assert h.previews() == []
        assert h.sim.calls.count("RebootInstances") == 0


@pytest.mark.parametrize(
    "text",
    [
        "tag:=web",
        "tag:app",
        "name:",
        "tag:app=web --region cn-hangzhou,,cn-shanghai",
        "tag:app=web --region Hangzhou",
        f"--region {HZ},{SH} tag:app=web i-bp1abc23def45ghi67jk0",
    ],
)
def test_malformed_selectors_reach_no_ecs_at_all(harness: Harness, text: str) -> None:
    h = harness
    reply = h.command(text).json()["text"]
    h.settle()
    assert "Nothing was done" in reply
    assert len(h.sim.calls) == 0
    assert h.previews() == []


def test_a_selector_with_no_region_at_all_is_an_error(migrated_url: str) -> None:
    with running_bot(migrated_url, env={"ECSBOT_DEFAULT_REGION": ""}) as h:
        h.grant(OPERATOR, Role.OPERATOR)
        reply = h.command("tag:app=web").json()["text"]
        h.settle()
        assert "ECSBOT_DEFAULT_REGION" in reply
        assert len(h.sim.calls) == 0


def test_a_tag_scoped_operator_may_reboot_their_tag_and_is_denied_beyond_it(
    harness: Harness,
) -> None:
    h = harness
    ids = h.sim.fleet.ids(HZ)
    for instance_id in ids[:2]:
        h.sim.fleet.update(HZ, instance_id, tags={"app": "pay", "env": "prod"})
    for instance_id in ids[2:]:
        h.sim.fleet.update(HZ, instance_id, tags={"app": "web", "env": "prod"})
    h.grant(WEB_OPERATOR, Role.OPERATOR, tag="app=pay")

    h.command("tag:app=pay", user=WEB_OPERATOR)
    h.settle()
    request_id, preview = h.last_preview()
    assert ACTION_CONFIRM in [b["action_id"] for b in buttons(preview.blocks)]
    h.click(ACTION_CONFIRM, request_id, user=WEB_OPERATOR)
    h.settle()
    h.run_until_final(request_id)
    final = h.request(request_id)
    assert all(i.outcome is InstanceOutcome.SUCCEEDED for i in final.instances)
    assert [h.sim.fleet.reboot_count(HZ, i) for i in ids] == [1, 1] + [0] * 8

    h.command("tag:env=prod", user=WEB_OPERATOR)
    h.settle()
    [denied] = h.ephemerals(WEB_OPERATOR)
    assert "You need the viewer role for" in denied  # not even a view of the others
    assert ids[2] in denied  # names some of the instances outside the scope
    assert ids[0] not in denied
    assert h.preview_ids() == [request_id]
    assert sum(h.sim.fleet.reboot_count(HZ, i) for i in ids) == 2

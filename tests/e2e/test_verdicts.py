"""Verdicts a person can trust (docs/PRODUCT.md §5.3, §7): one locked or RAM-denied
instance never keeps its batch-mates from rebooting, and a skipped instance does not
turn a success into a failure. Signed Slack requests over HTTP, the simulator behind."""

from __future__ import annotations

from bot.domain.dry_run import dry_run_call_bound
from bot.domain.model import InstanceOutcome, RequestState, Verdict
from bot.slack.blocks import ACTION_CONFIRM
from tests.e2e.harness import REGION, Harness, buttons, text_of


def test_a_locked_and_a_ram_denied_instance_do_not_hide_their_six_batch_mates(
    harness: Harness,
) -> None:
    h = harness
    ids = h.sim.fleet.ids(REGION)[:8]
    locked, denied = ids[2], ids[5]
    h.sim.fleet.update(REGION, locked, locks=("security",))
    h.sim.fleet.update(REGION, denied, ram_denied=True)
    fine = [i for i in ids if i not in (locked, denied)]

    h.command(" ".join(ids))
    h.settle()
    request_id, preview = h.last_preview()

    request = h.request(request_id)
    verdicts = {i.ref.instance_id: i for i in request.instances}
    assert {i for i, v in verdicts.items() if v.verdict is Verdict.WILL_REBOOT} == set(fine)
    assert verdicts[locked].verdict is Verdict.LOCKED
    assert verdicts[locked].verdict_code == "InstanceLockedForSecurity"
    assert "security" in (verdicts[locked].verdict_message or "")
    assert verdicts[denied].verdict is Verdict.DENIED
    assert verdicts[denied].verdict_code == "Forbidden.RAM"
    # The preview offers the six: the Reboot button is there, and says so.
    assert ACTION_CONFIRM in [b["action_id"] for b in buttons(preview.blocks)]
    shown = text_of(preview)
    assert shown.count(":large_green_circle: will reboot") == 6
    assert "locked" in shown
    assert "denied" in shown
    # The locked instance was never dry-run; the denied one was found by halving.
    dry_runs = h.sim.calls.of("RebootInstances", dry_run=True)
    assert all(locked not in call.ids for call in dry_runs)
    assert len(dry_runs) <= dry_run_call_bound(7, 1)

    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)

    final = h.request(request_id)
    reboots = [h.sim.fleet.reboot_count(REGION, i) for i in ids]
    assert reboots == [0 if i in (locked, denied) else 1 for i in ids]
    [real_call] = h.sim.calls.of("RebootInstances", dry_run=False)
    assert sorted(real_call.ids) == sorted(fine)
    outcomes = {i.ref.instance_id: i.outcome for i in final.instances}
    assert outcomes[locked] is InstanceOutcome.SKIPPED
    assert outcomes[denied] is InstanceOutcome.SKIPPED
    assert all(outcomes[i] is InstanceOutcome.SUCCEEDED for i in fine)
    # Skipped instances do not count against the request.
    assert final.state is RequestState.SUCCEEDED


def test_a_stopped_instance_beside_running_ones_still_succeeds(harness: Harness) -> None:
    h = harness
    ids = h.sim.fleet.ids(REGION)[:2]
    stopped = h.sim.fleet.add_instance(REGION, name="batch-stopped", status="Stopped")
    h.command(" ".join([*ids, stopped]))
    h.settle()
    request_id, _ = h.last_preview()
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    h.run_until_final(request_id)

    final = h.request(request_id)
    assert final.state is RequestState.SUCCEEDED
    assert {i.ref.instance_id: i.outcome for i in final.instances}[stopped] is (
        InstanceOutcome.SKIPPED
    )
    summary = h.thread(request_id)[-1]
    assert "succeeded" in text_of(summary)
    assert "1 skipped" in text_of(summary)

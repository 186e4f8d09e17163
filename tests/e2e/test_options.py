"""Options end to end (docs/PRODUCT.md §4): a signed slash command with a misspelt option
is answered with the options of that command, from the one option table."""

from __future__ import annotations

from tests.e2e.harness import REGION, Harness


def test_a_misspelt_reason_is_answered_with_the_reboot_options_and_nothing_asked(
    harness: Harness,
) -> None:
    h = harness
    instance_id = h.sim.fleet.ids(REGION)[0]
    reply = h.command(f"--rason x {instance_id}").json()["text"]
    assert "Did you mean `--reason`?" in reply
    options = reply.partition("Options:")[2].split(".")[0]
    assert "`--reason`" in options
    assert "`--tag`" not in options
    h.settle()
    assert h.sim.calls.all() == []
    assert h.previews() == []

"""The form and App Home builders (bot.slack.views) stay within Slack's limits whatever
they are given: at most 100 blocks a view, 3000 characters a section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.model import InstanceRef, RequestState, Role, Verdict
from bot.domain.policy import Binding
from bot.domain.request import PlannedInstance, RebootRequest
from bot.services.home import Home
from bot.slack.views import FormSeed, home_view, reboot_form

T0 = datetime(2026, 12, 6, tzinfo=UTC)


def _request(n: int, state: RequestState) -> RebootRequest:
    instances = tuple(
        PlannedInstance(InstanceRef("cn-hangzhou", f"i-bp1{n:04d}{k:08d}"), k, Verdict.WILL_REBOOT)
        for k in range(50)
    )
    return RebootRequest(
        id=f"r{n:05d}",
        state=state,
        force=n % 2 == 0,
        requester="U0OPER",
        channel="C0OPS",
        created_at=T0,
        expires_at=T0 + timedelta(minutes=5),
        instances=instances,
        reason="x" * 5000,
        approvals_needed=2,
    )


def _sections(view: dict[str, object]) -> list[str]:
    blocks = view["blocks"]
    assert isinstance(blocks, list)
    return [b["text"]["text"] for b in blocks if b.get("type") == "section" and "text" in b]


def test_a_full_home_stays_within_slacks_limits() -> None:
    many = [_request(n, RequestState.AWAITING_APPROVAL) for n in range(60)]
    home = Home(
        user="U0OPER",
        awaiting_me=many,
        mine_in_flight=[_request(n, RequestState.EXECUTING) for n in range(60)],
        mine_finished=[_request(n, RequestState.SUCCEEDED) for n in range(60)],
        bindings=tuple(Binding("U0OPER", Role.OPERATOR, f"region-{n}") for n in range(200)),
    )
    shown = home_view(home).to_dict()
    assert len(shown["blocks"]) <= 100
    assert all(len(text) <= 3000 for text in _sections(shown))
    assert "r00009" in str(shown)  # the tenth is shown, the eleventh is not
    assert "r00010" not in str(shown)


def test_the_form_offers_force_only_to_those_who_may() -> None:
    plain = reboot_form(FormSeed(metadata="m", channel="C0OPS")).to_dict()
    strong = reboot_form(FormSeed(metadata="m", channel="C0OPS", may_force=True)).to_dict()
    ids = [b.get("block_id") for b in plain["blocks"]]
    assert "force" not in ids
    assert "force" in [b.get("block_id") for b in strong["blocks"]]
    assert "channel" not in ids
    asking = reboot_form(FormSeed(metadata="m", channel=None)).to_dict()
    assert asking["blocks"][0]["block_id"] == "channel"
    long_paste = reboot_form(FormSeed(metadata="m", channel="C", targets="i-x\n" * 5000)).to_dict()
    assert len(str(long_paste)) < 10_000

"""Windows the soak (tests/soak) ran into, pinned here deterministically: a process
killed at the wrong moment (the database is left exactly as it leaves it), or Slack
failing at the wrong moment. The next Slack request or poller tick must carry on as
docs/PRODUCT.md §5.7 and §9 say: resume where it stopped, lose nothing the person should see."""

from __future__ import annotations

from bot.domain.model import RequestState
from bot.services.ports import RequestUpdate
from bot.slack.blocks import ACTION_CONFIRM
from bot.testing.slack_requests import block_action_body
from tests.e2e.harness import CHANNEL, OPERATOR, REGION, Harness, Message, buttons, text_of


def _preview_lost_its_ts(h: Harness, instance: int = 0) -> tuple[str, Message]:
    """A previewed request (for the fleet's ``instance``-th id) whose message ts a crash
    kept from being recorded, and its message, which is in the channel all the same."""
    h.command(h.sim.fleet.ids(REGION)[instance])
    h.settle()
    request_id, preview = h.last_preview()
    with h.bot.ctx.uow() as uow:
        uow.requests.set_fields(request_id, RequestUpdate(message_ts=None, permalink=None))
        uow.commit()
    return request_id, preview


def _confirm_click(h: Harness, request_id: str, message: Message | str) -> bytes:
    """The body Slack posts for OPERATOR's Confirm on ``request_id`` from ``message``:
    a message in the channel (its ts and blocks go in the payload), or only a ts with a
    bare message, as Slack would never send it."""
    if isinstance(message, str):
        message_ts, shown = message, None
    else:
        message_ts, shown = message.ts, message.to_slack()
    return block_action_body(
        ACTION_CONFIRM,
        request_id,
        user_id=OPERATOR,
        channel_id=CHANNEL,
        message_ts=message_ts,
        message=shown,
        response_url=h.slack.response_url("click"),
    )


def test_a_crash_between_posting_the_preview_and_recording_its_ts(harness: Harness) -> None:
    """bot/services/preview.py posts the preview, asks chat.getPermalink, and only then
    records the message's ts. Killed in between, the request is ``previewed`` with no
    ``message_ts`` while its message, buttons and all, is in the channel; a click on it
    is signed by Slack and names the message (``container.message_ts``)."""
    h = harness
    request_id, preview = _preview_lost_its_ts(h)

    assert h.sender.post(_confirm_click(h, request_id, preview)).status_code == 200
    h.settle()
    h.run_until_final(request_id, limit=60)

    assert h.request(request_id).state is RequestState.SUCCEEDED
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 1
    # What the person sees must follow, as for any other request:
    assert buttons(h.slack.message(CHANNEL, preview.ts).blocks) == [], "live buttons remain"
    summaries = [m for m in h.slack.thread(CHANNEL, preview.ts) if "Done:" in text_of(m)]
    assert len(summaries) == 1, "the thread has no final summary"


def test_a_slack_error_on_the_final_summary_does_not_lose_it(harness: Harness) -> None:
    h = harness
    h.command(h.sim.fleet.ids(REGION)[0])
    h.settle()
    request_id, preview = h.last_preview()
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    # The next chat.postMessage is the summary: every instance is back by the next tick.
    h.slack.fail("chat.postMessage", error="internal_error", times=1)
    h.clock.advance(30)
    h.tick()
    for _ in range(10):
        h.clock.advance(2)
        h.tick()
    assert h.request(request_id).state is RequestState.SUCCEEDED
    summaries = [m for m in h.slack.thread(CHANNEL, preview.ts) if "Done:" in text_of(m)]
    assert len(summaries) == 1, "the thread has no final summary"


def test_a_click_whose_message_is_not_this_requests_adopts_nothing(harness: Harness) -> None:
    """The adoption trusts the ts only when the signed payload's message carries the
    clicked button with this request's id: a made-up ts with a bare message (the soak's
    old clicks), or another request's message, is never recorded as this request's."""
    h = harness
    other_id, other_preview = _preview_lost_its_ts(h)
    other_ts = other_preview.ts
    with h.bot.ctx.uow() as uow:  # the other request keeps its ts: only its message is used
        uow.requests.set_fields(other_id, RequestUpdate(message_ts=other_ts))
        uow.commit()
    request_id, _ = _preview_lost_its_ts(h, instance=1)
    others = h.slack.message(CHANNEL, other_ts)

    bare = _confirm_click(h, request_id, "1700000000.000100")
    foreign = _confirm_click(h, request_id, others)
    for click in (bare, foreign):
        assert h.sender.post(click).status_code == 200
        h.settle()

    # The click still confirms (the button's value names the request) but adopts nothing.
    assert h.request(request_id).state is not RequestState.PREVIEWED
    assert h.request(request_id).message_ts is None
    assert h.request(other_id).message_ts == other_ts
    assert "Done:" not in " ".join(text_of(m) for m in h.slack.thread(CHANNEL, other_ts))


def test_the_harness_clicks_on_the_real_preview_and_adoption_follows(harness: Harness) -> None:
    h = harness
    request_id, preview = _preview_lost_its_ts(h)
    h.click(ACTION_CONFIRM, request_id)
    h.settle()
    assert h.request(request_id).message_ts == preview.ts


def test_a_preview_slack_keeps_rate_limiting_says_so(harness: Harness) -> None:
    """Slack answering 429 past the WebClient's retries (the harsh soak's lone preview
    at the end of a run): the person hears it was Slack's rate limit, not that the app
    may not post in the channel, and that nothing will be rebooted."""
    h = harness
    h.slack.rate_limit("chat.postMessage", times=6, retry_after=0)
    h.command(h.sim.fleet.ids(REGION)[0])
    h.settle()

    refused = [c.status for c in h.slack.calls("chat.postMessage")]
    assert refused == [429] * 6, refused
    assert h.slack.posted(CHANNEL) == []
    [told] = h.ephemerals(OPERATOR)
    assert "limiting how fast I may post" in told
    assert "Nothing will be rebooted" in told
    assert "allowed to post" not in told
    assert h.sim.calls.count("RebootInstances", dry_run=False) == 0

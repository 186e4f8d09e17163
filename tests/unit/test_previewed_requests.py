"""The previews a process remembers for its confirm clicks (``PreviewedRequests``):
bounded, and rid of previews whose buttons expired."""

from __future__ import annotations

from datetime import timedelta

from bot.services.context import PreviewedRequests
from tests.integration.store.support import T0, TTL, make_request


def test_a_preview_made_after_another_expired_drops_it() -> None:
    previewed = PreviewedRequests()
    old = make_request("old", created_at=T0)
    live = make_request("live", created_at=T0 + TTL - timedelta(seconds=1))
    previewed.remember(old)
    previewed.remember(live)
    assert previewed.get("old") == old  # not expired yet when "live" was made

    previewed.remember(make_request("new", created_at=T0 + TTL))

    assert previewed.get("old") is None
    assert previewed.get("live") == live


def test_at_most_so_many_are_kept_the_oldest_dropped_first() -> None:
    previewed = PreviewedRequests()
    for n in range(PreviewedRequests.MOST + 1):
        previewed.remember(make_request(f"r{n}", created_at=T0))
    assert previewed.get("r0") is None
    assert previewed.get("r1") is not None
    assert previewed.get(f"r{PreviewedRequests.MOST}") is not None

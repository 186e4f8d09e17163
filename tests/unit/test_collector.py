"""The garbage collector's settings for the long-running processes (bot.collector)."""

from __future__ import annotations

import gc

from bot.collector import YOUNG_THRESHOLD, tune_for_service, tuned_for_service


def test_the_young_threshold_is_raised_and_the_others_kept() -> None:
    before = gc.get_threshold()
    try:
        assert tune_for_service() == before
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.set_threshold(*before)


def test_a_block_gets_the_settings_back_as_they_were() -> None:
    before = gc.get_threshold()
    with tuned_for_service():
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == before


def test_a_decoded_answer_in_hand_sets_off_no_collection() -> None:
    """What the setting is for: a poll's decoded answer (about 800 containers) held and
    dropped does not start a young collection, as it did at CPython's 700."""
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    def one_answer() -> None:
        answer = [{"Tags": {"Tag": [{"k": n}]}, "Locks": {"L": []}} for n in range(170)]
        del answer

    before = gc.get_threshold()
    gc.collect()
    gc.callbacks.append(seen)
    try:
        with tuned_for_service():
            gc.collect()
            collections.clear()
            for _ in range(100):
                one_answer()
            tuned = len(collections)
        gc.set_threshold(700, before[1], before[2])
        gc.collect()
        collections.clear()
        for _ in range(100):
            one_answer()
        default = len(collections)
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*before)
    assert tuned == 0
    assert default >= 50

"""The alarm store's promises (docs/PRODUCT.md §5.12), kept by the in-memory fake, SQLite
and PostgreSQL alike: a callback's ``transId`` is first delivered once, a rule and
instance have at most one open card, and a card's first posting is taken once, however
many replicas (threads here) try at the same moment."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.domain.alarms import CardState
from tests.integration.store.support import (
    T0,
    StoreFactory,
    after_another_commits,
    alarm_card,
    run_concurrently,
)

THREADS = 4


def test_a_trans_id_is_first_delivered_once(store: StoreFactory) -> None:
    with store() as uow:
        assert uow.alarms.first_delivery("t-1", now=T0)
        uow.commit()
    with store() as uow:
        assert not uow.alarms.first_delivery("t-1", now=T0)
        assert uow.alarms.first_delivery("t-2", now=T0)


def test_a_delivery_not_committed_is_not_seen(store: StoreFactory) -> None:
    with store() as uow:
        assert uow.alarms.first_delivery("t-1", now=T0)
    with store() as uow:
        assert uow.alarms.first_delivery("t-1", now=T0)


def test_of_one_callback_received_at_once_exactly_one_delivery_is_first(
    store: StoreFactory,
) -> None:
    def receive() -> bool:
        with store() as uow:
            first = uow.alarms.first_delivery("t-1", now=T0)
            uow.commit()
            return first

    assert sorted(run_concurrently(THREADS, receive)) == [False] * (THREADS - 1) + [True]


def test_a_rule_and_instance_have_one_open_card(store: StoreFactory) -> None:
    with store() as uow:
        assert uow.alarms.add(alarm_card("c1"))
        uow.commit()
    with store() as uow:
        assert not uow.alarms.add(alarm_card("c2"))
        assert uow.alarms.add(alarm_card("c3", instance_id="i-bp1bbbbbbbb"))
        assert uow.alarms.add(alarm_card("c4", rule="mem-high"))
        uow.commit()
    with store() as uow:
        open_card = uow.alarms.open_card("cpu-high", "i-bp1aaaaaaaa")
        assert open_card is not None
        assert open_card.id == "c1"
        assert uow.alarms.get("c2") is None


def test_a_recovered_card_makes_room_for_a_new_one(store: StoreFactory) -> None:
    with store() as uow:
        assert uow.alarms.add(alarm_card("c1"))
        uow.commit()
    with store() as uow:
        assert uow.alarms.save(dataclasses.replace(alarm_card("c1"), state=CardState.RECOVERED))
        uow.commit()
    with store() as uow:
        assert uow.alarms.open_card("cpu-high", "i-bp1aaaaaaaa") is None
        assert uow.alarms.add(alarm_card("c2"))
        uow.commit()
    with store() as uow:
        stored = uow.alarms.get("c1")
        assert stored is not None
        assert stored.state is CardState.RECOVERED
        assert not uow.alarms.save(alarm_card("c9"))  # no such card


def test_of_cards_opened_at_once_for_one_rule_and_instance_exactly_one_is_added(
    store: StoreFactory,
) -> None:
    ids = iter(range(THREADS))

    def open_one() -> bool:
        with store() as uow:
            added = uow.alarms.add(alarm_card(f"c{next(ids)}"))
            uow.commit()
            return added

    assert sorted(run_concurrently(THREADS, open_one)) == [False] * (THREADS - 1) + [True]


def test_an_add_is_decided_on_the_cards_as_they_are_now(store: StoreFactory) -> None:
    def add_late(uow: Any) -> bool:
        return bool(uow.alarms.add(alarm_card("c2")))

    def add_other(uow: Any) -> None:
        assert uow.alarms.add(alarm_card("c1"))

    # The late unit looked (no open card) before the other opened one and committed.
    added = after_another_commits(
        store,
        read=lambda uow: uow.alarms.open_card("cpu-high", "i-bp1aaaaaaaa"),
        other=add_other,
        write=add_late,
    )
    assert added is False
    with store() as uow:
        assert uow.alarms.get("c2") is None


def test_a_delivery_is_decided_on_the_deliveries_as_they_are_now(store: StoreFactory) -> None:
    def deliver(uow: Any) -> bool:
        return bool(uow.alarms.first_delivery("t-1", now=T0))

    first = after_another_commits(
        store, read=lambda uow: uow.alarms.get("c1"), other=deliver, write=deliver
    )
    assert first is False


def test_a_claim_is_decided_on_the_card_as_it_is_now(store: StoreFactory) -> None:
    with store() as uow:
        assert uow.alarms.add(alarm_card("c1"))
        uow.commit()

    def claim(uow: Any) -> bool:
        return bool(uow.alarms.claim_post("c1"))

    claimed = after_another_commits(
        store, read=lambda uow: uow.alarms.get("c1"), other=claim, write=claim
    )
    assert claimed is False


def test_a_cards_first_posting_is_taken_once_and_can_be_given_back(
    store: StoreFactory,
) -> None:
    with store() as uow:
        assert uow.alarms.add(alarm_card("c1"))
        uow.commit()

    def claim() -> bool:
        with store() as uow:
            claimed = uow.alarms.claim_post("c1")
            uow.commit()
            return claimed

    assert sorted(run_concurrently(THREADS, claim)) == [False] * (THREADS - 1) + [True]
    with store() as uow:
        uow.alarms.release_post("c1")
        uow.commit()
    assert claim()
    with store() as uow:
        uow.alarms.set_shown("c1", message_ts="1700000000.000100", instance_name="web-1")
        uow.commit()
    assert not claim()
    with store() as uow:
        shown = uow.alarms.get("c1")
        assert shown is not None
        assert (shown.message_ts, shown.instance_name) == ("1700000000.000100", "web-1")

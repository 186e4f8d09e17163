"""The platform-event repository through the real migrations, on SQLite and PostgreSQL:
events and cards read back as they were written, a state change marks the card for a
redraw, requests link to events, and the watch's lease goes to one owner at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from bot.domain.events import EventState, PlatformEvent
from tests.fixtures_db import UowFactory
from tests.integration.store.support import make_request

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
HZ = "cn-hangzhou"


def event(n: int, *, hours: int = 24, state: EventState = EventState.SCHEDULED) -> PlatformEvent:
    return PlatformEvent(
        event_id=f"e-{n:04d}",
        account="default",
        region=HZ,
        instance_id=f"i-bp1inst{n:04d}",
        event_type="SystemMaintenance.Reboot",
        state=state,
        not_before=T0 + timedelta(hours=hours),
        published_at=T0,
    )


def test_events_and_their_card_read_back(uow_factory: UowFactory) -> None:
    late, soon = event(1, hours=30), event(2, hours=3)
    with uow_factory() as uow:
        uow.events.add_card("c1", "default", HZ, "C-EV", T0)
        uow.events.add([late, soon], "c1", T0)
        uow.commit()
    with uow_factory() as uow:
        card = uow.events.card("c1")
        assert card is not None
        assert [k.event for k in card.events] == [soon, late]
        assert (card.channel, card.message_ts, card.finished) == ("C-EV", None, False)
        assert uow.events.cards_owed() == ["c1"]  # not posted yet
        uow.events.set_card_posted("c1", "1.2")
        uow.commit()
    with uow_factory() as uow:
        assert uow.events.cards_owed() == []
        assert set(uow.events.known("default", HZ)) == {"e-0001", "e-0002"}
        assert uow.events.known("default", "cn-shanghai") == {}
        assert [k.event_id for k in uow.events.pending()] == ["e-0002", "e-0001"]


def test_a_state_change_is_written_and_owes_the_card_a_redraw(uow_factory: UowFactory) -> None:
    a = event(1)
    with uow_factory() as uow:
        uow.events.add_card("c1", "default", HZ, "C-EV", T0)
        uow.events.add([a], "c1", T0)
        uow.events.set_card_posted("c1", "1.2")
        uow.commit()
    avoided = replace(a, state=EventState.AVOIDED, finished_at=T0 + timedelta(hours=1))
    with uow_factory() as uow:
        uow.events.update_event(avoided)
        uow.events.set_fields(a.event_id, reminded=True, passes_since_back=2)
        uow.commit()
    with uow_factory() as uow:
        (known,) = uow.events.get([a.event_id])
        assert known.event == avoided
        assert (known.reminded, known.passes_since_back) == (True, 2)
        assert uow.events.cards_owed() == ["c1"]
        card = uow.events.card("c1")
        assert card is not None
        assert card.finished
        # A finished event is not among the known pending ones any more, unless listed.
        assert uow.events.known("default", HZ) == {}
        assert set(uow.events.known("default", HZ, also=[a.event_id])) == {a.event_id}
        uow.events.set_card_drawn("c1")
        uow.commit()
    with uow_factory() as uow:
        assert uow.events.cards_owed() == []


def test_an_event_is_stored_once(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.events.add([event(1)], None, T0)
        uow.commit()
    with uow_factory() as uow:
        try:
            uow.events.add([event(1)], None, T0)
        except IntegrityError:
            pass
        else:  # pragma: no cover - the test fails below
            raise AssertionError("a second row for the same event id was accepted")


def test_a_confirmed_request_linked_to_events_is_the_one_that_rebooted_them(
    uow_factory: UowFactory,
) -> None:
    with uow_factory() as uow:
        uow.events.add([event(1), event(2)], None, T0)
        uow.requests.add(make_request("r1"))
        uow.events.link("r1", ["e-0001", "e-0002"])
        uow.commit()
    with uow_factory() as uow:
        # Previewed only: nobody rebooted anything for them yet.
        assert {k.request_id for k in uow.events.of_request("r1")} == {None}
        uow.requests.add(replace(make_request("r2"), confirmed_at=T0, confirmed_by="U1"))
        uow.events.link("r2", ["e-0001"])
        uow.commit()
    with uow_factory() as uow:
        by_id = {k.event_id: k.request_id for k in uow.events.get(["e-0001", "e-0002"])}
        assert by_id == {"e-0001": "r2", "e-0002": None}
        assert [k.event_id for k in uow.events.of_request("r2")] == ["e-0001"]
        pending = uow.events.pending_for_instances([(HZ, "i-bp1inst0001"), ("x", "i-bp1inst0002")])
        assert [k.event_id for k in pending] == ["e-0001"]


def test_the_watch_lease_goes_to_one_owner_until_released_or_expired(
    uow_factory: UowFactory,
) -> None:
    with uow_factory() as uow:
        assert uow.events.claim_watch("a", T0, 30)
        assert not uow.events.claim_watch("b", T0, 30)
        assert uow.events.renew_watch("a", T0 + timedelta(seconds=20), 30)
        assert not uow.events.renew_watch("b", T0, 30)
        uow.commit()
    with uow_factory() as uow:
        # b may take over once a's lease ran out (a died mid-pass).
        assert not uow.events.claim_watch("b", T0 + timedelta(seconds=49), 30)
        assert uow.events.claim_watch("b", T0 + timedelta(seconds=51), 30)
        assert not uow.events.release_watch("a", next_pass_at=T0, passed_at=None)
        assert uow.events.release_watch(
            "b", next_pass_at=T0 + timedelta(minutes=5), passed_at=T0 + timedelta(seconds=51)
        )
        uow.commit()
    with uow_factory() as uow:
        # Not due before next_pass_at, whoever asks.
        assert not uow.events.claim_watch("a", T0 + timedelta(minutes=4), 30)
        assert uow.events.claim_watch("a", T0 + timedelta(minutes=5), 30)
        uow.commit()

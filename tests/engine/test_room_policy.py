"""Room mailboxes answer by their own policy and in their own time (Exchange's Resource Booking
Assistant, Set-CalendarProcessing): a room whose assistant answers later, and one that declines a
conversation beyond its booking window. The simulators model both (``tests.sims.rba``)."""

from __future__ import annotations

import pytest

from syncd import admin
from syncd.domain.model import Mode
from tests.engine.world import ROOMS, open_world
from tests.store.test_bookings import offers
from tests.support.jobcentre import at


@pytest.fixture(params=("ews", "graph"))
def backend(request):
    return request.param


def book(rt, type_code="jobsamtale", mode=Mode.IN_PERSON, day=None):
    found = [
        o
        for o in offers(rt, caseworker_id="mette", modes=(mode,), type_code=type_code)
        if day is None or o.start.date() == day
    ]
    return rt.bookings.confirm(rt.bookings.reserve(found[0].offer_id, "citizen-ref-1").id)


def test_a_room_that_answers_later_holds_the_conversation_once_it_accepts(backend, tmp_path, clock):
    with open_world(backend, tmp_path, clock) as world:
        for room in ROOMS:
            world.exchange.room_policy(world.calendar(room), answers_later=True)
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        world.settle()
        booking = book(world.rt)
        world.settle()
        room = world.rt.bookings.get(booking.id).room_id
        [event] = world.ours("mette")
        assert event.rooms == {world.email(room): "NEEDS-ACTION"}  # not answered yet
        assert world.ours(room) == []  # and no copy in the room's calendar yet
        assert world.exchange.run_booking_assistants() == 1
        world.settle()
        after = world.rt.bookings.get(booking.id)
        assert after.room_id == room and after.conflict is None
        [event] = world.ours("mette")
        assert event.rooms == {world.email(room): "ACCEPTED"}
        assert [e.start for e in world.ours(room)] == [event.start]


def test_a_room_declines_beyond_its_booking_window_and_the_reason_is_shown(
    backend, tmp_path, clock
):
    # L9 is the only room big enough for a joint conversation; its window is 7 days ahead.
    rooms = {"L9": {"booking_window_days": 7}}
    with open_world(backend, tmp_path, clock, rooms=rooms) as world:
        world.exchange.room_policy(world.calendar("L9"), booking_window_days=7)
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))  # 8 days from "now"
        world.settle()
        booking = book(world.rt, type_code="faellessamtale")
        assert booking.room_id == "L9"
        world.settle()
        after = world.rt.bookings.get(booking.id)
        assert after.status == "confirmed" and after.room_id is None and after.conflict
        assert world.ours("L9") == []
        lines: list[str] = []
        admin.status(world.rt, lines.append)
        [shown] = [line for line in lines if booking.reference in line]
        assert "Mødelokale L9 afslog" in shown and "bookingvindue" in shown and "7 dage" in shown

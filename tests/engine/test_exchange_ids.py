"""Backend ids of our own events may change (Graph ids are mutable unless immutable ids are
asked for; an item moved to another folder and back gets a new one). The booking must survive:
the event is ours by its external id, not by its href."""

from __future__ import annotations

from tests.engine.test_flow import book, window
from tests.engine.world import open_world


def test_our_event_under_a_new_id_is_not_a_deleted_booking(tmp_path, clock):
    with open_world("graph", tmp_path, clock) as world:
        window(world)
        world.settle()
        booking = book(world.rt)
        world.settle()
        [event] = world.ours("mette")
        world.hands.outlook.change_id(world.calendar("mette"), event.uid)  # type: ignore[attr-defined]
        world.settle()
        after = world.rt.bookings.get(booking.id)
        assert after.status == "confirmed" and after.conflict is None
        assert len(world.ours("mette")) == 1

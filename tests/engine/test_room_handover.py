"""A caseworker deletes a booked conversation in her calendar: its room goes to a conversation
that was waiting for one, and the calendars follow."""

from __future__ import annotations

import pytest

from syncd.domain.model import Mode
from tests.engine.world import ics, make_world
from tests.store.test_bookings import offers
from tests.support.jobcentre import at


@pytest.fixture
def world(radicale, tmp_path, clock):
    w = make_world(radicale, f"sqlite:///{tmp_path / 'syncd.db'}", clock)
    yield w
    w.rt.db.dispose()


def test_room_freed_in_the_calendar_goes_to_the_waiting_conversation(world):
    for cw in ("mette", "lars"):
        world.put("caseworkers", cw, "w", ics(f"w-{cw}", "Selvbook", at(0, 9), at(0, 10)))
    world.settle()

    def book(cw):
        o = offers(world.rt, caseworker_id=cw, modes=(Mode.IN_PERSON,), type_code="jobsamtale")[0]
        return world.rt.bookings.confirm(world.rt.bookings.reserve(o.offer_id, f"ref-{cw}").id)

    mette, lars = book("mette"), book("lars")
    world.settle()
    # Meetings put in by hand take lars's room and the big room: lars's conversation waits.
    for room in {lars.room_id, "L9"}:
        world.put("rooms", room, f"grab-{room}", ics(f"grab-{room}", "Kursus", at(0, 8), at(0, 12)))
    world.settle()
    assert world.rt.bookings.get(lars.id).room_id is None
    # Mette deletes her conversation in her calendar.
    uid = next(e["uid"] for e in world.events("caseworkers", "mette") if e["ours"])
    world.delete("caseworkers", "mette", f"{uid}.ics")
    world.settle()
    assert world.rt.bookings.get(mette.id).status == "cancelled"
    after = world.rt.bookings.get(lars.id)
    assert after.room_id == mette.room_id and after.conflict is None
    [event] = [e for e in world.events("caseworkers", "lars") if e["ours"]]
    assert mette.room_id in event["location"]
    assert [e["start"] for e in world.events("rooms", mette.room_id) if e["ours"]] == [at(0, 9)]

"""A conversation left without a room gets one as soon as a cancellation frees a suitable
room at its time."""

from __future__ import annotations

from sqlalchemy import text

from syncd.domain.model import Mode
from syncd.store.readback import rooms_taken
from syncd.store.rehousing import Rehousing
from tests.store.helpers import publish
from tests.store.test_bookings import _db_time, offers
from tests.support.jobcentre import at


def test_cancellation_gives_the_room_to_a_waiting_conversation(rt):
    for cw in ("mette", "lars"):
        publish(rt, cw, [(at(0, 9), at(0, 10))], types=("jobsamtale",))
    first = rt.bookings.confirm(
        rt.bookings.reserve(
            offers(rt, caseworker_id="mette", modes=(Mode.IN_PERSON,))[0].offer_id, "a"
        ).id
    )
    second = rt.bookings.confirm(
        rt.bookings.reserve(
            offers(rt, caseworker_id="lars", modes=(Mode.IN_PERSON,))[0].offer_id, "b"
        ).id
    )
    # Someone takes lars's room and the big room by hand: lars's conversation has no room.
    taken = {second.room_id, "L9"}
    with rt.db.write() as s:
        for room in taken:
            s.execute(
                text(
                    "INSERT INTO busy_times (owner_kind, owner_id, start, \"end\", source) VALUES ('room', :r, :a, :b, 'hand')"
                ),
                {"r": room, "a": _db_time(rt, at(0, 8)), "b": _db_time(rt, at(0, 11))},
            )
        s.flush()
        for room in taken:
            rooms_taken(s, rt.index, room, rt.clock(), rt.zone)
    waiting = rt.bookings.get(second.id)
    assert waiting.room_id is None and waiting.conflict
    # Mette's citizen cancels: her room goes to lars's conversation at once.
    rt.bookings.cancel(first.id)
    rehoused = rt.bookings.get(second.id)
    assert rehoused.room_id == first.room_id and rehoused.conflict is None


def test_background_rehousing_places_conversations_a_booking_call_left_without_room(rt):
    """What a citizen's bounded booking call leaves open, the engine's background pass
    (``rehouse_roomless``, full search) completes; it reports a state that changes only when
    it could find something new."""
    rooms = Rehousing.for_runtime(rt)
    assert rooms.roomless_state() == ()
    booking = _roomless_booking(rt)
    assert rt.bookings.get(booking.id).room_id is None
    before = rooms.roomless_state()
    assert before and booking.id in before[0]  # type: ignore[operator]
    found = rooms.rehouse_roomless()
    assert [(r.booking_id, r.room_id is not None) for r in found] == [(booking.id, True)]
    assert rt.bookings.get(booking.id).room_id is not None
    assert rooms.roomless_state() == ()
    assert rooms.rehouse_roomless() == ()  # nothing left to do


def test_background_rehousing_leaves_what_cannot_be_placed_as_it_is(rt):
    booking = _roomless_booking(rt)
    with rt.db.write() as s:
        for room in rt.index.rooms:  # every room taken by hand at that time
            s.execute(
                text(
                    "INSERT INTO busy_times (owner_kind, owner_id, start, \"end\", source) VALUES ('room', :r, :a, :b, 'hand')"
                ),
                {"r": room, "a": _db_time(rt, at(0, 8)), "b": _db_time(rt, at(0, 11))},
            )
    rooms = Rehousing.for_runtime(rt)
    state = rooms.roomless_state()
    assert rooms.rehouse_roomless() == ()
    assert rt.bookings.get(booking.id).room_id is None
    assert rooms.roomless_state() == state  # nothing changed: the engine will not try again


def test_background_rehousing_applies_nothing_if_the_rooms_changed_while_it_searched(rt):
    """The search runs outside the write transaction; if anything changed meanwhile, the
    plans are dropped and the next round looks again."""
    booking = _roomless_booking(rt)
    rooms = Rehousing.for_runtime(rt)
    states = iter([rooms.roomless_state(), ("something else changed",)])
    rooms._roomless_state = lambda s, now: next(states)  # type: ignore[method-assign]
    assert rooms.rehouse_roomless() == ()
    assert rt.bookings.get(booking.id).room_id is None


def _roomless_booking(rt):  # type: ignore[no-untyped-def]
    """A confirmed in-person conversation of Mette's that holds no room, as if the booking
    call had given up on one."""
    publish(rt, "mette", [(at(0, 9), at(0, 10))], types=("jobsamtale",))
    booking = rt.bookings.confirm(
        rt.bookings.reserve(
            offers(rt, caseworker_id="mette", modes=(Mode.IN_PERSON,))[0].offer_id, "a"
        ).id
    )
    with rt.db.write() as s:
        s.execute(
            text("UPDATE room_allocations SET active = :f WHERE booking_id = :b"),
            {"f": False, "b": booking.id},
        )
    return booking

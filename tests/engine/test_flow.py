"""The daemon end to end on every calendar backend: windows become offers, bookings appear in
the caseworker's calendar with their room, and what people do in calendars flows back.

One suite, three backends (CalDAV on a real Radicale, Exchange over EWS and over Graph on the
local simulators). Rooms are booked the backend's own way: on CalDAV the room calendar gets its
own event; on Exchange the room mailbox is invited as a resource, accepts or declines first
come, first served, and keeps its copy of the meeting. Either way the room's calendar shows the
conversation and nobody else's meeting is ever touched.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from syncd.domain.model import Mode
from syncd.store.tables import EventFeedRow, OutboxRow, QuarantineRow, SyncStateRow
from tests.engine.world import BACKENDS, ROOMS, ics, make_world, open_world
from tests.store.invariants import assert_no_double_booking
from tests.store.test_bookings import local_times, offers
from tests.support.jobcentre import CPH, at

EXCHANGE = ("ews", "graph")


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path, clock):
    radicale = request.getfixturevalue("radicale") if request.param == "caldav" else None
    with open_world(request.param, tmp_path, clock, radicale) as w:
        yield w


@pytest.fixture(params=EXCHANGE)
def exchange(request, tmp_path, clock):
    with open_world(request.param, tmp_path, clock) as w:
        yield w


def book(rt, caseworker="mette", mode=Mode.IN_PERSON, index=0, **kw):
    o = [
        x
        for x in offers(rt, caseworker_id=caseworker, modes=(mode,))
        if x.type_code == kw.get("type", "jobsamtale")
    ][index]
    return rt.bookings.confirm(rt.bookings.reserve(o.offer_id, "citizen-ref-1").id)


def feed_types(rt):
    with rt.db.read() as s:
        return [e.type for e in s.scalars(select(EventFeedRow).order_by(EventFeedRow.id))]


def window(world, name="mette", uid="w1", day=0):
    world.put(name, uid, "Selvbook", at(day, 9), at(day, 12))


def assert_room_holds(world, booking, start):
    """The room's calendar shows the conversation (its own event on CalDAV, its copy of the
    accepted meeting on Exchange), and the caseworker's event names that room and only it."""
    assert [e.start for e in world.ours(booking.room_id)] == [start]
    [event] = world.ours(booking.caseworker_id)
    assert booking.room_id in event.location
    if world.rooms_by_invitation:
        assert event.rooms == {world.email(booking.room_id): "ACCEPTED"}
    else:
        assert event.rooms == {}
    for other in set(ROOMS) - {booking.room_id}:
        assert world.ours(other) == [], f"{other} still holds the conversation"


def test_window_with_team_meeting_becomes_offers(world):
    world.put("mette", "w1", "Selvbook: Jobsamtale", at(0, 9), at(0, 12))
    world.put("mette", "t1", "Teammøde", at(0, 10), at(0, 10, 30))
    world.put("mette", "f1", "Selvbook", at(3, 9), at(3, 12))
    world.put("mette", "off", "Fri", date(2026, 12, 4), date(2026, 12, 5))  # all day, Friday
    world.settle()
    found = offers(world.rt, caseworker_id="mette")
    tuesday = [o for o in found if o.start.astimezone(CPH).date() == at(0, 9).date()]
    assert local_times(tuesday) == ["09:00", "10:30", "11:10"]
    assert not [o for o in found if o.start.astimezone(CPH).date() == at(3, 9).date()]  # Friday off


def test_booking_appears_in_caseworker_and_room_calendars(world):
    world.put("mette", "w1", "Selvbook: Jobsamtale", at(0, 9), at(0, 12))
    world.settle()
    booking = book(world.rt, index=1)
    world.settle()
    [event] = world.ours("mette")
    assert event.summary == "Jobsamtale (selvbooket) - fremmøde"
    assert event.location == f"Mødelokale {booking.room_id}, Jobcenter Lilleby"
    assert event.private
    assert event.start == at(0, 9, 40) and event.end == at(0, 10, 10)
    assert booking.reference in event.text and "citizen-ref-1" not in event.text
    assert_room_holds(world, world.rt.bookings.get(booking.id), at(0, 9, 40))
    # The window itself is untouched, and the room's copy is never taken for busy time.
    window_event = next(e for e in world.events("mette") if e.uid == "w1")
    assert window_event.summary == "Selvbook: Jobsamtale" and not window_event.ours
    assert world.rt.bookings.get(booking.id).conflict is None


def test_caseworker_moves_and_deletes_conversations(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    [event] = world.ours("mette")
    world.move("mette", event.uid, at(0, 13), at(0, 13, 30))
    world.settle()
    moved = world.rt.bookings.get(booking.id)
    assert moved.status == "confirmed" and moved.start == at(0, 13)
    assert moved.room_id is not None and moved.conflict is None
    assert_room_holds(world, moved, at(0, 13))
    assert "booking.moved" in feed_types(world.rt)
    # Now she deletes it.
    world.delete("mette", event.uid)
    world.settle()
    gone = world.rt.bookings.get(booking.id)
    assert gone.status == "cancelled" and gone.cancelled_by == "caseworker" and gone.room_id is None
    for room in ROOMS:
        assert world.ours(room) == []
    assert feed_types(world.rt)[-1] == "booking.cancelled"


def test_move_onto_her_own_meeting_is_a_conflict(world):
    """Read-back and publishing run in one apply; whichever comes first, a conversation dragged
    onto the caseworker's own meeting is flagged at once, not at the next manual resync."""
    window(world)
    world.put("mette", "m1", "Teammøde", at(0, 13), at(0, 14))
    world.settle()
    booking = book(world.rt)
    world.settle()
    [event] = world.ours("mette")
    world.move("mette", event.uid, at(0, 13), at(0, 13, 30))
    world.settle()
    moved = world.rt.bookings.get(booking.id)
    assert moved.start == at(0, 13) and moved.conflict is not None
    [payload] = [
        e.payload for e in _feed(world.rt) if e.type == "booking.moved"
    ]  # times in one zone: the jobcentre's
    assert {payload["start"][-6:], payload["previous_start"][-6:]} == {"+01:00"}


def _feed(rt):
    with rt.db.read() as s:
        return list(s.scalars(select(EventFeedRow).order_by(EventFeedRow.id)))


def test_moved_to_a_time_its_room_is_taken_gets_another_room(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    first = booking.room_id
    world.put(first, "course", "Kursus", at(0, 12, 30), at(0, 14))
    world.settle()
    assert world.rt.bookings.get(booking.id).room_id == first  # 09:00 is still free there
    [event] = world.ours("mette")
    world.move("mette", event.uid, at(0, 13), at(0, 13, 30))
    world.settle()
    moved = world.rt.bookings.get(booking.id)
    assert moved.start == at(0, 13) and moved.room_id not in (None, first)
    assert moved.conflict is None
    assert_room_holds(world, moved, at(0, 13))
    assert [e.uid for e in world.events(first)] == ["course"]


def test_room_taken_by_hand_moves_the_conversation(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    first_room = booking.room_id
    # A delegate writes a meeting straight into the room's calendar over the conversation.
    world.put(first_room, "grab", "Ledermøde", at(0, 8, 30), at(0, 10))
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.room_id not in (None, first_room) and after.conflict is None
    assert world.ours(first_room) == []
    assert_room_holds(world, after, at(0, 9))
    # The meeting the person put in the room is never touched.
    [grab] = [e for e in world.events(first_room) if e.uid == "grab"]
    assert (grab.summary, grab.start, grab.end) == ("Ledermøde", at(0, 8, 30), at(0, 10))


def test_no_free_room_is_a_conflict(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    for room in ROOMS:
        world.put(room, f"grab-{room}", "Kursus", at(0, 8), at(0, 12))
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.status == "confirmed" and after.room_id is None and after.conflict
    assert "booking.room_lost" in feed_types(world.rt)
    [event] = world.ours("mette")  # the conversation stays in her calendar, without a room
    assert event.rooms == {}
    for room in ROOMS:
        assert world.ours(room) == []


def test_deleted_window_keeps_bookings_as_conflicts(world):
    window(world)
    world.settle()
    a = book(world.rt, index=0)
    b = book(world.rt, index=1, mode=Mode.PHONE)
    world.delete("mette", "w1")
    world.settle()
    assert offers(world.rt, caseworker_id="mette") == []
    for booking in (a, b):
        kept = world.rt.bookings.get(booking.id)
        assert kept.status == "confirmed" and kept.conflict
    assert len(world.ours("mette")) == 2


def test_restart_changes_nothing_twice(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    with world.rt.db.read() as s:
        outbox_before = s.scalar(select(func.count()).select_from(OutboxRow))
        feed_before = s.scalar(select(func.count()).select_from(EventFeedRow))
    before = sorted((e.uid, e.start) for e in world.events("mette"))
    room_before = [(e.uid, e.start) for e in world.events(booking.room_id)]
    world.restart()
    world.settle()
    with world.rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == outbox_before
        assert s.scalar(select(func.count()).select_from(EventFeedRow)) == feed_before
    assert sorted((e.uid, e.start) for e in world.events("mette")) == before
    assert [(e.uid, e.start) for e in world.events(booking.room_id)] == room_before
    assert_no_double_booking(world.rt.db)


IDLE_REQUESTS = {
    "caldav": 2,  # one PROPFIND per calendar home
    "xandikos": 2,
    "ews": 6,  # one SyncFolderItems per calendar (an unchanged sync state is EWS's marker)
    "graph": 1,  # one $batch asking the six delta cursors
}


def test_idle_cycle_syncs_nothing(world):
    window(world)
    world.settle()
    before = world.server_requests()
    report = world.engine.cycle()
    assert report.failed == {}
    assert all(r.changed == r.deleted == 0 for r in report.synced)
    assert not any(r.moved or r.cancelled or r.rooms_lost or r.conflicts for r in report.synced)
    assert world.server_requests() - before <= IDLE_REQUESTS[world.backend]
    if world.backend != "ews":
        assert report.synced == []


def test_cancel_by_citizen_removes_events(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    room = booking.room_id
    assert world.ours(room)
    world.rt.bookings.cancel(booking.id)
    world.settle()
    assert world.ours("mette") == []
    for name in ROOMS:
        assert world.ours(name) == []
    assert world.rt.bookings.get(booking.id).room_id is None


# -- Exchange only: rooms answer invitations -----------------------------------------------------
def test_room_declines_because_someone_else_had_it_moves_the_booking(exchange):
    """The engine still thinks the room is free (its calendar was not read since), so the
    conversation is allocated there; the colleague's invitation reached the room first, the
    room declines ours, and the booking moves to another room."""
    world = exchange
    window(world)
    world.settle()
    booking = book(world.rt)
    first = booking.room_id
    assert world.invite_room("lars", first, "lars-1", "Teammøde", at(0, 9), at(0, 10)) == "ACCEPTED"
    world.write()  # the outbox runs at once after confirming: our invitation goes out
    [event] = world.ours("mette")
    assert event.rooms == {world.email(first): "DECLINED"}
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.status == "confirmed" and after.room_id not in (None, first)
    assert after.conflict is None
    assert_room_holds(world, after, at(0, 9))
    # Told once, though both the decline and the room's calendar say the same thing.
    assert feed_types(world.rt).count("booking.room_changed") == 1
    # Lars keeps the room he booked first.
    [lars] = [e for e in world.events("lars") if e.uid == "lars-1"]
    assert lars.rooms == {world.email(first): "ACCEPTED"}
    assert [e.uid for e in world.events(first)] == ["lars-1"]


def test_room_declines_and_no_other_room_is_free_is_a_conflict(exchange):
    world = exchange
    window(world)
    world.settle()
    booking = book(world.rt)
    for n, room in enumerate(ROOMS):
        assert world.invite_room("lars", room, f"l{n}", "Kursus", at(0, 8), at(0, 12)) == "ACCEPTED"
    world.write()
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.status == "confirmed" and after.room_id is None and after.conflict
    assert "booking.room_lost" in feed_types(world.rt)
    [event] = world.ours("mette")
    assert event.rooms == {}
    assert event.location == "Lokale mangler - koordinator er underrettet"
    for room in ROOMS:
        assert world.ours(room) == []


def test_room_delegate_declines_later_moves_the_booking_elsewhere(exchange):
    """Nothing new in the room's calendar explains it: only the decline on our event says the
    room will not have us. The booking must not be given the same room again."""
    world = exchange
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    first = booking.room_id
    [event] = world.ours("mette")
    assert event.rooms == {world.email(first): "ACCEPTED"}
    world.room_declines(first, "mette", event.uid)
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.status == "confirmed" and after.room_id not in (None, first)
    assert_room_holds(world, after, at(0, 9))
    assert feed_types(world.rt).count("booking.room_changed") == 1
    with world.rt.db.read() as s:
        assert all(st.last_error is None for st in s.scalars(select(SyncStateRow)))


# -- CalDAV only: raw iCalendar from a client ------------------------------------------------------
def test_unreadable_item_is_quarantined_and_the_rest_syncs(radicale, tmp_path, clock):
    world = make_world(radicale, f"sqlite:///{tmp_path / 's.db'}", clock)
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    bad = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:odd\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261202T090000Z\r\n"
        "DTEND:20261202T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Selvbook\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:odd\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID;RANGE=THISANDFUTURE:20261209T090000Z\r\n"
        "DTSTART:20261209T100000Z\r\nDTEND:20261209T110000Z\r\nSUMMARY:Selvbook\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    world.put("caseworkers", "mette", "odd", bad)
    world.settle()
    with world.rt.db.read() as s:
        [q] = list(s.scalars(select(QuarantineRow)))
    assert q.href.endswith("odd.ics") and "THISANDFUTURE" in q.reason
    assert offers(world.rt, caseworker_id="mette")  # the good window still publishes
    # Fixing the item lifts the quarantine.
    world.put("caseworkers", "mette", "odd", ics("odd", "Teammøde", at(1, 9), at(1, 10)))
    world.settle()
    with world.rt.db.read() as s:
        assert list(s.scalars(select(QuarantineRow))) == []
    world.rt.db.dispose()

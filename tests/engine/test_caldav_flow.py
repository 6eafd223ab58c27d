"""The daemon end to end on a real Radicale: windows become offers, bookings appear in the
caseworker's and the room's calendars, and what people do in calendars flows back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from syncd.domain.model import Mode
from syncd.store.tables import EventFeedRow, OutboxRow
from tests.engine.world import ics, make_world
from tests.store.invariants import assert_no_double_booking
from tests.store.test_bookings import local_times, offers
from tests.support.jobcentre import CPH, at


@pytest.fixture
def world(radicale, tmp_path, clock):
    w = make_world(radicale, f"sqlite:///{tmp_path / 'syncd.db'}", clock)
    yield w
    w.rt.db.dispose()


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


def test_window_with_team_meeting_becomes_offers(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook: Jobsamtale", at(0, 9), at(0, 12)))
    world.put("caseworkers", "mette", "t1", ics("t1", "Teammøde", at(0, 10), at(0, 10, 30)))
    world.put("caseworkers", "mette", "f1", ics("f1", "Selvbook", at(3, 9), at(3, 12)))
    world.put(
        "caseworkers", "mette", "off",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:off\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART;VALUE=DATE:20261204\r\nDTEND;VALUE=DATE:20261205\r\nSUMMARY:Fri\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )  # fmt: skip
    world.settle()
    found = offers(world.rt, caseworker_id="mette")
    tuesday = [o for o in found if o.start.astimezone(CPH).date() == at(0, 9).date()]
    assert local_times(tuesday) == ["09:00", "10:30", "11:10"]
    assert not [o for o in found if o.start.astimezone(CPH).date() == at(3, 9).date()]  # Friday off


def test_booking_appears_in_caseworker_and_room_calendars(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook: Jobsamtale", at(0, 9), at(0, 12)))
    world.settle()
    booking = book(world.rt, index=1)
    world.settle()
    [event] = [e for e in world.events("caseworkers", "mette") if e["ours"]]
    assert event["summary"] == "Jobsamtale (selvbooket) - fremmøde"
    assert event["location"] == f"Mødelokale {booking.room_id}, Jobcenter Lilleby"
    assert event["class"] == "PRIVATE"
    assert event["start"] == at(0, 9, 40) and event["end"] == at(0, 10, 10)
    assert booking.reference in event["raw"] and "citizen-ref-1" not in event["raw"]
    [room_event] = [e for e in world.events("rooms", booking.room_id) if e["ours"]]
    assert room_event["start"] == at(0, 9, 40)
    # The window itself is untouched.
    window = next(e for e in world.events("caseworkers", "mette") if e["uid"] == "w1")
    assert window["summary"] == "Selvbook: Jobsamtale" and not window["ours"]


def test_caseworker_moves_and_deletes_conversations(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    booking = book(world.rt)
    world.settle()
    uid = next(e["uid"] for e in world.events("caseworkers", "mette") if e["ours"])
    world.move_own_event("caseworkers", "mette", uid, at(0, 13), at(0, 13, 30))
    world.settle()
    moved = world.rt.bookings.get(booking.id)
    assert moved.status == "confirmed" and moved.start == at(0, 13)
    assert moved.room_id is not None
    [room_event] = [e for e in world.events("rooms", moved.room_id) if e["ours"]]
    assert room_event["start"] == at(0, 13)
    assert "booking.moved" in feed_types(world.rt)
    # Now she deletes it.
    world.delete("caseworkers", "mette", f"{uid}.ics")
    world.settle()
    gone = world.rt.bookings.get(booking.id)
    assert gone.status == "cancelled" and gone.cancelled_by == "caseworker" and gone.room_id is None
    assert not [e for e in world.events("rooms", moved.room_id) if e["ours"]]
    assert feed_types(world.rt)[-1] == "booking.cancelled"


def test_room_taken_by_hand_moves_the_conversation(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    booking = book(world.rt)
    world.settle()
    first_room = booking.room_id
    world.put("rooms", first_room, "grab", ics("grab", "Ledermøde", at(0, 8, 30), at(0, 10)))
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.room_id not in (None, first_room)
    assert not [e for e in world.events("rooms", first_room) if e["ours"]]
    assert [e["start"] for e in world.events("rooms", after.room_id) if e["ours"]] == [at(0, 9)]
    [event] = [e for e in world.events("caseworkers", "mette") if e["ours"]]
    assert after.room_id in event["location"]
    # The meeting the person put in the room is never touched.
    assert any(e["uid"] == "grab" for e in world.events("rooms", first_room))


def test_no_free_room_is_a_conflict(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    booking = book(world.rt)
    world.settle()
    for room in ("L1", "L2", "L9"):
        world.put("rooms", room, f"grab-{room}", ics(f"grab-{room}", "Kursus", at(0, 8), at(0, 12)))
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.status == "confirmed" and after.room_id is None and after.conflict
    assert "booking.room_lost" in feed_types(world.rt)


def test_deleted_window_keeps_bookings_as_conflicts(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    a = book(world.rt, index=0)
    b = book(world.rt, index=1, mode=Mode.PHONE)
    world.delete("caseworkers", "mette", "w1.ics")
    world.settle()
    assert offers(world.rt, caseworker_id="mette") == []
    for booking in (a, b):
        kept = world.rt.bookings.get(booking.id)
        assert kept.status == "confirmed" and kept.conflict
    assert len([e for e in world.events("caseworkers", "mette") if e["ours"]]) == 2


def test_restart_changes_nothing_twice(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    book(world.rt)
    world.settle()
    with world.rt.db.read() as s:
        outbox_before = s.scalar(select(func.count()).select_from(OutboxRow))
        feed_before = s.scalar(select(func.count()).select_from(EventFeedRow))
    before = sorted((e["uid"], e["start"]) for e in world.events("caseworkers", "mette"))
    again = world.restart()
    again.settle()
    with again.rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == outbox_before
        assert s.scalar(select(func.count()).select_from(EventFeedRow)) == feed_before
    assert sorted((e["uid"], e["start"]) for e in again.events("caseworkers", "mette")) == before
    assert_no_double_booking(again.rt.db)
    again.rt.db.dispose()


def test_idle_cycle_syncs_nothing(world):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    report = world.engine.cycle()
    assert report.synced == [] and report.failed == {}
    assert report.requests is not None and report.requests <= 2  # one PROPFIND per home


def test_cancel_by_citizen_removes_events(world, clock):
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    booking = book(world.rt)
    world.settle()
    world.rt.bookings.cancel(booking.id)
    world.settle()
    assert not [e for e in world.events("caseworkers", "mette") if e["ours"]]
    for room in ("L1", "L2", "L9"):
        assert not [e for e in world.events("rooms", room) if e["ours"]]
    clock.advance(minutes=1)
    assert booking.id not in [b for b in []]
    assert timedelta(0) == timedelta(0)


def test_unreadable_item_is_quarantined_and_the_rest_syncs(world):
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
    from syncd.store.tables import QuarantineRow

    with world.rt.db.read() as s:
        [q] = list(s.scalars(select(QuarantineRow)))
    assert q.href.endswith("odd.ics") and "THISANDFUTURE" in q.reason
    assert offers(world.rt, caseworker_id="mette")  # the good window still publishes
    # Fixing the item lifts the quarantine.
    world.put("caseworkers", "mette", "odd", ics("odd", "Teammøde", at(1, 9), at(1, 10)))
    world.settle()
    with world.rt.db.read() as s:
        assert list(s.scalars(select(QuarantineRow))) == []

"""A caseworker drags a booked conversation onto her own meeting: flagged whichever runs first,
read-back (which moves the booking) or publishing (which replaces her busy time)."""

from __future__ import annotations

from syncd.domain.model import Mode
from syncd.store import readback
from syncd.store.publishing import CONFLICT_BUSY
from syncd.store.tables import BookingRow
from tests.store.helpers import publish
from tests.support.jobcentre import at
from tests.web.helpers import book

WINDOW = [(at(0, 9), at(0, 12))]
MEETING = [(at(0, 13), at(0, 14))]


def _move(rt, booking_id: str) -> None:
    with rt.db.write() as s:
        row = s.get(BookingRow, booking_id)
        readback.caseworker_moved(s, rt.index, row, at(0, 13), at(0, 13, 30), rt.clock(), rt.zone)


def test_read_back_after_publishing_checks_her_own_meetings(rt):
    publish(rt, "mette", WINDOW, MEETING)
    talk = book(rt, "mette", at(0, 9), mode=Mode.PHONE)
    _move(rt, talk.id)
    assert rt.bookings.get(talk.id).conflict == CONFLICT_BUSY


def test_publishing_after_read_back_flags_the_move(rt):
    publish(rt, "mette", WINDOW)
    talk = book(rt, "mette", at(0, 9), mode=Mode.PHONE)
    _move(rt, talk.id)
    assert rt.bookings.get(talk.id).conflict is None  # her meeting is not known yet
    publish(rt, "mette", WINDOW, MEETING)
    assert rt.bookings.get(talk.id).conflict == CONFLICT_BUSY

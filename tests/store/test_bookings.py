"""The booking operations against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from syncd.domain.model import CancelledBy, Mode
from syncd.store.bookings import offer_id
from syncd.store.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from syncd.store.offers import OfferQuery, find_offers
from syncd.store.tables import Base, OutboxRow, RoomAllocationRow
from tests.store.helpers import publish
from tests.support.jobcentre import CPH, NOW, at


def offers(rt, **kw):
    q = OfferQuery(start=NOW, end=NOW + timedelta(days=30), **kw)
    with rt.db.read() as s:
        return find_offers(s, rt.index, q, rt.clock(), rt.zone)


def local_times(found, mode=Mode.PHONE):
    return [o.start.astimezone(CPH).strftime("%H:%M") for o in found if o.mode is mode]


def test_window_becomes_offers_with_buffers(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    found = offers(rt, type_code="jobsamtale", caseworker_id="mette")
    assert local_times(found) == ["09:00", "09:40", "10:20", "11:00"]
    assert local_times(found, Mode.IN_PERSON) == ["09:00", "09:40", "10:20", "11:00"]


def test_busy_time_removes_overlapping_offers(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))], busy=[(at(0, 10), at(0, 10, 30))])
    found = offers(rt, type_code="jobsamtale", caseworker_id="mette")
    assert local_times(found) == ["09:00", "10:30", "11:10"]


def test_reserve_confirm_allocates_smallest_room_and_writes_outbox(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    slot = offers(rt, type_code="jobsamtale", modes=(Mode.IN_PERSON,))[1]
    hold = rt.bookings.reserve(slot.offer_id, "citizen-42")
    assert hold.status == "held" and hold.room_id in ("L1", "L2")
    assert hold.hold_expires_at == NOW + timedelta(minutes=10)
    booking = rt.bookings.confirm(hold.id)
    assert booking.status == "confirmed" and booking.room_id == hold.room_id
    assert booking.reference.startswith("SB-")
    with rt.db.read() as s:
        assert [o.booking_id for o in s.scalars(select(OutboxRow))] == [booking.id]
    # Confirming again is harmless (a retried request).
    assert rt.bookings.confirm(hold.id).status == "confirmed"


def test_held_time_is_not_offered_and_cannot_be_taken_twice(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    first = offers(rt, type_code="jobsamtale", caseworker_id="mette")[0]
    rt.bookings.reserve(first.offer_id, "citizen-1")
    assert first.start not in [o.start for o in offers(rt, caseworker_id="mette")]
    with pytest.raises(ConflictError) as err:
        rt.bookings.reserve(offer_id(first.slot_id, Mode.PHONE), "citizen-2")
    assert err.value.code == "slot_taken"


def test_overlapping_slot_of_another_type_is_blocked(rt):
    publish(rt, "lars", [(at(0, 9), at(0, 12))])
    job = [
        o for o in offers(rt, caseworker_id="lars", type_code="jobsamtale") if o.mode is Mode.VIDEO
    ]
    rt.bookings.confirm(rt.bookings.reserve(job[0].offer_id, "c1").id)  # 09:00-09:40
    joint = offers(rt, caseworker_id="lars", type_code="faellessamtale")
    assert all(o.start >= at(0, 9, 40) for o in joint)


def test_expired_hold_gives_409_and_frees_the_time(rt, clock):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    first = offers(rt, type_code="jobsamtale", modes=(Mode.IN_PERSON,))[0]
    hold = rt.bookings.reserve(first.offer_id, "citizen-1")
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(ConflictError) as err:
        rt.bookings.confirm(hold.id)
    assert err.value.code == "hold_expired"
    again = rt.bookings.reserve(first.offer_id, "citizen-2")
    assert again.room_id is not None


def test_cancel_frees_time_and_room_at_once(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    first = offers(rt, type_code="jobsamtale", modes=(Mode.IN_PERSON,))[0]
    booking = rt.bookings.confirm(rt.bookings.reserve(first.offer_id, "c1").id)
    cancelled = rt.bookings.cancel(booking.id, by=CancelledBy.CITIZEN)
    assert cancelled.status == "cancelled" and cancelled.room_id is None
    assert cancelled.cancelled_by == "citizen"
    assert first.offer_id in [o.offer_id for o in offers(rt, type_code="jobsamtale")]
    with rt.db.read() as s:
        assert not s.scalars(select(RoomAllocationRow).where(RoomAllocationRow.active)).all()


def test_rebook_moves_atomically_and_releases_old_room(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    first, *_, last = offers(rt, type_code="jobsamtale", modes=(Mode.IN_PERSON,))
    booking = rt.bookings.confirm(rt.bookings.reserve(first.offer_id, "c1").id)
    moved = rt.bookings.rebook(booking.id, last.offer_id)
    assert moved.id == booking.id and moved.start == last.start and moved.room_id
    with rt.db.read() as s:
        active = s.scalars(select(RoomAllocationRow).where(RoomAllocationRow.active)).all()
        assert [(a.booking_id, a.start) for a in active] == [(booking.id, last.start)]
    assert first.offer_id in [o.offer_id for o in offers(rt, type_code="jobsamtale")]


def test_rebook_to_a_taken_time_changes_nothing(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    a, b, *_ = offers(rt, type_code="jobsamtale", modes=(Mode.PHONE,))
    first = rt.bookings.confirm(rt.bookings.reserve(a.offer_id, "c1").id)
    rt.bookings.confirm(rt.bookings.reserve(b.offer_id, "c2").id)
    with pytest.raises(ConflictError):
        rt.bookings.rebook(first.id, b.offer_id)
    assert rt.bookings.get(first.id).start == a.start


def test_in_person_offers_only_while_a_room_is_free(rt):
    for cw in ("mette", "lars", "pia"):
        publish(rt, cw, [(at(0, 9), at(0, 10))], types=("jobsamtale",))
    # Two rooms of capacity 2 plus one big room: three in-person conversations fit at 09:00.
    for cw in ("lars", "pia"):
        o = offers(rt, caseworker_id=cw, modes=(Mode.IN_PERSON,))[0]
        rt.bookings.confirm(rt.bookings.reserve(o.offer_id, f"c-{cw}").id)
    assert local_times(offers(rt, caseworker_id="mette"), Mode.IN_PERSON)[0] == "09:00"
    # Block the last room by a meeting someone put in its calendar: no in-person offer at 09:00.
    with rt.db.write() as s:
        s.execute(
            text(
                'INSERT INTO busy_times (owner_kind, owner_id, start, "end", source) '
                "VALUES ('room', 'L9', :a, :b, 'manual')"
            ),
            {"a": _db_time(rt, at(0, 8)), "b": _db_time(rt, at(0, 12))},
        )
    assert "09:00" not in local_times(offers(rt, caseworker_id="mette"), Mode.IN_PERSON)
    assert "09:00" in local_times(offers(rt, caseworker_id="mette"), Mode.PHONE)


def _db_time(rt, moment):
    from datetime import UTC

    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None) if rt.db.is_sqlite else utc


def test_joint_conversation_needs_the_big_room(rt):
    publish(rt, "lars", [(at(0, 9), at(0, 12))])
    joint = offers(rt, caseworker_id="lars", type_code="faellessamtale", modes=(Mode.IN_PERSON,))[0]
    booking = rt.bookings.confirm(rt.bookings.reserve(joint.offer_id, "c1").id)
    assert booking.room_id == "L9"


def test_wheelchair_needs_an_accessible_room(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    o = offers(rt, caseworker_id="mette", modes=(Mode.IN_PERSON,), needs_wheelchair=True)[0]
    hold = rt.bookings.reserve(o.offer_id, "c1", needs_wheelchair=True)
    assert hold.room_id == "L9"


def test_phone_and_video_get_no_room(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    o = offers(rt, caseworker_id="mette", modes=(Mode.VIDEO,))[0]
    assert rt.bookings.confirm(rt.bookings.reserve(o.offer_id, "c1").id).room_id is None


def test_weekly_cap(rt):
    publish(rt, "mette", [(at(d, 8), at(d, 15)) for d in range(4)], types=("jobsamtale",))
    for o in [o for o in offers(rt, caseworker_id="mette", modes=(Mode.PHONE,))][:12]:
        rt.bookings.confirm(rt.bookings.reserve(o.offer_id, "c").id)
    assert offers(rt, caseworker_id="mette") == []
    rest = [o for o in offers(rt, caseworker_id="lars")]
    assert rest == []  # lars has no windows; sanity: the filter is per caseworker


def test_withdrawn_and_barred_citizens_are_refused(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    o = offers(rt, caseworker_id="mette", modes=(Mode.PHONE,))[0]
    rt.bookings.add_restriction("harasser", "mette", "chikane", "admin")
    rt.bookings.add_restriction("withdrawn", None, "misbrug", "admin")
    with pytest.raises(ForbiddenError) as e1:
        rt.bookings.reserve(o.offer_id, "harasser")
    with pytest.raises(ForbiddenError) as e2:
        rt.bookings.reserve(o.offer_id, "withdrawn")
    assert (e1.value.code, e2.value.code) == ("caseworker_barred", "citizen_withdrawn")
    assert rt.bookings.reserve(o.offer_id, "someone-else").status == "held"


@pytest.mark.parametrize("cpr", ["010190-1234", "0101901234", "3112991234", "1234567890"])
def test_cpr_number_is_refused_and_never_stored(rt, cpr):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    o = offers(rt, caseworker_id="mette", modes=(Mode.PHONE,))[0]
    with pytest.raises(InvalidError) as err:
        rt.bookings.reserve(o.offer_id, cpr)
    assert err.value.code == "cpr_not_allowed" and cpr not in err.value.message
    with rt.db.read() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                assert cpr not in repr(tuple(row))


def test_unknown_and_withdrawn_offers(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    o = offers(rt, caseworker_id="mette", modes=(Mode.PHONE,))[0]
    with pytest.raises(NotFoundError):
        rt.bookings.reserve("s-nope~phone", "c1")
    with pytest.raises(InvalidError):
        rt.bookings.reserve("garbage", "c1")
    publish(rt, "mette", [])  # the window is gone
    with pytest.raises(NotFoundError):
        rt.bookings.reserve(o.offer_id, "c1")


def test_removed_window_flags_booked_conversations_as_conflicts(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    o = offers(rt, caseworker_id="mette", modes=(Mode.PHONE,))[0]
    booking = rt.bookings.confirm(rt.bookings.reserve(o.offer_id, "c1").id)
    result = publish(rt, "mette", [])
    assert result.new_conflicts == [booking.id]
    kept = rt.bookings.get(booking.id)
    assert kept.status == "confirmed" and kept.conflict
    assert offers(rt, caseworker_id="mette") == []


def test_minimum_notice(rt, clock):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    clock.set(at(-1, 9, 30))  # Monday 09:30: Tuesday 09:00 is within 24 hours
    assert "09:00" not in local_times(offers(rt, caseworker_id="mette"))
    assert "09:40" in local_times(offers(rt, caseworker_id="mette"))


def test_in_person_offers_never_outnumber_the_rooms(rt):
    for cw in ("mette", "lars", "pia"):
        publish(rt, cw, [(at(0, 9), at(0, 10))], types=("jobsamtale",))
    with rt.db.write() as s:  # the big room is taken all morning: two rooms are left
        s.execute(
            text(
                'INSERT INTO busy_times (owner_kind, owner_id, start, "end", source) '
                "VALUES ('room', 'L9', :a, :b, 'manual')"
            ),
            {"a": _db_time(rt, at(0, 8)), "b": _db_time(rt, at(0, 12))},
        )
    found = offers(rt, type_code="jobsamtale")
    nine = {o.caseworker_id for o in found if o.mode is Mode.IN_PERSON and o.start == at(0, 9)}
    assert len(nine) == 2  # three caseworkers, two rooms
    assert {o.caseworker_id for o in found if o.mode is Mode.PHONE and o.start == at(0, 9)} == {
        "mette",
        "lars",
        "pia",
    }
    # Whoever gets an in-person offer can book it: the room is there.
    for o in [o for o in found if o.mode is Mode.IN_PERSON and o.start == at(0, 9)]:
        assert rt.bookings.confirm(
            rt.bookings.reserve(o.offer_id, f"c-{o.caseworker_id}").id
        ).room_id

"""Coordinator operations on a real store (SQLite and PostgreSQL): pin, move, unpin, find a room,
block and release a room, retry a calendar write; each audited, calendars told via the outbox."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from syncd.domain.model import CancelledBy, Mode
from syncd.store.coordination import CONFLICT_BLOCKED, CONFLICT_DISPLACED
from syncd.store.errors import ConflictError, InvalidError, NotFoundError
from syncd.store.tables import AuditRow, BusyRow, OutboxRow, RoomAllocationRow, RoomBlockRow
from tests.store.helpers import publish
from tests.store.invariants import assert_no_double_booking
from tests.support.jobcentre import at
from tests.web.helpers import (
    audit_lines,
    book,
    coordination,
    events_for,
    open_tuesday,
    outbox_for,
    pinned,
    room_of,
)

COORD = "koordinator:anne"


def three_at_nine(rt):
    """Mette, Lars and Pia each have a conversation at 09:00 in person: every room is taken."""
    open_tuesday(rt)
    return [book(rt, cw, at(0, 9), citizen=f"c-{cw}") for cw in ("mette", "lars", "pia")]


def check_rooms(rt):
    """No room twice, no conversation in a room that does not suit it or that is blocked."""
    assert_no_double_booking(rt.db)
    with rt.db.read() as s:
        allocations = list(s.scalars(select(RoomAllocationRow).where(RoomAllocationRow.active)))
        blocks = list(s.scalars(select(RoomBlockRow).where(RoomBlockRow.active)))
    for a in allocations:
        assert not any(
            b.room_id == a.room_id and b.start < a.end and a.start < b.end for b in blocks
        ), f"{a.booking_id} sits in blocked room {a.room_id}"


def test_pin_in_place_marks_allocation_pinned_and_is_audited(rt):
    open_tuesday(rt, "mette")
    b = book(rt, "mette", at(0, 9))
    outbox_before = outbox_for(rt, b.id)
    change = coordination(rt).pin(b.id, actor=COORD, reason="fast lokale for borgeren")
    assert change.room_id == b.room_id and change.pinned
    assert pinned(rt, b.id) and room_of(rt, b.id) == b.room_id
    (line,) = audit_lines(rt, "room.pinned")
    assert (line.actor, line.booking_id, line.room_id) == (COORD, b.id, b.room_id)
    assert line.reason == "fast lokale for borgeren"
    assert outbox_for(rt, b.id) == outbox_before  # same room: no calendar changes
    # Pinning again changes nothing and writes nothing.
    coordination(rt).pin(b.id, actor=COORD)
    assert len(audit_lines(rt, "room.pinned")) == 1


def test_pin_into_an_occupied_room_moves_the_other_conversation(rt):
    mette, lars, pia = three_at_nine(rt)
    rooms = {b.id: b.room_id for b in (mette, lars, pia)}
    assert sorted(rooms.values()) == ["L1", "L2", "L9"]
    change = coordination(rt).pin(
        mette.id, lars.room_id, actor=COORD, reason="borger bruger rollator"
    )
    assert (change.previous_room, change.room_id) == (mette.room_id, lars.room_id)
    assert room_of(rt, mette.id) == lars.room_id and pinned(rt, mette.id)
    # Lars's conversation got the room Mette left.
    assert [(r.booking_id, r.room_id) for r in change.rehoused] == [(lars.id, mette.room_id)]
    assert room_of(rt, lars.id) == mette.room_id and not pinned(rt, lars.id)
    assert room_of(rt, pia.id) == pia.room_id
    # Both calendars follow; the front end hears of both; both changes are audited by Anne.
    assert outbox_for(rt, mette.id)[-1] == "room_changed_by_coordinator"
    assert outbox_for(rt, lars.id)[-1] == "room_changed_by_coordinator"
    assert events_for(rt, mette.id)[-1] == "booking.room_changed"
    assert events_for(rt, lars.id)[-1] == "booking.room_changed"
    (pin_line,) = audit_lines(rt, "room.pinned")
    assert pin_line.details["displaced"] == [lars.id]
    (moved,) = audit_lines(rt, "room.reallocated")
    assert (moved.actor, moved.booking_id, moved.room_id) == (COORD, lars.id, mette.room_id)
    assert moved.details["previous_room"] == lars.room_id
    check_rooms(rt)


def test_pin_that_leaves_no_room_for_the_displaced_makes_a_conflict(rt):
    open_tuesday(rt)
    mette = book(rt, "mette", at(0, 9))
    lars = book(rt, "lars", at(0, 9))
    joint = book(rt, "pia", at(0, 9), type_code="faellessamtale")  # needs 3 seats: only L9
    assert joint.room_id == "L9"
    change = coordination(rt).pin(mette.id, "L9", actor=COORD, reason="skal bruge stort lokale")
    assert [(r.booking_id, r.room_id) for r in change.conflicts] == [(joint.id, None)]
    assert room_of(rt, joint.id) is None
    assert rt.bookings.get(joint.id).conflict == CONFLICT_DISPLACED
    assert events_for(rt, joint.id)[-1] == "booking.room_lost"
    assert outbox_for(rt, joint.id)[-1] == "room_lost"  # the room's reservation goes
    assert room_of(rt, lars.id) == lars.room_id
    check_rooms(rt)


def test_pin_is_refused_by_another_pin_and_changes_nothing(rt):
    mette, lars, _ = three_at_nine(rt)
    coord = coordination(rt)
    coord.pin(lars.id, actor=COORD)
    audits = len(audit_lines(rt))
    with pytest.raises(ConflictError) as err:
        coord.pin(mette.id, lars.room_id, actor=COORD)
    assert err.value.code == "room_pinned" and lars.reference in err.value.message
    assert room_of(rt, mette.id) == mette.room_id and room_of(rt, lars.id) == lars.room_id
    assert len(audit_lines(rt)) == audits


def test_pin_and_move_refuse_an_unsuitable_room(rt):
    open_tuesday(rt, "pia")
    joint = book(rt, "pia", at(0, 9), type_code="faellessamtale")
    coord = coordination(rt)
    for op in (coord.pin, coord.move):
        with pytest.raises(InvalidError) as err:
            op(joint.id, "L1", actor=COORD)
        assert err.value.code == "room_unsuitable"
        assert "3" in err.value.message and "pladser" in err.value.message
    assert room_of(rt, joint.id) == "L9"
    with pytest.raises(NotFoundError):
        coord.move(joint.id, "L77", actor=COORD)


def test_move_to_a_free_room_keeps_the_pin_and_tells_the_calendars(rt):
    open_tuesday(rt, "mette")
    b = book(rt, "mette", at(0, 9))
    coord = coordination(rt)
    coord.pin(b.id, actor=COORD)
    target = "L2" if b.room_id == "L1" else "L1"
    change = coord.move(b.id, target, actor=COORD, reason="vinduesløst lokale")
    assert (change.previous_room, change.room_id, change.pinned) == (b.room_id, target, True)
    assert room_of(rt, b.id) == target and pinned(rt, b.id)
    assert outbox_for(rt, b.id)[-1] == "room_changed_by_coordinator"
    (line,) = audit_lines(rt, "room.assigned")
    assert (line.actor, line.room_id, line.reason) == (COORD, target, "vinduesløst lokale")
    assert line.details["previous_room"] == b.room_id
    with pytest.raises(InvalidError) as err:
        coord.move(b.id, target, actor=COORD)
    assert err.value.code == "same_room"
    check_rooms(rt)


def test_move_refuses_a_taken_busy_or_blocked_room(rt):
    mette, lars, _ = three_at_nine(rt)
    coord = coordination(rt)
    with pytest.raises(ConflictError) as err:
        coord.move(mette.id, lars.room_id, actor=COORD)
    assert err.value.code == "room_taken" and lars.reference in err.value.message
    rt.bookings.cancel(lars.id, by=CancelledBy.CITIZEN)  # lars's room is free again
    with rt.db.write() as s:
        s.add(BusyRow(owner_kind="room", owner_id=lars.room_id, start=at(0, 9, 30),
                      end=at(0, 10), source="outlook"))  # fmt: skip
    with pytest.raises(ConflictError) as err:
        coord.move(mette.id, lars.room_id, actor=COORD)
    assert err.value.code == "room_busy"
    with rt.db.write() as s:
        s.execute(BusyRow.__table__.delete())
    coord.block_room(lars.room_id, at(0, 8), at(0, 12), actor=COORD, reason="maling")
    with pytest.raises(ConflictError) as err:
        coord.move(mette.id, lars.room_id, actor=COORD)
    assert err.value.code == "room_blocked"
    assert room_of(rt, mette.id) == mette.room_id


def test_unpin_is_audited(rt):
    open_tuesday(rt, "mette")
    b = book(rt, "mette", at(0, 9))
    coord = coordination(rt)
    coord.pin(b.id, actor=COORD)
    coord.unpin(b.id, actor="koordinator:bo", reason="ikke nødvendigt")
    assert not pinned(rt, b.id) and room_of(rt, b.id) == b.room_id
    (line,) = audit_lines(rt, "room.unpinned")
    assert (line.actor, line.reason) == ("koordinator:bo", "ikke nødvendigt")


def test_block_moves_conversations_to_other_rooms(rt):
    open_tuesday(rt, "mette", "lars")
    mette = book(rt, "mette", at(0, 9))
    book(rt, "lars", at(0, 9, 40))
    blocked = mette.room_id
    change = coordination(rt).block_room(
        blocked, at(0, 8), at(0, 16), actor=COORD, reason="vedligeholdelse"
    )
    assert not change.conflicts
    moved = {r.booking_id: r.room_id for r in change.rehoused}
    assert mette.id in moved and moved[mette.id] != blocked
    assert room_of(rt, mette.id) == moved[mette.id]
    assert outbox_for(rt, mette.id)[-1] == "room_changed_by_coordinator"
    (line,) = audit_lines(rt, "room.blocked")
    assert (line.actor, line.room_id, line.reason) == (COORD, blocked, "vedligeholdelse")
    assert line.details["moved"][mette.id] == moved[mette.id]
    assert line.details["block_id"] == change.block_id
    realloc = audit_lines(rt, "room.reallocated")
    assert {r.booking_id for r in realloc} == set(moved) and {r.actor for r in realloc} == {COORD}
    with rt.db.read() as s:
        row = s.get(RoomBlockRow, change.block_id)
        assert (row.room_id, row.created_by, row.active) == (blocked, COORD, True)
    check_rooms(rt)


def test_block_without_a_free_room_gives_a_conflict_and_releasing_solves_it(rt):
    mette, lars, pia = three_at_nine(rt)
    victim = next(b for b in (mette, lars, pia) if b.room_id == "L9")
    coord = coordination(rt)
    change = coord.block_room("L9", at(0, 8), at(0, 12), actor=COORD, reason="kursus")
    assert [r.booking_id for r in change.conflicts] == [victim.id]
    assert room_of(rt, victim.id) is None
    assert rt.bookings.get(victim.id).conflict == CONFLICT_BLOCKED
    assert events_for(rt, victim.id)[-1] == "booking.room_lost"
    assert outbox_for(rt, victim.id)[-1] == "room_lost"
    check_rooms(rt)

    released = coord.release_block(change.block_id, actor=COORD, reason="kurset er aflyst")
    assert [(r.booking_id, r.room_id) for r in released.rehoused] == [(victim.id, "L9")]
    assert room_of(rt, victim.id) == "L9"
    assert rt.bookings.get(victim.id).conflict is None
    assert events_for(rt, victim.id)[-1] == "booking.room_changed"
    (line,) = audit_lines(rt, "room.unblocked")
    assert (line.actor, line.reason, line.details["rooms_found"]) == (
        COORD, "kurset er aflyst", {victim.id: "L9"},
    )  # fmt: skip
    with rt.db.read() as s:
        assert not s.get(RoomBlockRow, change.block_id).active
    # Releasing twice is harmless and writes nothing.
    coord.release_block(change.block_id, actor=COORD)
    assert len(audit_lines(rt, "room.unblocked")) == 1
    check_rooms(rt)


def test_find_room_for_a_conflict_once_a_room_is_free(rt):
    mette, lars, pia = three_at_nine(rt)
    victim = next(b for b in (mette, lars, pia) if b.room_id == "L9")
    other = next(b for b in (mette, lars, pia) if b.room_id == "L1")
    coord = coordination(rt)
    coord.block_room("L9", at(0, 8), at(0, 12), actor=COORD, reason="kursus")
    with pytest.raises(ConflictError) as err:
        coord.find_room(victim.id, actor=COORD)
    assert err.value.code == "no_room"
    # The cancellation hands the freed room to the waiting conversation by itself.
    rt.bookings.cancel(other.id, by=CancelledBy.CITIZEN)
    assert room_of(rt, victim.id) == "L1"
    assert rt.bookings.get(victim.id).conflict is None
    assert audit_lines(rt, "room.reallocated")[-1].actor == "syncd"
    with pytest.raises(InvalidError):
        coord.find_room(victim.id, actor=COORD)


def test_a_freed_room_goes_to_the_roomless_conversation(rt):
    mette, lars, pia = three_at_nine(rt)
    victim = next(b for b in (mette, lars, pia) if b.room_id == "L9")
    coord = coordination(rt)
    coord.block_room("L9", at(0, 8, 0), at(0, 9, 20), actor=COORD, reason="rengøring")
    assert room_of(rt, victim.id) is None
    with pytest.raises(ConflictError):
        coord.move(victim.id, "L9", actor=COORD)  # still blocked until 09:20
    other = next(b for b in (mette, lars, pia) if b.room_id == "L2")
    rt.bookings.cancel(other.id, by=CancelledBy.CASEWORKER)
    # The freed room went to the waiting conversation by itself; L9 is still blocked.
    assert room_of(rt, victim.id) == "L2"
    with pytest.raises(ConflictError):
        coord.move(victim.id, "L9", actor=COORD)
    assert rt.bookings.get(victim.id).conflict is None
    check_rooms(rt)


def test_block_validation_and_privacy(rt):
    coord = coordination(rt)
    cases = [
        (("L1", at(0, 10), at(0, 9)), "vedligeholdelse", "invalid_period"),
        (("L1", at(0, 9), at(0, 10)), "  ", "reason_required"),
        (("L1", at(0, 9), at(0, 10)), "borger 010190-1234 klagede", "cpr_not_allowed"),
        (("L1", at(-30, 9), at(-30, 10)), "fortid", "invalid_period"),
    ]
    for (room, start, end), reason, code in cases:
        with pytest.raises(InvalidError) as err:
            coord.block_room(room, start, end, actor=COORD, reason=reason)
        assert err.value.code == code
    with pytest.raises(NotFoundError):
        coord.block_room("L77", at(0, 9), at(0, 10), actor=COORD, reason="x")
    with rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(RoomBlockRow)) == 0
        assert s.scalar(select(func.count()).select_from(AuditRow)) == 0


def test_only_confirmed_in_person_conversations(rt):
    open_tuesday(rt, "mette")
    phone = book(rt, "mette", at(0, 9), mode=Mode.PHONE)
    coord = coordination(rt)
    with pytest.raises(InvalidError) as err:
        coord.pin(phone.id, "L1", actor=COORD)
    assert err.value.code == "no_room_needed"
    rt.bookings.cancel(phone.id)
    with pytest.raises(ConflictError) as err:
        coord.move(phone.id, "L1", actor=COORD)
    assert err.value.code == "not_confirmed"
    with pytest.raises(NotFoundError):
        coord.unpin("b-nope", actor=COORD)


def test_retry_outbox_makes_a_failed_write_due_now(rt, clock):
    open_tuesday(rt, "mette")
    b = book(rt, "mette", at(0, 9))
    with rt.db.write() as s:
        entry = s.scalar(select(OutboxRow).where(OutboxRow.booking_id == b.id))
        entry.attempts = 4
        entry.last_error = "ConnectorError: 503 Service Unavailable"
        entry.next_attempt_at = clock() + timedelta(hours=1)
        entry_id = entry.id
    clock.advance(minutes=5)
    woken = []
    coord = coordination(rt)
    coord.on_change = lambda: woken.append(True)
    assert coord.retry_outbox(entry_id, actor=COORD) == b.id
    assert woken == [True]
    with rt.db.write() as s:
        entry = s.get(OutboxRow, entry_id)
        assert entry.next_attempt_at == clock() and entry.lease_owner is None
        assert entry.last_error  # visible until a write succeeds
        entry.done_at = clock()
    (line,) = audit_lines(rt, "outbox.retried")
    assert (line.actor, line.booking_id, line.details["attempts"]) == (COORD, b.id, 4)
    with pytest.raises(InvalidError) as err:
        coord.retry_outbox(entry_id, actor=COORD)
    assert err.value.code == "outbox_done"
    with pytest.raises(NotFoundError):
        coord.retry_outbox(999_999, actor=COORD)


def test_a_sequence_of_operations_keeps_every_invariant(rt):
    """Pins, blocks and releases across two days never double-book a room, never put a
    conversation in a blocked room, and every change is in the audit log."""
    for cw in ("mette", "lars", "pia"):
        publish(rt, cw, [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    talks = [
        book(rt, cw, at(day, hh, mm), citizen=f"c-{cw}-{day}-{hh}")
        for day in (0, 1)
        for cw in ("mette", "lars", "pia")
        for hh, mm in ((9, 0), (9, 40), (10, 20))
    ]
    coord = coordination(rt)
    coord.block_room("L1", at(0, 9), at(1, 10), actor=COORD, reason="vandskade")
    check_rooms(rt)
    for t in talks[::4]:
        with contextlib.suppress(ConflictError, InvalidError):
            coord.pin(t.id, "L2", actor=COORD)
        check_rooms(rt)
    with rt.db.read() as s:
        block_id = s.scalar(select(RoomBlockRow.id))
    coord.release_block(block_id, actor=COORD)
    check_rooms(rt)
    with rt.db.read() as s:
        allocated = s.scalar(
            select(func.count()).select_from(RoomAllocationRow).where(RoomAllocationRow.active)
        )
    assert allocated == len(talks)  # after the release every conversation has a room again
    assert {a.actor for a in audit_lines(rt) if a.action.startswith("room.")} <= {COORD, "test"}

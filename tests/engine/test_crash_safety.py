"""Killed at a named place, the daemon restarts and converges: ownership decides, not records
(invariant 8), the read-back never takes our own missing item for a caseworker's deletion while
a write is pending, and a dead process's calendar writes are taken over at once on SQLite.

Real Radicale; each "process" is a fresh runtime and engine with its own owner id, and a crash
is raised at a named crash point (``syncd.engine.crashpoints``), never timed with sleeps.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from syncd.engine.crashpoints import Crash
from syncd.store.tables import OutboxRow
from tests.engine.test_flow import book, window
from tests.engine.world import open_world
from tests.store.test_bookings import offers
from tests.support.crashes import crash_at


@pytest.fixture
def world(tmp_path, clock, radicale):
    with open_world("caldav", tmp_path, clock, radicale, owner="process-1") as w:
        yield w


def undone(world) -> list[OutboxRow]:
    with world.rt.db.read() as s:
        rows = list(s.scalars(select(OutboxRow).where(OutboxRow.done_at.is_(None))))
        for r in rows:
            s.expunge(r)
        return rows


def test_an_event_written_but_never_recorded_is_removed_when_its_booking_is_cancelled(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    with crash_at("outbox.after_write"), pytest.raises(Crash):
        world.write()  # the caseworker's event is in her calendar; our record of it is not
    assert len(world.ours("mette")) == 1
    world.restart(owner="process-2")
    world.rt.bookings.cancel(booking.id)
    world.settle()
    assert world.ours("mette") == [] and world.ours(booking.room_id) == []
    assert undone(world) == []


def test_a_lost_record_of_a_live_booking_is_found_and_kept(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    with crash_at("outbox.after_write"), pytest.raises(Crash):
        world.write()
    world.restart(owner="process-2")
    world.settle()
    assert [e.start for e in world.ours("mette")] == [booking.start]
    assert [e.start for e in world.ours(booking.room_id)] == [booking.start]
    assert world.rt.bookings.get(booking.id).status == "confirmed"


def test_our_own_deletion_in_flight_is_not_read_as_the_caseworkers(world):
    """Rebooked to another caseworker: the old event is deleted, the process dies before
    recording it, its lease still runs. The new process syncs first: the booking stays."""
    for name in ("mette", "lars"):
        window(world, name)
    world.settle()
    booking = book(world.rt)
    world.settle()
    assert len(world.ours("mette")) == 1
    target = offers(world.rt, caseworker_id="lars")[0]
    world.rt.bookings.rebook(booking.id, target.offer_id)
    with crash_at("outbox.after_write"), pytest.raises(Crash):
        world.write()  # deletions come first: mette's event is gone, not recorded
    assert world.ours("mette") == []
    world.restart(owner="process-2")
    world.engine.cycle()  # the read-back runs before the outbox
    after = world.rt.bookings.get(booking.id)
    assert after.status == "confirmed" and after.cancelled_by is None
    world.settle()
    assert world.ours("mette") == [] and len(world.ours("lars")) == 1
    assert world.rt.bookings.get(booking.id).status == "confirmed"


def test_our_own_deletion_between_the_outbox_and_the_read_back_of_one_process(world):
    """The same window inside one process: the sync thread reads the calendar while the outbox
    thread has deleted the old event and not yet recorded it."""
    for name in ("mette", "lars"):
        window(world, name)
    world.settle()
    booking = book(world.rt)
    world.settle()
    world.rt.bookings.rebook(booking.id, offers(world.rt, caseworker_id="lars")[0].offer_id)
    outbox = world.engine.outbox
    claimed = outbox.claim()
    original = outbox._record_deleted

    def record_after_a_sync(event_id: int) -> None:
        world.engine.cycle()  # the sync thread runs right now
        assert world.rt.bookings.get(booking.id).status == "confirmed"
        original(event_id)

    outbox._record_deleted = record_after_a_sync  # type: ignore[method-assign]
    for booking_id, upto in claimed.items():
        outbox._attempt(booking_id, upto)
    outbox._record_deleted = original  # type: ignore[method-assign]
    world.settle()
    assert world.rt.bookings.get(booking.id).status == "confirmed"
    assert world.ours("mette") == [] and len(world.ours("lars")) == 1


def test_a_dead_processs_writes_are_taken_over_at_once_on_sqlite(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    with crash_at("outbox.before_write"), pytest.raises(Crash):
        world.write()
    [entry] = [e for e in undone(world) if e.booking_id == booking.id]
    assert entry.lease_owner == "process-1" and entry.lease_until > world.clock()
    world.restart(owner="process-2")
    world.write()  # no clock moved: the process lock proves process-1 is gone
    assert [e.start for e in world.ours("mette")] == [booking.start]
    assert undone(world) == []


def test_a_caseworkers_real_deletion_still_cancels(world):
    window(world)
    world.settle()
    booking = book(world.rt)
    world.settle()
    [event] = world.ours("mette")
    world.delete("mette", event.uid)
    world.settle()
    after = world.rt.bookings.get(booking.id)
    assert after.status == "cancelled" and after.cancelled_by == "caseworker"
    assert world.ours(booking.room_id) == []

"""PostgreSQL itself refuses double-booked rooms and caseworker time, whatever the code does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from syncd.store.tables import BookingRow, RoomAllocationRow
from tests.support import jobcentre
from tests.support.jobcentre import NOW, at

pytestmark = pytest.mark.postgres


def _booking(i: int, start, status="confirmed") -> BookingRow:
    return BookingRow(
        id=f"b-{i}", reference=f"SB-{i:08d}", citizen_ref=f"c{i}", slot_id=f"s{i}",
        caseworker_id="mette", type_code="jobsamtale", mode="in_person", status=status,
        start=start, end=start + timedelta(minutes=30), busy_start=start,
        busy_end=start + timedelta(minutes=40), exclusive=True, needs_wheelchair=False,
        self_booked=True, created_at=NOW, updated_at=NOW, version=1,
    )  # fmt: skip


@pytest.fixture
def pg_rt(pg_url, clock):
    from syncd.runtime import open_runtime

    runtime = open_runtime(jobcentre.config(pg_url), clock=clock)
    yield runtime
    runtime.db.dispose()


def test_exclusion_constraint_on_caseworker_time(pg_rt):
    with pg_rt.db.write() as s:
        s.add(_booking(1, at(0, 9)))
    with pytest.raises(IntegrityError, match="ex_bookings_caseworker_time"), pg_rt.db.write() as s:
        s.add(_booking(2, at(0, 9, 20)))
    with pg_rt.db.write() as s:  # a cancelled one does not count
        s.add(_booking(3, at(0, 9, 20), status="cancelled"))


def test_exclusion_constraint_on_room_time(pg_rt):
    with pg_rt.db.write() as s:
        s.add(_booking(1, at(0, 9)))
        s.add(_booking(2, at(1, 9)))
        s.flush()
        s.add(RoomAllocationRow(booking_id="b-1", room_id="L1", start=at(0, 9), end=at(0, 9, 40), active=True, pinned=False, created_at=NOW))  # fmt: skip
    with (
        pytest.raises(IntegrityError, match="ex_room_allocations_room_time"),
        pg_rt.db.write() as s,
    ):
        s.add(RoomAllocationRow(booking_id="b-2", room_id="L1", start=at(0, 9, 30), end=at(0, 10), active=True, pinned=False, created_at=NOW))  # fmt: skip
    with pg_rt.db.write() as s:  # touching is fine: half-open ranges
        s.add(RoomAllocationRow(booking_id="b-2", room_id="L1", start=at(0, 9, 40), end=at(0, 10), active=True, pinned=False, created_at=NOW))  # fmt: skip

"""Invariant checks straight on the tables: what the store must never contain. Used by the
tests, the benchmarks and ``syncd check``."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

from sqlalchemy import select

from syncd.domain.model import LIVE_STATUSES
from syncd.store.db import Database
from syncd.store.tables import BookingRow, RoomAllocationRow


def find_violations(db: Database) -> list[str]:
    """Every double booking, double-allocated room or lost room, as a sentence each."""
    with db.read() as s:
        live = list(s.scalars(select(BookingRow).where(BookingRow.status.in_(LIVE_STATUSES))))
        allocations = list(s.scalars(select(RoomAllocationRow).where(RoomAllocationRow.active)))
    problems: list[str] = []
    by_cw: dict[str, list[tuple]] = defaultdict(list)
    for b in live:
        if b.exclusive:
            by_cw[b.caseworker_id].append((b.busy_start, b.busy_end, b.id))
    for cw, spans in by_cw.items():
        for (_, e1, b1), (s2, _, b2) in pairwise(sorted(spans)):
            if s2 < e1:
                problems.append(f"caseworker {cw} double-booked: {b1} and {b2}")
    slots = [b.slot_id for b in live]
    if len(slots) != len(set(slots)):
        problems.append("a slot is booked twice")
    by_room: dict[str, list[tuple]] = defaultdict(list)
    for a in allocations:
        by_room[a.room_id].append((a.start, a.end, a.booking_id))
    for room, spans in by_room.items():
        for (_, e1, b1), (s2, _, b2) in pairwise(sorted(spans)):
            if s2 < e1:
                problems.append(f"room {room} double-allocated: {b1} and {b2}")
    per_booking: dict[str, int] = defaultdict(int)
    for a in allocations:
        per_booking[a.booking_id] += 1
    problems += [f"booking {b} holds {n} rooms" for b, n in per_booking.items() if n > 1]
    live_ids = {b.id for b in live}
    problems += [f"room held for dead booking {b}" for b in per_booking if b not in live_ids]
    return problems


def count_live(db: Database) -> int:
    with db.read() as s:
        return len(
            list(s.scalars(select(BookingRow.id).where(BookingRow.status.in_(LIVE_STATUSES))))
        )

"""Glue between the store and the pure room allocator: load who holds which room around a time,
ask the allocator for a plan, and apply it (allocations, outbox, audit) in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Integer,
    Select,
    String,
    bindparam,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from syncd.domain.holidays import is_closed
from syncd.rooms import allocator
from syncd.rooms.model import AllocationPlan, AllocationRequest, Occupation, Preferences, RoomSpec
from syncd.store import hotpath
from syncd.store.directory import DirectoryIndex
from syncd.store.errors import ConflictError
from syncd.store.journal import audit, emit, enqueue_calendar_sync
from syncd.store.tables import (
    BookingRow,
    BusyRow,
    RoomAllocationRow,
    RoomBlockRow,
    RoomRow,
    UTCDateTime,
)

WHEELCHAIR = "wheelchair"


class BookingTimes(Protocol):
    """What allocation needs of a booking: an ORM row, or a plain row from a Core query."""

    @property
    def id(self) -> str: ...
    @property
    def caseworker_id(self) -> str: ...
    @property
    def type_code(self) -> str: ...
    @property
    def needs_wheelchair(self) -> bool: ...
    @property
    def start(self) -> datetime: ...
    @property
    def busy_start(self) -> datetime: ...
    @property
    def busy_end(self) -> datetime: ...


@dataclass(frozen=True)
class RoomContext:
    rooms: list[RoomSpec]
    existing: list[AllocationRequest]
    occupied: list[Occupation]
    allocation_ids: dict[str, int]  # booking id -> its active allocation row


def room_specs(index: DirectoryIndex, site_ids: Iterable[str]) -> list[RoomSpec]:
    out: list[RoomSpec] = []
    for site_id in sorted(set(site_ids)):
        out += index.room_specs_by_site.get(site_id, ())
    return out


def freeze_until(now: datetime, zone: ZoneInfo, working_days: int = 1) -> datetime:
    """Allocations before this moment are not moved by re-packing: today and the next working
    day are frozen, so nobody finds their room changed at short notice."""
    day = now.astimezone(zone).date()
    remaining = working_days
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and not is_closed(day):
            remaining -= 1
    return datetime.combine(day + timedelta(days=1), time(0), zone)


def request_for(
    index: DirectoryIndex,
    booking: BookingTimes,
    *,
    current_room: str | None,
    pinned: bool,
    frozen_before: datetime,
) -> AllocationRequest:
    ctype = index.types[booking.type_code]
    cw = index.caseworkers[booking.caseworker_id]
    features = set(ctype.required_features)
    if booking.needs_wheelchair:
        features.add(WHEELCHAIR)
    return AllocationRequest(
        booking_id=booking.id,
        caseworker_id=booking.caseworker_id,
        start=booking.busy_start,
        end=booking.busy_end,
        sites=cw.sites,
        min_capacity=ctype.min_room_capacity,
        features=frozenset(features),
        team=cw.team,
        current_room=current_room,
        pinned=pinned,
        movable=booking.start >= frozen_before,
    )


def load_context(
    session: Session,
    index: DirectoryIndex,
    site_ids: Iterable[str],
    start: datetime,
    end: datetime,
    now: datetime,
    zone: ZoneInfo,
    *,
    exclude_booking: str | None = None,
) -> RoomContext:
    """Everything that holds a room at these sites on the local day(s) around [start, end):
    allocations, foreign meetings and blocks, read in one statement (this runs inside every
    in-person booking)."""
    rooms = room_specs(index, site_ids)
    day_start = datetime.combine(start.astimezone(zone).date(), time(0), zone)
    day_end = datetime.combine(end.astimezone(zone).date() + timedelta(days=1), time(0), zone)
    frozen_before = freeze_until(now, zone)
    existing = []
    allocation_ids = {}
    occupied = []
    params = {"site_ids": sorted(set(site_ids)), "day_start": day_start, "day_end": day_end}
    for row in session.connection().execute(CONTEXT, params):
        if row.kind != "alloc":
            occupied.append(Occupation(row.room_id, row.taken_start, row.taken_end, row.kind))
            continue
        if row.id == exclude_booking:
            continue
        existing.append(
            request_for(
                index,
                row,  # type: ignore[arg-type]  (a Row with the booking's columns)
                current_room=row.room_id,
                pinned=row.pinned,
                frozen_before=frozen_before,
            )
        )
        allocation_ids[row.id] = row.alloc_id
    return RoomContext(rooms, existing, occupied, allocation_ids)


def _context_query() -> Select[Any]:
    ra, b = RoomAllocationRow, BookingRow
    # the sites' rooms (an allocation in a room the directory no longer has is ignored later)
    room_ids = select(RoomRow.id).where(RoomRow.site_id.in_(bindparam("site_ids", expanding=True)))
    day_start, day_end = bindparam("day_start"), bindparam("day_end")
    no_text, no_time = null().cast(String), null().cast(UTCDateTime())
    allocations = (
        select(
            literal("alloc").label("kind"),
            ra.room_id.label("room_id"),
            ra.start.label("taken_start"),
            ra.end.label("taken_end"),
            ra.id.label("alloc_id"),
            ra.pinned.label("pinned"),
            b.id,
            b.caseworker_id,
            b.type_code,
            b.needs_wheelchair,
            b.start,
            b.busy_start,
            b.busy_end,
        )
        .join(b, b.id == ra.booking_id)
        .where(ra.active, ra.room_id.in_(room_ids), ra.start < day_end, ra.end > day_start)
    )
    nothing = (
        null().cast(Integer), null().cast(Boolean), no_text, no_text, no_text,
        null().cast(Boolean), no_time, no_time, no_time,
    )  # fmt: skip
    busy = select(literal("busy"), BusyRow.owner_id, BusyRow.start, BusyRow.end, *nothing).where(
        BusyRow.owner_kind == "room",
        BusyRow.owner_id.in_(room_ids),
        BusyRow.start < day_end,
        BusyRow.end > day_start,
    )
    blocks = select(
        literal("blocked"), RoomBlockRow.room_id, RoomBlockRow.start, RoomBlockRow.end, *nothing
    ).where(
        RoomBlockRow.active,
        RoomBlockRow.room_id.in_(room_ids),
        RoomBlockRow.start < day_end,
        RoomBlockRow.end > day_start,
    )
    return union_all(allocations, busy, blocks)  # type: ignore[return-value]


# Who holds which room (allocations, foreign meetings, blocks) in a time range.
CONTEXT = _context_query()


def plan_for_new(
    ctx: RoomContext, request: AllocationRequest, prefs: Preferences = Preferences()
) -> AllocationPlan:
    return allocator.allocate(request, ctx.existing, ctx.rooms, ctx.occupied, prefs)


def apply_plan(
    session: Session,
    plan: AllocationPlan,
    bookings: dict[str, BookingTimes],
    ctx: RoomContext,
    now: datetime,
    *,
    actor: str,
    reason: str,
) -> None:
    """Release moved allocations first, then insert the new ones, so the exclusion constraint
    sees a consistent picture even for chains of moves."""
    moved = {m.booking_id: m for m in plan.moves}
    if moved:
        for alloc in session.scalars(
            select(RoomAllocationRow).where(
                RoomAllocationRow.id.in_([ctx.allocation_ids[b] for b in moved])
            )
        ):
            alloc.active = False
            alloc.released_at = now
            alloc.reason = f"flyttet: {reason}"
        session.flush()
        others = {
            b.id: b
            for b in session.scalars(select(BookingRow).where(BookingRow.id.in_(list(moved))))
        }
        for booking_id, move in moved.items():
            booking = others[booking_id]
            if move.to_room is not None:
                insert_allocation(session, booking, move.to_room, now, reason)
            enqueue_calendar_sync(session, booking_id, "room_moved", now)
            emit(
                session,
                "booking.room_changed",
                booking_id,
                {"reference": booking.reference, "room": move.to_room},
                now,
            )
            audit(
                session,
                actor,
                "room.moved",
                now,
                booking_id=booking_id,
                room_id=move.to_room,
                reason=reason,
                from_room=move.from_room,
            )
    for booking_id, room_id in plan.assignments.items():
        if room_id is not None and booking_id not in moved:
            insert_allocation(session, bookings[booking_id], room_id, now, reason)
    session.flush()


def claim_room(
    session: Session, booking: BookingTimes, room_id: str, now: datetime, reason: str
) -> bool:
    """The booking takes a room nobody else moves for (the common case: a plan without moves),
    in one statement. False when a concurrent booking took the room first (PostgreSQL's
    exclusion constraint; without a savepoint, so the transaction stays usable)."""
    params = {
        "p_booking": booking.id,
        "p_room": room_id,
        "p_busy_start": booking.busy_start,
        "p_busy_end": booking.busy_end,
        "p_now": now,
        "p_reason": reason,
    }
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        conn.execute(hotpath.CLAIM_ROOM, params)
        return True
    return conn.execute(hotpath.CLAIM_ROOM_UNLESS_TAKEN, params).first() is not None


def insert_allocation(
    session: Session,
    booking: BookingTimes,
    room_id: str,
    now: datetime,
    reason: str,
    *,
    pinned: bool = False,
) -> None:
    """The booking holds this room for its time, buffers included."""
    session.add(
        RoomAllocationRow(
            booking_id=booking.id,
            room_id=room_id,
            start=booking.busy_start,
            end=booking.busy_end,
            active=True,
            pinned=pinned,
            created_at=now,
            reason=reason,
        )
    )


def release_room(session: Session, booking_id: str, now: datetime, reason: str) -> str | None:
    """Free the booking's room at once; returns the room it had."""
    room = None
    for alloc in session.scalars(
        select(RoomAllocationRow).where(
            RoomAllocationRow.booking_id == booking_id, RoomAllocationRow.active
        )
    ):
        alloc.active = False
        alloc.released_at = now
        alloc.reason = reason
        room = alloc.room_id
    return room


def active_room(session: Session, booking_id: str) -> str | None:
    return session.scalar(
        select(RoomAllocationRow.room_id).where(
            RoomAllocationRow.booking_id == booking_id, RoomAllocationRow.active
        )
    )


@dataclass(frozen=True)
class Seen:
    """Where the coordinator saw the conversation when they chose to move it: its start and
    room ("" for none). A move made from a stale page is refused instead of silently undoing
    what someone else just did (optimistic concurrency)."""

    start: datetime
    room_id: str


def check_seen(session: Session, booking: BookingTimes, reference: str, seen: Seen | None) -> None:
    if seen is None:
        return
    room = active_room(session, booking.id) or ""
    if booking.start != seen.start or room != seen.room_id:
        raise ConflictError(
            f"Samtale {reference} er blevet ændret i mellemtiden af en anden; "
            "opdater siden og prøv igen",
            code="changed_meanwhile",
        )

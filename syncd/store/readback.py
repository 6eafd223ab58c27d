"""Following what people do in calendars: a caseworker moves or deletes a booked conversation,
someone puts a meeting into an allocated room, a room declines. The store, the rooms and the
front end are brought in line; the calendars follow through the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncd.domain.model import LIVE_STATUSES, BookingStatus, CancelledBy, Mode
from syncd.domain.slots import widen
from syncd.rooms import allocator
from syncd.rooms.model import Occupation, Preferences
from syncd.store import rooms as room_ops
from syncd.store.directory import DirectoryIndex
from syncd.store.journal import audit, emit, enqueue_calendar_sync
from syncd.store.publishing import CONFLICT_BUSY
from syncd.store.tables import BookingRow, BusyRow, CalendarEventRow, OutboxRow, RoomAllocationRow

ACTOR = "kalender"
CONFLICT_NO_ROOM = "Intet ledigt mødelokale på det nye tidspunkt"
CONFLICT_ROOM_TAKEN = "Mødelokalet er optaget af en anden aftale, og intet andet lokale er ledigt"
CONFLICT_OVERLAP = "Samtalen overlapper en anden samtale hos sagsbehandleren"


def event_for(s: Session, calendar_id: str, external_id: str) -> CalendarEventRow | None:
    return s.scalar(
        select(CalendarEventRow).where(
            CalendarEventRow.calendar_id == calendar_id,
            CalendarEventRow.external_id == external_id,
        )
    )


def writes_pending(s: Session, booking_ids: Iterable[str]) -> set[str]:
    """The bookings among these with a calendar write not yet done: queued, in flight in this
    or another process, or done in the calendar but not yet recorded. While one is, the absence
    or the time of our own item says nothing about what a person did."""
    ids = list(set(booking_ids))
    if not ids:
        return set()
    return set(
        s.scalars(
            select(OutboxRow.booking_id)
            .where(OutboxRow.booking_id.in_(ids), OutboxRow.done_at.is_(None))
            .distinct()
        )
    )


def caseworker_deleted(s: Session, booking: BookingRow, now: datetime) -> bool:
    """She deleted the conversation in her calendar: the booking is cancelled by the
    caseworker, the room freed, and the front end told (the citizen must hear about it)."""
    if booking.status != BookingStatus.CONFIRMED.value:
        return False
    booking.status = BookingStatus.CANCELLED.value
    booking.cancelled_by = CancelledBy.CASEWORKER.value
    booking.updated_at = now
    booking.version += 1
    room = room_ops.release_room(s, booking.id, now, "aflyst af sagsbehandler i kalenderen")
    enqueue_calendar_sync(s, booking.id, "cancelled_in_calendar", now)  # removes the room's copy
    emit(
        s,
        "booking.cancelled",
        booking.id,
        {
            "reference": booking.reference,
            "by": CancelledBy.CASEWORKER.value,
            "status": booking.status,
        },
        now,
    )
    audit(s, ACTOR, "booking.cancelled", now, booking_id=booking.id, room_id=room, by="caseworker")
    return True


def caseworker_moved(
    s: Session,
    index: DirectoryIndex,
    booking: BookingRow,
    start: datetime,
    end: datetime,
    now: datetime,
    zone: ZoneInfo,
) -> None:
    """She dragged the conversation to another time: the booking follows, the room is checked
    again (kept if still free, else another suitable one, else a conflict)."""
    ctype = index.types[booking.type_code]
    old_start = booking.start
    booking.start, booking.end = start, end
    booking.busy_start, booking.busy_end = widen(start, end, ctype)
    booking.slot_id = f"moved:{booking.id}"  # no longer tied to a published slot
    booking.updated_at = now
    booking.version += 1
    overlap = s.scalar(
        select(BookingRow.id).where(
            BookingRow.caseworker_id == booking.caseworker_id,
            BookingRow.id != booking.id,
            BookingRow.status.in_(LIVE_STATUSES),
            BookingRow.exclusive,
            BookingRow.busy_start < booking.busy_end,
            BookingRow.busy_end > booking.busy_start,
        )
    )
    booking.exclusive = overlap is None
    # Her own meetings count as well as other bookings. Publishing replaces BusyRow before
    # read-back runs, and flags the same overlap when it runs after: either order catches it.
    s.flush()  # the store's sessions do not autoflush: publishing's rows must be visible
    own_meeting = s.scalar(
        select(BusyRow.id).where(
            BusyRow.owner_kind == "caseworker",
            BusyRow.owner_id == booking.caseworker_id,
            BusyRow.start < end,
            BusyRow.end > start,
        )
    )
    booking.conflict = CONFLICT_OVERLAP if overlap else CONFLICT_BUSY if own_meeting else None
    s.flush()
    room = None
    if Mode(booking.mode).needs_room:
        old_room = room_ops.release_room(s, booking.id, now, "flyttet af sagsbehandler")
        s.flush()
        room = _replace_room(s, index, booking, old_room, now, zone, reason="flyttet i kalenderen")
        if room is None:
            booking.conflict = CONFLICT_NO_ROOM
    enqueue_calendar_sync(s, booking.id, "moved_in_calendar", now)
    emit(
        s,
        "booking.moved",
        booking.id,
        {
            "reference": booking.reference,
            "by": "caseworker",
            "start": start.astimezone(zone).isoformat(),
            "end": end.astimezone(zone).isoformat(),
            "previous_start": old_start.astimezone(zone).isoformat(),
            "room": room,
            "conflict": booking.conflict,
        },
        now,
    )
    audit(
        s, ACTOR, "booking.moved", now, booking_id=booking.id, room_id=room,
        previous_start=old_start.astimezone(zone).isoformat(),
        start=start.astimezone(zone).isoformat(),
    )  # fmt: skip


def _replace_room(
    s: Session,
    index: DirectoryIndex,
    booking: BookingRow,
    old_room: str | None,
    now: datetime,
    zone: ZoneInfo,
    *,
    reason: str,
    refused: str | None = None,
) -> str | None:
    """A room for ``booking`` (kept in ``old_room`` if still free); ``refused`` is a room that
    declined this conversation and so is not offered to it again, whatever its calendar says."""
    cw = index.caseworkers[booking.caseworker_id]
    ctx = room_ops.load_context(
        s, index, cw.sites, booking.busy_start, booking.busy_end, now, zone,
        exclude_booking=booking.id,
    )  # fmt: skip
    occupied = list(ctx.occupied)
    if refused is not None:
        occupied.append(Occupation(refused, booking.busy_start, booking.busy_end, "declined"))
    frozen = room_ops.freeze_until(now, zone)
    request = room_ops.request_for(
        index, booking, current_room=old_room, pinned=False, frozen_before=frozen
    )
    plan = allocator.reallocate([request], ctx.existing, ctx.rooms, occupied, Preferences())
    room_ops.apply_plan(s, plan, {booking.id: booking}, ctx, now, actor=ACTOR, reason=reason)
    return plan.assignments.get(booking.id)


def rooms_taken(
    s: Session,
    index: DirectoryIndex,
    room_id: str,
    now: datetime,
    zone: ZoneInfo,
    *,
    reason: str = "lokalet er optaget af en anden aftale",
) -> list[str]:
    """Someone occupied the room over our allocations (busy time already stored): move each
    displaced conversation to another suitable room, or flag it as a conflict. Returns the ids
    of bookings left without a room."""
    from syncd.store.tables import BusyRow, RoomBlockRow

    occupied = [
        (b.start, b.end)
        for b in s.scalars(
            select(BusyRow).where(BusyRow.owner_kind == "room", BusyRow.owner_id == room_id)
        )
    ] + [
        (b.start, b.end)
        for b in s.scalars(
            select(RoomBlockRow).where(RoomBlockRow.room_id == room_id, RoomBlockRow.active)
        )
    ]
    if not occupied:
        return []
    displaced_rows = [
        (alloc, booking)
        for alloc, booking in s.execute(
            select(RoomAllocationRow, BookingRow)
            .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
            .where(
                RoomAllocationRow.room_id == room_id,
                RoomAllocationRow.active,
                RoomAllocationRow.end > now,
            )
        ).all()
        if any(a < alloc.end and alloc.start < b for a, b in occupied)
    ]
    return displace(s, index, [b for _, b in displaced_rows], now, zone, reason=reason)


def room_declined(
    s: Session, index: DirectoryIndex, booking: BookingRow, responses: Mapping[str, str]
) -> str | None:
    """The booking's room, if that room declined the invitation on our event (Exchange: the
    room mailbox answers as a resource attendee). Answers of rooms it no longer holds are old
    news: the booking has already moved on."""
    if not Mode(booking.mode).needs_room:
        return None
    room_id = room_ops.active_room(s, booking.id)
    room = index.rooms.get(room_id) if room_id else None
    if room is None:
        return None
    answers = {email.lower(): status.upper() for email, status in responses.items()}
    addresses = {a.lower() for a in (room.email, room.calendar_id) if a}
    return room.id if any(answers.get(a) == "DECLINED" for a in addresses) else None


EXCHANGE_BOOKING_WINDOW_DAYS = 180  # Set-CalendarProcessing -BookingWindowInDays default


def decline_reason(
    start: datetime, now: datetime, booking_window_days: int | None, room_name: str
) -> str:
    """Why a room mailbox declined (Danish, for the coordinator). Exchange tells only the
    organizer's inbox; what syncd can tell is whether the conversation lies beyond the room's
    booking window (configured, or Exchange's default of 180 days), else that it was refused,
    which its Resource Booking Assistant does for a conflict or by its policy."""
    days = EXCHANGE_BOOKING_WINDOW_DAYS if booking_window_days is None else booking_window_days
    if start > now + timedelta(days=days):
        return (
            f"{room_name} afslog: samtalen ligger mere end {days} dage frem, uden for lokalets "
            "bookingvindue (BookingWindowInDays)"
        )
    return f"{room_name} afslog invitationen (optaget, eller lokalets regler tillader det ikke)"


def displace(
    s: Session,
    index: DirectoryIndex,
    bookings: Iterable[BookingRow],
    now: datetime,
    zone: ZoneInfo,
    *,
    reason: str,
    refused: Mapping[str, str] | None = None,
) -> list[str]:
    """Release the rooms of these bookings and find them new ones (fewest moves of others).
    ``refused`` maps a booking to a room that declined it: that room is not given back."""
    lost: list[str] = []
    for booking in sorted(bookings, key=lambda b: b.start):
        old = room_ops.release_room(s, booking.id, now, reason)
        s.flush()
        room = _replace_room(
            s, index, booking, None, now, zone, reason=reason,
            refused=(refused or {}).get(booking.id),
        )  # fmt: skip
        if room is None:
            booking.conflict = CONFLICT_ROOM_TAKEN
            lost.append(booking.id)
            emit(
                s,
                "booking.room_lost",
                booking.id,
                {"reference": booking.reference, "room": old},
                now,
            )
        else:
            booking.conflict = None
            emit(
                s,
                "booking.room_changed",
                booking.id,
                {"reference": booking.reference, "room": room},
                now,
            )
        booking.updated_at = now
        booking.version += 1
        enqueue_calendar_sync(s, booking.id, "room_reallocated", now)
        audit(
            s,
            ACTOR,
            "room.reallocated",
            now,
            booking_id=booking.id,
            room_id=room,
            reason=reason,
            previous_room=old,
        )
    return lost

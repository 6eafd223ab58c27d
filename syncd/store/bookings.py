"""Booking operations: reserve, confirm, release, cancel, rebook.

Each operation is one write transaction that leaves everything consistent: the booking, its room
allocation, an outbox entry for the calendars, an event for the front end and an audit line.
No calendar I/O happens here; the outbox worker does that afterwards.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mappings.privacy import contains_cpr
from syncd import metrics
from syncd.domain.clock import Clock, utcnow
from syncd.domain.model import BookedBy, BookingStatus, CancelledBy, Mode
from syncd.domain.slots import week_key, widen
from syncd.inputs import citizen_key
from syncd.rooms.model import BOOKING_PREFERENCES, Preferences
from syncd.store import hotpath
from syncd.store import rooms as room_ops
from syncd.store.db import Database
from syncd.store.directory import DirectoryIndex
from syncd.store.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from syncd.store.journal import audit, emit, enqueue_calendar_sync
from syncd.store.rehousing import FULL_SEARCH, Rehousing
from syncd.store.tables import (
    BookingRow,
    CitizenRestrictionRow,
    RoomAllocationRow,
)

# Puts a rebooked conversation in a chosen room (or refuses); returns the room.
Placer = Callable[[Session, BookingRow, datetime], str]

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 8 long: never ten digits
_ID_ALPHABET = "bcdfghjkmnpqrstvwxz"
ROOM_RETRIES = 5
# How long an expired hold may keep its time and room before a booking sweeps it away.
SWEEP_INTERVAL = timedelta(seconds=1)
_LOOKUP = object()  # "find the booking's room yourself"


def new_booking_id() -> str:
    """Sixteen consonants (68 random bits): no digits, so neither the id nor anything
    made from it (the event's UID) can ever look like a CPR number, and no vowels, so no words."""
    return "b-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def new_reference() -> str:
    """Pseudonymous booking reference shown in calendars: says nothing about the citizen."""
    return "SB-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def offer_id(slot_id: str, mode: Mode | str) -> str:
    return f"{slot_id}~{Mode(mode).value}"


def parse_offer_id(value: str) -> tuple[str, Mode]:
    slot, sep, mode = value.rpartition("~")
    if not sep or not slot:
        raise InvalidError(f"offer id {value!r} is malformed", code="invalid_offer_id")
    try:
        return slot, Mode(mode)
    except ValueError:
        raise InvalidError(
            f"offer id {value!r} names an unknown mode", code="invalid_offer_id"
        ) from None


def check_citizen_ref(citizen_ref: str) -> str:
    """Citizen references are opaque, but never a CPR number: refused and not stored or logged.
    Returned as stored and compared (``citizen_key``: case and Unicode variants are one)."""
    ref = citizen_key(citizen_ref)
    if not ref:
        raise InvalidError("citizen_ref is empty", code="invalid_citizen_ref")
    digits = ref.replace("-", "").replace(" ", "")
    if contains_cpr(ref) or (digits.isdigit() and len(digits) == 10):
        raise InvalidError(
            "citizen_ref looks like a CPR number; send an opaque reference instead",
            code="cpr_not_allowed",
        )
    if len(ref) > 200:
        raise InvalidError("citizen_ref is longer than 200 characters", code="invalid_citizen_ref")
    return ref


def check_owner(client: str | None, owner: str | None, booking_id: str) -> None:
    """A booking belongs to the API client that made it. ``owner`` is the caller; None is a
    door that may act on any booking (a staff key, the dashboard, the command line)."""
    if owner is not None and client != owner:
        raise ForbiddenError(
            f"booking {booking_id!r} was made by another client; a staff key is needed",
            code="not_your_booking",
        )


def check_text(text: str, field: str = "reason", limit: int = 500) -> str:
    """Free text from any door (API, dashboard, CLI) lands in the audit log and on screens:
    short, and never a CPR number in any of its written forms."""
    if len(text) > limit:
        raise InvalidError(f"{field} is longer than {limit} characters", code="invalid_request")
    if contains_cpr(text):
        raise InvalidError(
            f"{field} looks like it holds a CPR number; leave it out", code="cpr_not_allowed"
        )
    return text


@dataclass(frozen=True)
class BookingView:
    """What the API returns for a hold or a booking."""

    id: str
    reference: str
    status: str
    caseworker_id: str
    type_code: str
    mode: str
    start: datetime
    end: datetime
    room_id: str | None
    hold_expires_at: datetime | None
    cancelled_by: str | None
    conflict: str | None


def _notifies(method: Callable[..., BookingView]) -> Callable[..., BookingView]:
    """After a committed change the calendars must follow: wake the outbox worker."""

    @functools.wraps(method)
    def wrapper(self: BookingService, *args: object, **kwargs: object) -> BookingView:
        result = method(self, *args, **kwargs)
        if self.on_change is not None:
            self.on_change()
        return result

    return wrapper


class BookingService:
    def __init__(
        self,
        db: Database,
        index: DirectoryIndex,
        *,
        zone: ZoneInfo,
        hold_ttl: timedelta = timedelta(minutes=10),
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.index = index
        self.zone = zone
        self.hold_ttl = hold_ttl
        self.clock = clock
        self.on_change: Callable[[], None] | None = None
        self._next_sweep = datetime.min.replace(tzinfo=UTC)

    # -- reads -------------------------------------------------------------------------------

    def get(self, booking_id: str, *, owner: str | None = None) -> BookingView:
        with self.db.read() as s:
            booking = s.get(BookingRow, booking_id)
            if booking is None:
                raise NotFoundError(f"no booking or hold {booking_id!r}", code="booking_not_found")
            check_owner(booking.client, owner, booking_id)
            return self._view(s, booking, _LOOKUP)

    # -- writes ------------------------------------------------------------------------------

    def reserve(
        self,
        offer: str,
        citizen_ref: str,
        *,
        needs_wheelchair: bool = False,
        client: str = "api",
        staff: bool = False,
        booked_by: BookedBy = "citizen",
        deadline: date | None = None,
    ) -> BookingView:
        """Hold an offer for the citizen (and its room, for an in-person conversation).

        ``staff`` is what the caller may do (strakstid, short notice); ``booked_by`` is who
        booked (the citizen through self-service, or staff on the citizen's behalf), which is
        what the self-booking figures count. ``deadline`` is the citizen's Fristdato, if known
        (Kapacitet learns from it).

        The hot path of the booking API: plain statements on one connection, as few round trips
        as the checks allow (see ``_bookable_slot`` and ``_claim_time``)."""
        slot_id, mode = parse_offer_id(offer)
        ref = check_citizen_ref(citizen_ref)
        now = self.clock()
        with self.db.write() as s:
            conn = s.connection()
            slot = self._bookable_slot(conn, slot_id, mode, now, staff=staff, citizen_ref=ref)
            ctype = self.index.types[slot.type_code]
            busy_start, busy_end = widen(slot.start, slot.end, ctype)
            self._claim_time(conn, slot.caseworker_id, busy_start, busy_end, slot.start, None)
            booking = NewHold(
                id=new_booking_id(),
                reference=new_reference(),
                citizen_ref=ref,
                slot_id=slot.id,
                caseworker_id=slot.caseworker_id,
                type_code=slot.type_code,
                mode=mode.value,
                status=BookingStatus.HELD.value,
                start=slot.start,
                end=slot.end,
                busy_start=busy_start,
                busy_end=busy_end,
                exclusive=True,
                needs_wheelchair=needs_wheelchair,
                hold_expires_at=now + self.hold_ttl,
                self_booked=booked_by == "citizen",
                booked_by=booked_by,
                client=client,
                created_at=now,
                updated_at=now,
                version=1,
                deadline=deadline,
            )
            columns = {f"b_{c}": None for c in BOOKING_COLUMNS} | {
                f"b_{k}": v for k, v in dataclasses.asdict(booking).items()
            }
            try:
                hotpath.INSERT_HOLD.execute(
                    conn,
                    columns
                    | {"p_now": now, "p_booking": booking.id}
                    | _audit_params(client, "hold.created"),
                )
            except IntegrityError:
                raise ConflictError("the time was just taken", code="slot_taken") from None
            room = None
            if mode.needs_room:
                room = self._allocate(s, booking, now, actor=client, reason="ny booking")
            return _view_of(booking, room)

    @_notifies
    def confirm(
        self, hold_id: str, *, client: str = "api", owner: str | None = None
    ) -> BookingView:
        now = self.clock()
        with self.db.write() as s:
            conn = s.connection()
            hold = self._locked_hold(conn, hold_id)
            check_owner(hold.client, owner, hold_id)
            if hold.status == BookingStatus.CONFIRMED.value:
                return _view_of(hold, hold.room_id)  # a retried confirm is harmless
            if hold.status != BookingStatus.HELD.value or (
                hold.hold_expires_at is not None and hold.hold_expires_at <= now
            ):
                raise ConflictError(
                    "the hold has expired or was released; reserve the time again",
                    code="hold_expired",
                )
            room = hold.room_id
            if Mode(hold.mode).needs_room and room is None:
                room = self._allocate(s, hold, now, actor=client, reason="bekræftelse")
            confirmed = BookingStatus.CONFIRMED.value
            hotpath.CONFIRM.execute(
                conn,
                {
                    "p_booking": hold.id,
                    "p_now": now,
                    "p_payload": self._payload(hold, room) | {"status": confirmed},
                }
                | _audit_params(client, "booking.confirmed"),
            )
            return _view_of(hold, room, status=confirmed, hold_expires_at=None)

    def release(
        self, hold_id: str, *, client: str = "api", owner: str | None = None
    ) -> BookingView:
        now = self.clock()
        with self.db.write() as s:
            booking = self._locked_booking(s, hold_id)
            check_owner(booking.client, owner, hold_id)
            if booking.status != BookingStatus.HELD.value:
                if booking.status in (BookingStatus.RELEASED.value, BookingStatus.EXPIRED.value):
                    return self._view(s, booking, None)
                raise ConflictError(
                    "only a hold can be released; cancel the booking", code="not_a_hold"
                )
            booking.status = BookingStatus.RELEASED.value
            booking.updated_at = now
            room_ops.release_room(s, booking.id, now, "hold frigivet")
            audit(s, client, "hold.released", now, booking_id=booking.id)
            return self._view(s, booking, None)

    @_notifies
    def cancel(
        self,
        booking_id: str,
        *,
        by: CancelledBy = CancelledBy.CITIZEN,
        actor: str = "api",
        reason: str = "",
        owner: str | None = None,
    ) -> BookingView:
        reason = check_text(reason)
        now = self.clock()
        with self.db.write() as s:
            booking = self._locked_booking(s, booking_id)
            check_owner(booking.client, owner, booking_id)
            if booking.status == BookingStatus.CANCELLED.value:
                return self._view(s, booking, _LOOKUP)
            if booking.status != BookingStatus.CONFIRMED.value:
                raise ConflictError(
                    f"booking is {booking.status}, not confirmed", code="not_confirmed"
                )
            booking.status = BookingStatus.CANCELLED.value
            booking.cancelled_by = by.value
            booking.updated_at = now
            booking.version += 1
            room = room_ops.release_room(s, booking.id, now, f"aflyst af {by.value}")
            if room is not None:
                self.room_freed(
                    s, room, booking.busy_start, booking.busy_end, now, BOOKING_PREFERENCES
                )
            enqueue_calendar_sync(s, booking.id, "cancelled", now)
            emit(
                s,
                "booking.cancelled",
                booking.id,
                self._payload(booking, None) | {"by": by.value},
                now,
            )
            audit(
                s,
                actor,
                "booking.cancelled",
                now,
                booking_id=booking.id,
                room_id=room,
                reason=reason,
                by=by.value,
            )
            return self._view(s, booking, None)

    @_notifies
    def rebook(
        self,
        booking_id: str,
        offer: str,
        *,
        client: str = "api",
        staff: bool = False,
        owner: str | None = None,
        reason: str = "",
        seen: room_ops.Seen | None = None,
        place: Placer | None = None,
    ) -> BookingView:
        """Move a booking to another offer in one transaction: never two bookings, never none.
        A coordinator's move carries its ``reason`` (audited), where they ``seen`` it (a stale
        view is refused) and may ``place`` it in the room they chose instead of the
        allocator's; a room that is not free then refuses the whole move."""
        slot_id, mode = parse_offer_id(offer)
        now = self.clock()
        with self.db.write() as s:
            booking = self._locked_booking(s, booking_id)
            check_owner(booking.client, owner, booking_id)
            room_ops.check_seen(s, booking, booking.reference, seen)
            if booking.status != BookingStatus.CONFIRMED.value:
                raise ConflictError(
                    f"booking is {booking.status}, not confirmed", code="not_confirmed"
                )
            conn = s.connection()
            slot = self._bookable_slot(
                conn, slot_id, mode, now, staff=staff, citizen_ref=booking.citizen_ref
            )
            ctype = self.index.types[slot.type_code]
            busy_start, busy_end = widen(slot.start, slot.end, ctype)
            self._claim_time(conn, slot.caseworker_id, busy_start, busy_end, slot.start, booking.id)
            old = {"start": booking.start.isoformat(), "caseworker_id": booking.caseworker_id}
            old_room = room_ops.release_room(s, booking.id, now, "ombooket")
            booking.slot_id = slot.id
            booking.caseworker_id = slot.caseworker_id
            booking.type_code = slot.type_code
            booking.mode = mode.value
            booking.start, booking.end = slot.start, slot.end
            booking.busy_start, booking.busy_end = busy_start, busy_end
            booking.exclusive = True
            booking.conflict = None
            booking.updated_at = now
            booking.version += 1
            try:
                s.flush()
            except IntegrityError:
                raise ConflictError("the time was just taken", code="slot_taken") from None
            room = None
            if mode.needs_room and place is not None:
                s.flush()
                room = place(s, booking, now)
            elif mode.needs_room:
                room = self._allocate(s, booking, now, actor=client, reason="ombooking")
            enqueue_calendar_sync(s, booking.id, "rebooked", now)
            emit(
                s,
                "booking.rebooked",
                booking.id,
                self._payload(booking, room) | {"previous": old},
                now,
            )
            audit(
                s,
                client,
                "booking.rebooked",
                now,
                booking_id=booking.id,
                room_id=old_room,
                reason=reason,
                **old,
            )
            return self._view(s, booking, room)

    # -- restrictions (fratagelse) -----------------------------------------------------------

    def add_restriction(
        self, citizen_ref: str, caseworker_id: str | None, reason: str, actor: str
    ) -> None:
        ref = check_citizen_ref(citizen_ref)
        reason = check_text(reason)
        if caseworker_id is not None and caseworker_id not in self.index.caseworkers:
            raise NotFoundError(f"no caseworker {caseworker_id!r}", code="caseworker_not_found")
        now = self.clock()
        with self.db.write() as s:
            s.add(
                CitizenRestrictionRow(
                    citizen_ref=ref, caseworker_id=caseworker_id, reason=reason, created_at=now
                )
            )
            audit(s, actor, "restriction.added", now, caseworker_id=caseworker_id)

    def remove_restrictions(self, citizen_ref: str, actor: str) -> int:
        citizen_ref = citizen_key(citizen_ref)
        now = self.clock()
        with self.db.write() as s:
            rows = list(
                s.scalars(
                    select(CitizenRestrictionRow).where(
                        CitizenRestrictionRow.citizen_ref == citizen_ref
                    )
                )
            )
            for row in rows:
                s.delete(row)
            audit(s, actor, "restriction.removed", now, count=len(rows))
            return len(rows)

    # -- internals ---------------------------------------------------------------------------

    def _bookable_slot(
        self,
        conn: Connection,
        slot_id: str,
        mode: Mode,
        now: datetime,
        *,
        staff: bool,
        citizen_ref: str,
    ) -> Row[Any]:
        """The slot, if this citizen may book it now, in one statement: the slot, the citizen's
        restrictions (fratagelse) and, on PostgreSQL, the lock on the caseworker's bookings
        (see ``hotpath.SLOT_AND_LOCK``) and, at most every ``SWEEP_INTERVAL``, the sweep of
        expired holds, so their time and rooms are free again before the exclusion
        constraints look. (Sweeping on every booking made each one scan the index of held
        bookings, dead versions included; the engine's janitor sweeps too.)"""
        params = {"p_slot": slot_id, "p_citizen": citizen_ref, "p_now": now}
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_INTERVAL
        if self.db.is_sqlite:
            if sweep:
                expire_stale_holds(conn, now)
            slot = hotpath.first_row(conn, hotpath.SLOT, params)
        else:
            query = hotpath.SLOT_SWEEP_AND_LOCK if sweep else hotpath.SLOT_AND_LOCK
            slot = hotpath.first_row(conn, query, params)
        if slot is None or slot.withdrawn or (slot.strakstid and not staff):
            raise NotFoundError("the offer does not exist or was withdrawn", code="offer_not_found")
        ctype = self.index.types.get(slot.type_code)
        cw = self.index.caseworkers.get(slot.caseworker_id)
        if ctype is None or cw is None:
            raise NotFoundError("the offer does not exist or was withdrawn", code="offer_not_found")
        if mode not in ctype.modes:
            raise InvalidError(
                f"{ctype.code} cannot be held as {mode.value}", code="mode_not_offered"
            )
        if not staff and slot.start < now + timedelta(minutes=ctype.min_notice_minutes):
            raise ConflictError("the time is too close to be booked now", code="too_late")
        if slot.start < now:
            raise ConflictError("the time has passed", code="too_late")
        if slot.citizen_withdrawn:
            raise ForbiddenError(
                "the citizen may not self-book (fratagelse)", code="citizen_withdrawn"
            )
        if slot.caseworker_barred:
            raise ForbiddenError(
                "the citizen may not book this caseworker", code="caseworker_barred"
            )
        return slot

    def _claim_time(
        self,
        conn: Connection,
        caseworker_id: str,
        busy_start: datetime,
        busy_end: datetime,
        start: datetime,
        ignore: str | None,
    ) -> None:
        """Check that the caseworker's time is free and her weekly cap not reached, race-free.

        PostgreSQL: the exclusion constraint refuses an overlapping live booking when it is
        written (so there is nothing to check here), and only a weekly cap, which no
        constraint can express, needs bookings of the caseworker serialised: by the lock
        ``_bookable_slot`` took, before this statement's snapshot.
        SQLite: the write transaction already excludes everyone else; both checks are one
        statement."""
        cap = self.index.caseworkers[caseworker_id].weekly_cap
        params: dict[str, Any] = {
            "p_cw": caseworker_id,
            "p_ignore": ignore or "",
            "p_busy_start": busy_start,
            "p_busy_end": busy_end,
        }
        if cap is not None:
            local = start.astimezone(self.zone)
            monday = (local - timedelta(days=local.weekday())).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            params |= {"p_week_start": monday, "p_week_end": monday + timedelta(days=7)}
        if self.db.is_sqlite:
            query = hotpath.CHECK_TIME if cap is None else hotpath.CHECK_TIME_AND_CAP
        elif cap is not None:
            query = hotpath.CHECK_CAP  # under the lock ``_bookable_slot`` took
        else:
            return
        found = hotpath.first_row(conn, query, params)
        if self.db.is_sqlite and found.taken:
            raise ConflictError("the time was just taken", code="slot_taken")
        if cap is not None and (found.booked or 0) >= cap:
            year, week_no = week_key(start, self.zone)
            raise ConflictError(
                f"the caseworker is fully booked in week {week_no} {year}",
                code="weekly_cap_reached",
            )

    def _locked_hold(self, conn: Connection, hold_id: str) -> Row[Any]:
        """The booking's columns and its active room, locked against concurrent changes."""
        query = hotpath.HOLD if self.db.is_sqlite else hotpath.HOLD_LOCKED
        row = hotpath.first_row(conn, query, {"p_booking": hold_id})
        if row is None:
            raise NotFoundError(f"no booking or hold {hold_id!r}", code="booking_not_found")
        return row

    def _locked_booking(self, s: Session, booking_id: str) -> BookingRow:
        q = select(BookingRow).where(BookingRow.id == booking_id)
        if not self.db.is_sqlite:
            q = q.with_for_update()
        booking = s.scalar(q)
        if booking is None:
            raise NotFoundError(f"no booking or hold {booking_id!r}", code="booking_not_found")
        return booking

    def _allocate(
        self, s: Session, booking: room_ops.BookingTimes, now: datetime, *, actor: str, reason: str
    ) -> str:
        """Give the booking a room, re-packing later allocations if that is what it takes.
        A concurrent writer may take the same room first (PostgreSQL): retry on fresh data;
        SQLite's IMMEDIATE transaction already excludes other writers."""
        cw = self.index.caseworkers[booking.caseworker_id]
        for _ in range(ROOM_RETRIES):
            ctx = room_ops.load_context(
                s,
                self.index,
                cw.sites,
                booking.busy_start,
                booking.busy_end,
                now,
                self.zone,
                exclude_booking=booking.id,
            )
            frozen = room_ops.freeze_until(now, self.zone)
            request = room_ops.request_for(
                self.index, booking, current_room=None, pinned=False, frozen_before=frozen
            )
            # bounded: a hard re-packing is finished by the engine, not while a citizen waits
            plan = room_ops.plan_for_new(ctx, request, BOOKING_PREFERENCES)
            if plan.assignments.get(booking.id) is None:
                metrics.ALLOCATION_FAILURES.labels(reason).inc()
                raise ConflictError("no suitable meeting room is free at that time", code="no_room")
            room = plan.assignments[booking.id]
            assert room is not None
            if not plan.moves:
                if room_ops.claim_room(s, booking, room, now, reason):
                    metrics.ALLOCATIONS.labels(reason).inc()
                    return room
                continue  # a concurrent booking took the room first: look again
            metrics.ALLOCATIONS.labels(reason).inc()
            if self.db.is_sqlite:
                room_ops.apply_plan(
                    s, plan, {booking.id: booking}, ctx, now, actor=actor, reason=reason
                )
                return room
            try:
                with s.begin_nested():
                    room_ops.apply_plan(
                        s, plan, {booking.id: booking}, ctx, now, actor=actor, reason=reason
                    )
                return room
            except IntegrityError:
                continue
        raise ConflictError("no suitable meeting room could be secured; try again", code="no_room")

    def room_freed(
        self,
        s: Session,
        room_id: str,
        start: datetime,
        end: datetime,
        now: datetime,
        prefs: Preferences | None = None,
    ) -> None:
        """Inside the caller's transaction: give conversations that have been waiting for a room
        the one just freed (a cancellation by the citizen, or by the caseworker in her
        calendar). ``prefs`` bounds the search (default: the full search)."""
        room = self.index.rooms.get(room_id)
        if room is None:
            return
        s.flush()
        Rehousing(self.db, self.index, zone=self.zone, clock=self.clock).room_freed(
            s, room.site_id, start, end, now, prefs or FULL_SEARCH
        )

    def _payload(self, booking: BookingRow, room: str | None) -> dict[str, object]:
        return {
            "reference": booking.reference,
            "caseworker_id": booking.caseworker_id,
            "type": booking.type_code,
            "mode": booking.mode,
            "start": booking.start.isoformat(),
            "end": booking.end.isoformat(),
            "room": room,
            "status": booking.status,
        }

    def _view(self, s: Session, booking: BookingRow, room: str | object | None) -> BookingView:
        """``room`` is the booking's room when the caller knows it, or _LOOKUP."""
        if room is _LOOKUP:
            room = room_ops.active_room(s, booking.id)
        return BookingView(
            id=booking.id,
            reference=booking.reference,
            status=booking.status,
            caseworker_id=booking.caseworker_id,
            type_code=booking.type_code,
            mode=booking.mode,
            start=booking.start,
            end=booking.end,
            room_id=room,  # type: ignore[arg-type]
            hold_expires_at=booking.hold_expires_at,
            cancelled_by=booking.cancelled_by,
            conflict=booking.conflict,
        )


def expire_stale_holds(s: Session | Connection, now: datetime) -> int:
    """Holds past their time give back the caseworker's time and the room."""
    stale = list(
        s.scalars(
            select(BookingRow.id).where(
                BookingRow.status == BookingStatus.HELD.value, BookingRow.hold_expires_at <= now
            )
        )
    )
    if not stale:
        return 0
    s.execute(
        update(BookingRow)
        .where(BookingRow.id.in_(stale), BookingRow.status == BookingStatus.HELD.value)
        .values(status=BookingStatus.EXPIRED.value, updated_at=now)
    )
    s.execute(
        update(RoomAllocationRow)
        .where(RoomAllocationRow.booking_id.in_(stale), RoomAllocationRow.active)
        .values(active=False, released_at=now, reason="hold udløbet")
    )
    return len(stale)


@dataclass(frozen=True)
class NewHold:
    """The columns of a hold as ``reserve`` writes them."""

    id: str
    reference: str
    citizen_ref: str
    slot_id: str
    caseworker_id: str
    type_code: str
    mode: str
    status: str
    start: datetime
    end: datetime
    busy_start: datetime
    busy_end: datetime
    exclusive: bool
    needs_wheelchair: bool
    hold_expires_at: datetime | None
    self_booked: bool
    booked_by: str
    client: str
    created_at: datetime
    updated_at: datetime
    version: int
    deadline: date | None = None


BOOKING_COLUMNS = tuple(c.name for c in BookingRow.__table__.c)


def _audit_params(actor: str, action: str) -> dict[str, Any]:
    return {"a_actor": actor, "a_action": action, "a_details": {}}


def _view_of(booking: Any, room: str | None, **changed: Any) -> BookingView:
    """The API's view of a booking given as a row (or ``NewHold``), with ``changed`` columns
    as the operation just wrote them."""

    def col(name: str) -> Any:
        return changed[name] if name in changed else getattr(booking, name, None)

    return BookingView(
        id=booking.id,
        reference=booking.reference,
        status=col("status"),
        caseworker_id=booking.caseworker_id,
        type_code=booking.type_code,
        mode=booking.mode,
        start=booking.start,
        end=booking.end,
        room_id=room,
        hold_expires_at=col("hold_expires_at"),
        cancelled_by=col("cancelled_by"),
        conflict=col("conflict"),
    )

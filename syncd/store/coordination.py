"""What a room coordinator may do to rooms: pin a conversation to a room, move it, unpin it, ask
the allocator for a room, block a room for a period, release a block, and retry a calendar write.

Each operation is one write transaction that goes through the same allocator and invariants as a
booking, writes outbox entries wherever a calendar must change, tells the front end through the
event feed when a conversation's room changes, and leaves an audit line with who, what and why.
Messages are Danish: coordinators read them. Who may call these is the web layer's business;
here ``actor`` is just the name that goes into the audit log. Placing the conversations an
operation displaces is ``rehousing``'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mappings.privacy import contains_cpr
from syncd.domain.clock import Clock, utcnow
from syncd.domain.model import BookingStatus, Mode, Room
from syncd.rooms import allocator
from syncd.rooms.model import Preferences, RoomSpec
from syncd.store import rooms as room_ops
from syncd.store.db import Database
from syncd.store.directory import DirectoryIndex
from syncd.store.errors import ConflictError, InvalidError, NotFoundError
from syncd.store.journal import audit
from syncd.store.rehousing import (
    CONFLICT_BLOCKED,
    CONFLICT_DISPLACED,
    Rehoused,
    Rehousing,
    room_changed,
    room_write,
)
from syncd.store.tables import BookingRow, BusyRow, OutboxRow, RoomAllocationRow, RoomBlockRow

if TYPE_CHECKING:
    from syncd.runtime import Runtime
    from syncd.store.bookings import Placer

FEATURE_NAMES = {"wheelchair": "kørestolsadgang", "video": "videoudstyr"}
MAX_REASON = 500
MAX_BLOCK = timedelta(days=366)
MAX_REPEATS = 260  # a year of working days
__all__ = ["CONFLICT_BLOCKED", "CONFLICT_DISPLACED", "CoordinationService", "Rehoused"]


class _DryRun(Exception):
    """Rolls a preview's transaction back."""


@dataclass(frozen=True)
class RoomChange:
    booking_id: str
    reference: str
    previous_room: str | None
    room_id: str | None
    pinned: bool
    rehoused: tuple[Rehoused, ...] = ()

    @property
    def conflicts(self) -> list[Rehoused]:
        return [r for r in self.rehoused if r.room_id is None]


@dataclass(frozen=True)
class BlockChange:
    block_id: int
    room_id: str
    start: datetime
    end: datetime
    active: bool
    rehoused: tuple[Rehoused, ...] = ()
    already: bool = False  # nothing to do: the block was released before

    @property
    def conflicts(self) -> list[Rehoused]:
        return [r for r in self.rehoused if r.room_id is None]


def check_reason(reason: str, *, required: bool = False) -> str:
    """Free text goes into the audit log and onto screens: short, and never a CPR number."""
    text = " ".join(reason.split())
    if required and not text:
        raise InvalidError("Angiv en begrundelse", code="reason_required")
    if len(text) > MAX_REASON:
        raise InvalidError(f"Begrundelsen må højst være {MAX_REASON} tegn", code="reason_too_long")
    if contains_cpr(text):
        raise InvalidError("Begrundelsen må ikke indeholde et CPR-nummer", code="cpr_not_allowed")
    return text


class CoordinationService:
    def __init__(
        self,
        db: Database,
        index: DirectoryIndex,
        *,
        zone: ZoneInfo,
        clock: Clock = utcnow,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.index = index
        self.zone = zone
        self.clock = clock
        self.on_change = on_change
        self.rehousing = Rehousing(db, index, zone=zone, clock=clock, on_change=on_change)

    @classmethod
    def for_runtime(cls, rt: Runtime) -> CoordinationService:
        """Built per use, so a reloaded directory and the engine's wake-up are always current."""
        return cls(rt.db, rt.index, zone=rt.zone, clock=rt.clock, on_change=rt.bookings.on_change)

    # -- conversations -----------------------------------------------------------------------

    def pin(
        self,
        booking_id: str,
        room_id: str | None = None,
        *,
        actor: str,
        reason: str = "",
        seen: room_ops.Seen | None = None,
    ) -> RoomChange:
        """Pin the conversation to ``room_id`` (default: the room it has). Re-packing never
        moves a pinned allocation. Conversations in the way are given other rooms by the
        allocator, or become conflicts; a foreign meeting, a block or another pinned
        conversation in the way refuses the pin."""
        reason = check_reason(reason)
        now = self.clock()
        with self._write() as s:
            booking = self._conversation(s, booking_id)
            room_ops.check_seen(s, booking, booking.reference, seen)
            alloc = self._allocation(s, booking.id)
            target = room_id or (alloc.room_id if alloc else None)
            if target is None:
                raise InvalidError(
                    "Samtalen har intet lokale: vælg det lokale, den skal låses til",
                    code="room_required",
                )
            if alloc is not None and alloc.room_id == target:
                if not alloc.pinned:
                    alloc.pinned = True
                    audit(
                        s,
                        actor,
                        "room.pinned",
                        now,
                        booking_id=booking.id,
                        room_id=target,
                        reason=reason,
                    )
                return RoomChange(booking.id, booking.reference, target, target, True)
            self._check_suitable(booking, target)
            self._check_not_occupied(s, target, booking, allocations=False)
            in_the_way = self._allocations_in(s, target, booking)
            pinned = [b for a, b in in_the_way if a.pinned]
            if pinned:
                raise ConflictError(
                    f"{self._room_name(target)} er låst til samtale {pinned[0].reference} "
                    "på det tidspunkt",
                    code="room_pinned",
                )
            previous = alloc.room_id if alloc else None
            for other_alloc, _ in in_the_way:
                self._release(other_alloc, now, f"fortrængt af låst samtale {booking.reference}")
            if alloc is not None:
                self._release(alloc, now, f"låst til {target}")
            s.flush()
            room_ops.insert_allocation(
                s, booking, target, now, pinned=True, reason=reason or "låst til lokalet"
            )
            s.flush()
            rehoused = self.rehousing.rehouse(
                s,
                [b for _, b in in_the_way],
                now,
                actor=actor,
                reason=f"fortrængt af låst samtale {booking.reference}",
                conflict=CONFLICT_DISPLACED,
                released={b.id: a.room_id for a, b in in_the_way},
            )
            room_changed(s, booking, previous, target, now)
            audit(
                s,
                actor,
                "room.pinned",
                now,
                booking_id=booking.id,
                room_id=target,
                reason=reason,
                previous_room=previous,
                displaced=[r.booking_id for r in rehoused],
            )
            change = RoomChange(booking.id, booking.reference, previous, target, True, rehoused)
        self._notify()
        return change

    def unpin(self, booking_id: str, *, actor: str, reason: str = "") -> RoomChange:
        """Let the allocator move the conversation again when it re-packs (no calendar change)."""
        reason = check_reason(reason)
        now = self.clock()
        with self._write() as s:
            booking = self._conversation(s, booking_id)
            alloc = self._allocation(s, booking.id)
            if alloc is None:
                raise InvalidError("Samtalen har intet lokale", code="no_room")
            if alloc.pinned:
                alloc.pinned = False
                audit(
                    s,
                    actor,
                    "room.unpinned",
                    now,
                    booking_id=booking.id,
                    room_id=alloc.room_id,
                    reason=reason,
                )
            return RoomChange(booking.id, booking.reference, alloc.room_id, alloc.room_id, False)

    def move(
        self,
        booking_id: str,
        room_id: str,
        *,
        actor: str,
        reason: str = "",
        seen: room_ops.Seen | None = None,
    ) -> RoomChange:
        """Move the conversation to another room that suits it and is free for its whole time
        (buffers included). A pinned conversation stays pinned in its new room. A conversation
        without a room gets this one."""
        reason = check_reason(reason)
        now = self.clock()
        with self._write() as s:
            booking = self._conversation(s, booking_id)
            room_ops.check_seen(s, booking, booking.reference, seen)
            alloc = self._allocation(s, booking.id)
            if alloc is not None and alloc.room_id == room_id:
                raise InvalidError(
                    f"Samtalen er allerede i {self._room_name(room_id)}", code="same_room"
                )
            self._check_suitable(booking, room_id)
            self._check_not_occupied(s, room_id, booking, allocations=True)
            previous = alloc.room_id if alloc else None
            pinned = bool(alloc and alloc.pinned)
            if alloc is not None:
                self._release(alloc, now, f"flyttet til {room_id}")
                s.flush()
            room_ops.insert_allocation(
                s, booking, room_id, now, pinned=pinned, reason=reason or "flyttet"
            )
            s.flush()
            room_changed(s, booking, previous, room_id, now)
            audit(
                s,
                actor,
                "room.assigned",
                now,
                booking_id=booking.id,
                room_id=room_id,
                reason=reason,
                previous_room=previous,
            )
            change = RoomChange(booking.id, booking.reference, previous, room_id, pinned)
        self._notify()
        return change

    def placer(self, room_id: str, *, reason: str) -> Placer:
        """For a conversation moved to another time in the room the coordinator chose: the
        room move's checks (suitable, not blocked, busy or taken) at the new time. Raising
        refuses the rebooking as a whole: it is never moved to a room nobody chose."""
        self._room(room_id)

        def place(s: Session, booking: BookingRow, now: datetime) -> str:
            try:
                self._check_suitable(booking, room_id)
                self._check_not_occupied(s, room_id, booking, allocations=True)
            except (ConflictError, InvalidError) as exc:
                raise type(exc)(f"{exc.message}; samtalen er ikke flyttet", code=exc.code) from None
            room_ops.insert_allocation(s, booking, room_id, now, reason=reason or "flyttet")
            return room_id

        return place

    def find_room(self, booking_id: str, *, actor: str, reason: str = "") -> RoomChange:
        """Ask the allocator for a room for a conversation that has none, exactly as for a new
        booking (later, unpinned allocations may be re-packed to make room)."""
        reason = check_reason(reason)
        now = self.clock()
        with self._write() as s:
            booking = self._conversation(s, booking_id)
            if self._allocation(s, booking.id) is not None:
                raise InvalidError("Samtalen har allerede et lokale", code="has_room")
            ctx = self.rehousing.context(s, [booking], now)
            request = self.rehousing.request(booking, now)
            plan = allocator.allocate(request, ctx.existing, ctx.rooms, ctx.occupied, Preferences())
            room = plan.assignments.get(booking.id)
            if room is None:
                raise ConflictError(
                    "Intet egnet mødelokale er ledigt på samtalens tidspunkt", code="no_room"
                )
            room_ops.apply_plan(
                s,
                plan,
                {booking.id: booking},
                ctx,
                now,
                actor=actor,
                reason=reason or "lokale fundet af koordinator",
            )
            room_changed(s, booking, None, room, now)
            audit(
                s,
                actor,
                "room.found",
                now,
                booking_id=booking.id,
                room_id=room,
                reason=reason,
                moved=[m.booking_id for m in plan.moves],
            )
            change = RoomChange(booking.id, booking.reference, None, room, False)
        self._notify()
        return change

    # -- rooms -------------------------------------------------------------------------------

    def block_room(
        self, room_id: str, start: datetime, end: datetime, *, actor: str, reason: str
    ) -> BlockChange:
        """Take the room out of use for [start, end) (maintenance, a course). Conversations
        that hold it then (and have not ended) get other rooms from the allocator, or become
        conflicts; a pinned one loses its pin with the room."""
        return self.block_periods(room_id, [(start, end)], actor=actor, reason=reason)[0]

    def block_periods(
        self,
        room_id: str,
        periods: Sequence[tuple[datetime, datetime]],
        *,
        actor: str,
        reason: str,
        dry_run: bool = False,
    ) -> list[BlockChange]:
        """Block the room for each period (a repeating block) in one transaction: all of them
        or none. With ``dry_run`` everything is worked out exactly as it would be and then
        rolled back, so a coordinator sees what the block would move or leave without a room
        before confirming it."""
        reason = check_reason(reason, required=True)
        self._room(room_id)
        if not periods:
            raise InvalidError("Der er ingen perioder at blokere", code="invalid_period")
        if len(periods) > MAX_REPEATS:
            raise InvalidError(
                f"En gentaget blokering kan højst have {MAX_REPEATS} gentagelser",
                code="invalid_period",
            )
        now = self.clock()
        if any(start.tzinfo is None or end.tzinfo is None for start, end in periods):
            raise InvalidError("Tidspunkter skal have en tidszone", code="naive_time")
        # As instants: two times with the same tzinfo compare by wall clock in Python, so a
        # period across the hour summer time skips would pass with no length at all.
        periods = [(start.astimezone(UTC), end.astimezone(UTC)) for start, end in periods]
        for start, end in periods:
            if end <= start:
                raise InvalidError("Slutningen skal ligge efter starten", code="invalid_period")
            if end - start > MAX_BLOCK:
                raise InvalidError("En blokering kan højst vare et år", code="invalid_period")
            if end <= now:
                raise InvalidError("Perioden er allerede forbi", code="invalid_period")
        changes: list[BlockChange] = []
        try:
            with self._write() as s:
                for start, end in periods:
                    changes.append(self._block(s, room_id, start, end, now, actor, reason))
                if dry_run:
                    raise _DryRun()
        except _DryRun:
            return changes
        self._notify()
        return changes

    def _block(
        self,
        s: Session,
        room_id: str,
        start: datetime,
        end: datetime,
        now: datetime,
        actor: str,
        reason: str,
    ) -> BlockChange:
        if s.scalar(
            select(RoomBlockRow.id).where(
                RoomBlockRow.room_id == room_id,
                RoomBlockRow.active,
                RoomBlockRow.start == start,
                RoomBlockRow.end == end,
                RoomBlockRow.reason == reason,
            )
        ):
            raise ConflictError(
                f"{self._room_name(room_id)} er allerede blokeret i præcis den periode "
                f"med samme begrundelse",
                code="duplicate_block",
            )
        block = RoomBlockRow(
            room_id=room_id,
            start=start,
            end=end,
            reason=reason,
            created_by=actor,
            created_at=now,
            active=True,
        )
        s.add(block)
        s.flush()
        affected = [
            booking
            for _, booking in s.execute(
                select(RoomAllocationRow, BookingRow)
                .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
                .where(
                    RoomAllocationRow.room_id == room_id,
                    RoomAllocationRow.active,
                    RoomAllocationRow.start < end,
                    RoomAllocationRow.end > start,
                    RoomAllocationRow.end > now,
                )
            ).all()
        ]
        rehoused = self.rehousing.rehouse(
            s,
            affected,
            now,
            actor=actor,
            reason=f"lokalet er blokeret: {reason}",
            conflict=CONFLICT_BLOCKED,
        )
        audit(
            s,
            actor,
            "room.blocked",
            now,
            room_id=room_id,
            reason=reason,
            block_id=block.id,
            start=start.isoformat(),
            end=end.isoformat(),
            moved={r.booking_id: r.room_id for r in rehoused if r.room_id},
            conflicts=[r.booking_id for r in rehoused if r.room_id is None],
        )
        return BlockChange(block.id, room_id, start, end, True, rehoused)

    def release_block(self, block_id: int, *, actor: str, reason: str = "") -> BlockChange:
        """End a block. Conversations at the site that have no room during the block's period
        are offered a room again (they stay as they are if none is free)."""
        reason = check_reason(reason)
        now = self.clock()
        with self._write() as s:
            block = s.get(RoomBlockRow, block_id)
            if block is None:
                raise NotFoundError("Blokeringen findes ikke", code="block_not_found")
            if not block.active:  # idempotent: a second release changes nothing, and says so
                return BlockChange(
                    block.id, block.room_id, block.start, block.end, False, already=True
                )
            block.active = False
            s.flush()
            room = self._room(block.room_id)
            roomless = [
                b
                for b in self.rehousing.roomless(s, block.start, block.end, now)
                if room.site_id in self.index.caseworkers[b.caseworker_id].sites
            ]
            rehoused = self.rehousing.rehouse(
                s, roomless, now, actor=actor, reason="blokering ophævet", conflict=None
            )
            audit(
                s,
                actor,
                "room.unblocked",
                now,
                room_id=block.room_id,
                reason=reason,
                block_id=block.id,
                rooms_found={r.booking_id: r.room_id for r in rehoused},
            )
            change = BlockChange(block.id, block.room_id, block.start, block.end, False, rehoused)
        self._notify()
        return change

    # -- calendar writes ---------------------------------------------------------------------

    def retry_outbox(self, entry_id: int, *, actor: str, reason: str = "") -> str:
        """Try a failed calendar write again now (the failure stays visible until it works).
        Returns the booking id."""
        reason = check_reason(reason)
        now = self.clock()
        with self._write() as s:
            entry = s.get(OutboxRow, entry_id)
            if entry is None:
                raise NotFoundError("Kalenderskrivningen findes ikke", code="outbox_not_found")
            if entry.done_at is not None:
                raise InvalidError("Kalenderskrivningen er allerede gennemført", code="outbox_done")
            entry.next_attempt_at = now
            entry.lease_owner = None
            entry.lease_until = None
            audit(
                s,
                actor,
                "outbox.retried",
                now,
                booking_id=entry.booking_id,
                reason=reason,
                entry_id=entry.id,
                attempts=entry.attempts,
            )
            booking_id = entry.booking_id
        self._notify()
        return booking_id

    # -- internals ---------------------------------------------------------------------------

    def _write(self) -> AbstractContextManager[Session]:
        return room_write(self.db)

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _room(self, room_id: str) -> Room:
        room = self.index.rooms.get(room_id)
        if room is None:
            raise NotFoundError(f"Ukendt mødelokale {room_id!r}", code="room_not_found")
        return room

    def _room_name(self, room_id: str | None) -> str:
        room = self.index.rooms.get(room_id or "")
        return room.name if room else str(room_id)

    def _conversation(self, s: Session, booking_id: str) -> BookingRow:
        """A confirmed in-person conversation, locked against concurrent changes."""
        q = select(BookingRow).where(BookingRow.id == booking_id)
        if not self.db.is_sqlite:
            q = q.with_for_update()
        booking = s.scalar(q)
        if booking is None:
            raise NotFoundError("Samtalen findes ikke", code="booking_not_found")
        if booking.status != BookingStatus.CONFIRMED.value:
            raise ConflictError(
                "Kun bekræftede samtaler kan få lokale af en koordinator", code="not_confirmed"
            )
        if not Mode(booking.mode).needs_room:
            raise InvalidError("Samtalen foregår ikke ved fremmøde", code="no_room_needed")
        return booking

    def _allocation(self, s: Session, booking_id: str) -> RoomAllocationRow | None:
        return s.scalar(
            select(RoomAllocationRow).where(
                RoomAllocationRow.booking_id == booking_id, RoomAllocationRow.active
            )
        )

    def _check_suitable(self, booking: BookingRow, room_id: str) -> None:
        """The hard rules that do not depend on time, explained when they fail."""
        room = self._room(room_id)
        req = self.rehousing.request(booking, self.clock())
        spec = RoomSpec(room.id, room.site_id, room.capacity, room.features, room.floor)
        if spec.site_id not in req.sites:
            site = self.index.sites.get(spec.site_id)
            raise InvalidError(
                f"{room.name} ligger på {site.name if site else spec.site_id}, "
                "som sagsbehandleren ikke bruger",
                code="room_unsuitable",
            )
        if spec.capacity < req.min_capacity:
            raise InvalidError(
                f"{room.name} har {spec.capacity} pladser; samtalen kræver {req.min_capacity}",
                code="room_unsuitable",
            )
        missing = sorted(req.features - spec.features)
        if missing:
            names = ", ".join(FEATURE_NAMES.get(f, f) for f in missing)
            raise InvalidError(f"{room.name} mangler {names}", code="room_unsuitable")

    def _check_not_occupied(
        self, s: Session, room_id: str, booking: BookingRow, *, allocations: bool
    ) -> None:
        start, end = booking.busy_start, booking.busy_end
        name = self._room_name(room_id)
        if s.scalar(
            select(RoomBlockRow.id).where(
                RoomBlockRow.room_id == room_id,
                RoomBlockRow.active,
                RoomBlockRow.start < end,
                RoomBlockRow.end > start,
            )
        ):
            raise ConflictError(f"{name} er blokeret på det tidspunkt", code="room_blocked")
        if s.scalar(
            select(BusyRow.id).where(
                BusyRow.owner_kind == "room",
                BusyRow.owner_id == room_id,
                BusyRow.start < end,
                BusyRow.end > start,
            )
        ):
            raise ConflictError(
                f"{name} er optaget af en anden aftale i lokalets kalender", code="room_busy"
            )
        if allocations:
            taken = self._allocations_in(s, room_id, booking)
            if taken:
                raise ConflictError(
                    f"{name} er optaget af samtale {taken[0][1].reference} på det tidspunkt",
                    code="room_taken",
                )

    def _allocations_in(
        self, s: Session, room_id: str, booking: BookingRow
    ) -> list[tuple[RoomAllocationRow, BookingRow]]:
        rows = s.execute(
            select(RoomAllocationRow, BookingRow)
            .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
            .where(
                RoomAllocationRow.room_id == room_id,
                RoomAllocationRow.active,
                RoomAllocationRow.booking_id != booking.id,
                RoomAllocationRow.start < booking.busy_end,
                RoomAllocationRow.end > booking.busy_start,
            )
            .order_by(RoomAllocationRow.start)
        ).all()
        return [(a, b) for a, b in rows]

    def _release(self, alloc: RoomAllocationRow, now: datetime, reason: str) -> None:
        alloc.active = False
        alloc.released_at = now
        alloc.reason = reason

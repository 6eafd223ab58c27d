"""Re-housing: conversations that lost their room, or never got one, are placed by the allocator.

Two callers need it. Operations that take rooms away (a coordinator's pin or block, someone
occupying a room by hand) re-house the conversations they displace inside their own
transaction. And in the background the engine gives every coming in-person conversation
without a room one as soon as an assignment exists (``Rehousing.rehouse_roomless``), which
completes what a citizen's bounded booking call, a freed room or a released block left open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from syncd.domain.clock import Clock, utcnow
from syncd.domain.model import BookingStatus, Mode
from syncd.rooms import allocator
from syncd.rooms.model import AllocationPlan, AllocationRequest, Preferences
from syncd.store import readback
from syncd.store import rooms as room_ops
from syncd.store.db import Database
from syncd.store.directory import DirectoryIndex
from syncd.store.errors import ConflictError
from syncd.store.journal import audit, emit, enqueue_calendar_sync
from syncd.store.tables import BookingRow, BusyRow, RoomAllocationRow, RoomBlockRow

if TYPE_CHECKING:
    from syncd.runtime import Runtime

CONFLICT_BLOCKED = "Mødelokalet er blokeret, og intet andet egnet lokale er ledigt"
CONFLICT_DISPLACED = "Lokalet blev givet til en låst samtale, og intet andet egnet lokale er ledigt"
# Conflicts that are about the room only: solved once the conversation has a room again.
ROOM_CONFLICTS = frozenset(
    {
        readback.CONFLICT_NO_ROOM,
        readback.CONFLICT_ROOM_TAKEN,
        CONFLICT_BLOCKED,
        CONFLICT_DISPLACED,
    }
)
# The allocator's full search (its exact fallback included): coordinators and the engine
# wait for it; a citizen's booking call uses the bounded ``BOOKING_PREFERENCES`` instead.
FULL_SEARCH = Preferences()
# How far ahead ``rehouse_roomless`` looks for conversations without a room.
ROOMLESS_HORIZON = timedelta(days=120)
REHOUSE_LOCK = 4807298  # PostgreSQL advisory lock: one replica re-houses at a time


@dataclass(frozen=True)
class Rehoused:
    """A conversation that lost its room to an operation, and where it went (None: nowhere, so
    it is now a conflict)."""

    booking_id: str
    reference: str
    previous_room: str | None
    room_id: str | None


@contextmanager
def room_write(db: Database) -> Iterator[Session]:
    """One transaction; a concurrent writer that took the same room first (PostgreSQL's
    exclusion constraint) makes it a clean, retryable conflict."""
    try:
        with db.write() as s:
            yield s
    except IntegrityError:
        raise ConflictError(
            "Lokalerne blev ændret samtidig af en anden; prøv igen", code="concurrent_change"
        ) from None


def room_changed(
    s: Session, booking: BookingRow, previous: str | None, room: str | None, now: datetime
) -> None:
    """The conversation's room changed: the calendars and the front end must follow."""
    if room is not None and booking.conflict in ROOM_CONFLICTS:
        booking.conflict = None
    booking.updated_at = now
    booking.version += 1
    enqueue_calendar_sync(s, booking.id, "room_changed_by_coordinator", now)
    emit(
        s,
        "booking.room_changed",
        booking.id,
        {"reference": booking.reference, "room": room, "previous_room": previous},
        now,
    )


class Rehousing:
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

    @classmethod
    def for_runtime(cls, rt: Runtime) -> Rehousing:
        """Built per use, so a reloaded directory and the engine's wake-up are always current."""
        return cls(rt.db, rt.index, zone=rt.zone, clock=rt.clock, on_change=rt.bookings.on_change)

    # -- the background job ------------------------------------------------------------------

    def roomless_state(self) -> tuple[object, ...]:
        """Changes whenever re-housing could find something new: the conversations without a
        room, and any change to allocations, blocks or rooms' foreign meetings."""
        with self.db.read() as s:
            return self._roomless_state(s, self.clock())

    def rehouse_roomless(self) -> tuple[Rehoused, ...]:
        """Give every coming in-person conversation without a room one, wherever an assignment
        of all conversations to rooms exists (moving as few others as possible), with the
        allocator's full search. The engine runs this in the background: a citizen's booking
        call searches within a bound, and this completes what such a call left open. Those
        still without a room stay as they are (the dashboard lists them)."""
        # The search (which may take seconds) runs on a read transaction; the write transaction
        # only applies its plans, and only if nothing changed meanwhile (else: next round).
        # SQLite has one writer, and no booking should wait on a solver.
        state = self.roomless_state()
        if not state:
            return ()
        now = self.clock()
        with self.db.read() as s:
            plans: dict[tuple[str, ...], AllocationPlan] = {}
            for ids, group in self.by_day(self._roomless_soon(s, now)).items():
                plan = self.plan(s, group, now, FULL_SEARCH)
                if any(plan.assignments.get(b) for b in ids):
                    plans[ids] = plan
        if not plans:
            return ()
        planned = {b for ids in plans for b in ids}
        with room_write(self.db) as s:
            if not self.db.is_sqlite and not s.scalar(
                select(func.pg_try_advisory_xact_lock(REHOUSE_LOCK))
            ):
                return ()  # another replica is at it
            if self._roomless_state(s, now) != state:
                return ()  # changed while we searched: the next round looks again
            roomless = [b for b in self._roomless_soon(s, now) if b.id in planned]
            found = self.rehouse(
                s, roomless, now, actor="syncd", reason="lokale fundet", conflict=None,
                plans=plans,
            )  # fmt: skip
        if found and self.on_change is not None:
            self.on_change()
        return found

    def room_freed(
        self,
        s: Session,
        site_id: str,
        start: datetime,
        end: datetime,
        now: datetime,
        prefs: Preferences = FULL_SEARCH,
    ) -> tuple[Rehoused, ...]:
        """Inside the caller's transaction: a room at ``site_id`` became free in [start, end)
        (a cancellation, a rebooking); conversations there that have no room get one if the
        allocator can place them, and are left as they are otherwise. A citizen's request
        passes the bounded ``prefs`` of the booking path; what that leaves undecided,
        ``rehouse_roomless`` settles in the background."""
        waiting = [
            b
            for b in self.roomless(s, start, end, now)
            if site_id in self.index.caseworkers[b.caseworker_id].sites
        ]
        return self.rehouse(
            s, waiting, now, actor="syncd", reason="lokale frigivet", conflict=None, prefs=prefs
        )

    def _roomless_soon(self, s: Session, now: datetime) -> list[BookingRow]:
        return self.roomless(s, now, now + ROOMLESS_HORIZON, now)

    def _roomless_state(self, s: Session, now: datetime) -> tuple[object, ...]:
        ids = tuple(b.id for b in self._roomless_soon(s, now))
        if not ids:
            return ()
        ra, blk, busy = RoomAllocationRow, RoomBlockRow, BusyRow
        counts = s.execute(
            select(
                select(func.max(ra.id)).scalar_subquery(),
                select(func.count()).select_from(ra).where(ra.active).scalar_subquery(),
                select(func.max(blk.id)).scalar_subquery(),
                select(func.count()).select_from(blk).where(blk.active).scalar_subquery(),
                select(func.max(busy.id)).where(busy.owner_kind == "room").scalar_subquery(),
                select(func.count())
                .select_from(busy)
                .where(busy.owner_kind == "room")
                .scalar_subquery(),
            )
        ).one()
        return (ids, *counts)

    # -- shared with the coordinator's operations --------------------------------------------

    def rehouse(
        self,
        s: Session,
        bookings: Iterable[BookingRow],
        now: datetime,
        *,
        actor: str,
        reason: str,
        conflict: str | None,
        released: dict[str, str | None] | None = None,
        prefs: Preferences = FULL_SEARCH,
        plans: dict[tuple[str, ...], AllocationPlan] | None = None,
    ) -> tuple[Rehoused, ...]:
        """Release the rooms these conversations hold and let the allocator place them again
        (fewest moves of others), one local day at a time since allocations never span days.
        Those it cannot place become conflicts with ``conflict`` as the reason; with
        ``conflict=None`` they are left exactly as they were (nothing is reported for them).
        ``released`` names rooms the caller has released already (booking id -> room);
        ``plans`` holds plans computed beforehand for day groups (by their booking ids)."""
        todo = {b.id: b for b in bookings}
        if not todo:
            return ()
        previous = dict(released or {})
        for b_id in sorted(todo):
            if b_id not in previous:
                previous[b_id] = room_ops.release_room(s, b_id, now, reason)
        s.flush()
        out: list[Rehoused] = []
        for ids, group in self.by_day(todo.values()).items():
            ctx = self.context(s, group, now)
            plan = (plans or {}).get(ids) or self.plan(s, group, now, prefs, ctx)
            room_ops.apply_plan(
                s, plan, {b.id: b for b in group}, ctx, now, actor=actor, reason=reason
            )
            for b in group:
                room = plan.assignments.get(b.id)
                if room is None and conflict is None:
                    continue
                if room is None:
                    b.conflict = conflict
                    emit(
                        s,
                        "booking.room_lost",
                        b.id,
                        {"reference": b.reference, "room": previous[b.id]},
                        now,
                    )
                    b.updated_at = now
                    b.version += 1
                    enqueue_calendar_sync(s, b.id, "room_lost", now)
                else:
                    room_changed(s, b, previous[b.id], room, now)
                audit(
                    s,
                    actor,
                    "room.reallocated",
                    now,
                    booking_id=b.id,
                    room_id=room,
                    reason=reason,
                    previous_room=previous[b.id],
                )
                out.append(Rehoused(b.id, b.reference, previous[b.id], room))
        return tuple(out)

    def roomless(
        self, s: Session, start: datetime, end: datetime, now: datetime
    ) -> list[BookingRow]:
        """Confirmed in-person conversations in [start, end) that have not ended and have no
        room."""
        has_room = (
            select(RoomAllocationRow.id)
            .where(RoomAllocationRow.booking_id == BookingRow.id, RoomAllocationRow.active)
            .exists()
        )
        return list(
            s.scalars(
                select(BookingRow)
                .where(
                    BookingRow.status == BookingStatus.CONFIRMED.value,
                    BookingRow.mode == Mode.IN_PERSON.value,
                    BookingRow.busy_start < end,
                    BookingRow.busy_end > start,
                    BookingRow.end > now,
                    ~has_room,
                )
                .order_by(BookingRow.start)
            )
        )

    def request(self, booking: BookingRow, now: datetime) -> AllocationRequest:
        return room_ops.request_for(
            self.index,
            booking,
            current_room=None,
            pinned=False,
            frozen_before=room_ops.freeze_until(now, self.zone),
        )

    def context(
        self, s: Session, bookings: list[BookingRow], now: datetime
    ) -> room_ops.RoomContext:
        sites: set[str] = set()
        for b in bookings:
            sites |= self.index.caseworkers[b.caseworker_id].sites
        return room_ops.load_context(
            s,
            self.index,
            sites,
            min(b.busy_start for b in bookings),
            max(b.busy_end for b in bookings),
            now,
            self.zone,
        )

    def by_day(self, bookings: Iterable[BookingRow]) -> dict[tuple[str, ...], list[BookingRow]]:
        """Conversations by local day (allocations never span days), keyed by their ids."""
        days: dict[object, list[BookingRow]] = {}
        for b in sorted(bookings, key=lambda b: (b.busy_start, b.id)):
            days.setdefault(b.busy_start.astimezone(self.zone).date(), []).append(b)
        return {tuple(b.id for b in group): group for group in days.values()}

    def plan(
        self,
        s: Session,
        group: list[BookingRow],
        now: datetime,
        prefs: Preferences,
        ctx: room_ops.RoomContext | None = None,
    ) -> AllocationPlan:
        ctx = ctx or self.context(s, group, now)
        requests = [self.request(b, now) for b in group]
        return allocator.reallocate(requests, ctx.existing, ctx.rooms, ctx.occupied, prefs)

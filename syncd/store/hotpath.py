"""Statements of the booking hot path (reserve and confirm), built once.

Every citizen's booking runs these, so they are plain Core statements with bound parameters,
made at import: SQLAlchemy then neither rebuilds nor re-keys them per call, and PostgreSQL gets
the writes of one step as one statement (``Together``), which saves round trips. The meaning of
each statement is the same on SQLite and PostgreSQL; only how they travel differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    CTE,
    Executable,
    Select,
    String,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.sql.dml import UpdateBase

from syncd.domain.model import LIVE_STATUSES, BookingStatus
from syncd.store.tables import (
    AuditRow,
    BookingRow,
    CitizenRestrictionRow,
    EventFeedRow,
    OutboxRow,
    RoomAllocationRow,
    SlotRow,
)

HELD, EXPIRED = BookingStatus.HELD.value, BookingStatus.EXPIRED.value


class Together:
    """Writes that do not depend on each other's results, sent as one statement on PostgreSQL
    (all but the last as data-modifying CTEs) and one by one on SQLite (in process, where a
    round trip costs nothing). Parameter names must be distinct across the statements.

    Every parameter name here has a prefix no column has (``p_``, ``a_``, ``b_``): SQLAlchemy
    adds an executed INSERT's or UPDATE's parameters that are named like columns to its SET
    list, even in a CTE."""

    def __init__(self, *statements: UpdateBase) -> None:
        self.statements = statements
        *first, last = statements
        self.combined: Executable = (
            last.add_cte(*(s.cte(f"w{i}") for i, s in enumerate(first))) if first else last
        )

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(self.combined, dict(params))
            return
        for stmt in self.statements:
            conn.execute(stmt, dict(params))


def _bound(table: Any, prefix: str) -> dict[str, Any]:
    """``column = :prefix+column`` for every column of the table."""
    return {c.name: bindparam(prefix + c.name) for c in table.__table__.c}


def stale_hold_sweep() -> tuple[CTE, CTE]:
    """Expire holds past their time and free their rooms, as two data-modifying CTEs that ride
    along with a query sent anyway (PostgreSQL)."""
    expired = (
        update(BookingRow)
        .where(BookingRow.status == HELD, BookingRow.hold_expires_at <= bindparam("p_now"))
        .values(status=EXPIRED, updated_at=bindparam("p_now"))
        .returning(BookingRow.id)
        .cte("expired_holds")
    )
    released = (
        update(RoomAllocationRow)
        .where(RoomAllocationRow.active, RoomAllocationRow.booking_id.in_(select(expired.c.id)))
        .values(active=False, released_at=bindparam("p_now"), reason="hold udløbet")
        .cte("released_rooms")
    )
    return expired, released


def _slot_query() -> Select[Any]:
    r = CitizenRestrictionRow
    ref = bindparam("p_citizen")
    return select(
        SlotRow.id,
        SlotRow.caseworker_id,
        SlotRow.type_code,
        SlotRow.start,
        SlotRow.end,
        SlotRow.strakstid,
        SlotRow.withdrawn,
        exists().where(r.citizen_ref == ref, r.caseworker_id.is_(None)).label("citizen_withdrawn"),
        exists()
        .where(r.citizen_ref == ref, r.caseworker_id == SlotRow.caseworker_id)
        .label("caseworker_barred"),
    ).where(SlotRow.id == bindparam("p_slot"))


# Advisory lock space (PostgreSQL) for "one booking of this caseworker at a time".
CASEWORKER_LOCKS = 4807297


def _slot_and_lock() -> Select[Any]:
    return _slot_query().add_columns(
        func.pg_advisory_xact_lock(CASEWORKER_LOCKS, func.hashtext(SlotRow.caseworker_id))
        .cast(String)
        .label("locked")
    )


# The slot with the citizen's restrictions (fratagelse). The PostgreSQL forms also take the
# caseworker's lock until commit, which serialises her bookings for the weekly cap (a later
# statement, with a later snapshot, counts them), and may sweep expired holds on the way.
SLOT = _slot_query()
SLOT_AND_LOCK = _slot_and_lock()
SLOT_SWEEP_AND_LOCK = _slot_and_lock().add_cte(*stale_hold_sweep())

_others = (
    BookingRow.caseworker_id == bindparam("p_cw"),
    BookingRow.status.in_(LIVE_STATUSES),
    BookingRow.id != bindparam("p_ignore"),
)
# A live, exclusive booking of the caseworker overlapping her busy time (SQLite; PostgreSQL's
# exclusion constraint refuses it on write instead).
TIME_TAKEN = exists().where(
    *_others,
    BookingRow.exclusive,
    BookingRow.busy_start < bindparam("p_busy_end"),
    BookingRow.busy_end > bindparam("p_busy_start"),
)
# Live bookings of the caseworker starting in the week (for her weekly cap).
WEEK_COUNT = (
    select(func.count())
    .select_from(BookingRow)
    .where(
        *_others,
        BookingRow.start >= bindparam("p_week_start"),
        BookingRow.start < bindparam("p_week_end"),
    )
    .scalar_subquery()
)
CHECK_TIME = select(TIME_TAKEN.label("taken"))
CHECK_CAP = select(WEEK_COUNT.label("booked"))
CHECK_TIME_AND_CAP = select(TIME_TAKEN.label("taken"), WEEK_COUNT.label("booked"))


def _audit(prefix: str) -> UpdateBase:
    return insert(AuditRow).values(
        at=bindparam("p_now"),
        actor=bindparam(prefix + "actor"),
        action=bindparam(prefix + "action"),
        booking_id=bindparam("p_booking"),
        room_id=None,
        reason="",
        details=bindparam(prefix + "details"),
    )


# The new hold and its audit line.
INSERT_HOLD = Together(
    insert(BookingRow).values(_bound(BookingRow, "b_")),
    _audit("a_"),
)

# The room for a booking when no other allocation moves; on PostgreSQL a concurrent booking
# that took the room first makes it return no row (no savepoint needed).
_ROOM_VALUES = {
    "booking_id": bindparam("p_booking"),
    "room_id": bindparam("p_room"),
    "start": bindparam("p_busy_start"),
    "end": bindparam("p_busy_end"),
    "active": True,
    "pinned": False,
    "created_at": bindparam("p_now"),
    "reason": bindparam("p_reason"),
}
CLAIM_ROOM = insert(RoomAllocationRow).values(_ROOM_VALUES)
CLAIM_ROOM_UNLESS_TAKEN = (
    pg_insert(RoomAllocationRow)
    .values(_ROOM_VALUES)
    .on_conflict_do_nothing()
    .returning(RoomAllocationRow.id)
)


def _hold_query() -> Select[Any]:
    room = (
        select(RoomAllocationRow.room_id)
        .where(RoomAllocationRow.booking_id == BookingRow.id, RoomAllocationRow.active)
        .limit(1)
        .scalar_subquery()
    )
    return select(*BookingRow.__table__.c, room.label("room_id")).where(
        BookingRow.id == bindparam("p_booking")
    )


# The booking's columns and its active room; the locking form for PostgreSQL.
HOLD = _hold_query()
HOLD_LOCKED = _hold_query().with_for_update(of=BookingRow)

# Confirming: the status, the calendar work, the front end's event and the audit line.
CONFIRM = Together(
    update(BookingRow)
    .where(BookingRow.id == bindparam("p_booking"))
    .values(
        status=BookingStatus.CONFIRMED.value,
        confirmed_at=bindparam("p_now"),
        hold_expires_at=None,
        updated_at=bindparam("p_now"),
        version=BookingRow.version + 1,
    ),
    insert(OutboxRow).values(
        booking_id=bindparam("p_booking"),
        reason="confirmed",
        created_at=bindparam("p_now"),
        attempts=0,
        next_attempt_at=bindparam("p_now"),
    ),
    insert(EventFeedRow).values(
        at=bindparam("p_now"),
        type="booking.confirmed",
        booking_id=bindparam("p_booking"),
        payload=bindparam("p_payload"),
        attempts=0,
        next_attempt_at=bindparam("p_now"),
    ),
    _audit("a_"),
)


def first_row(conn: Connection, stmt: Executable, params: Mapping[str, Any]) -> Any:
    result: CursorResult[Any] = conn.execute(stmt, dict(params))  # type: ignore[assignment]
    return result.first()

"""Booking conversations and reading rooms back, for the coordination and statistics tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from syncd.domain.model import Mode
from syncd.runtime import Runtime
from syncd.store.bookings import BookingView
from syncd.store.coordination import CoordinationService
from syncd.store.offers import OfferQuery, find_offers
from syncd.store.tables import AuditRow, EventFeedRow, OutboxRow, RoomAllocationRow
from tests.store.helpers import publish
from tests.support.jobcentre import NOW, at


def open_tuesday(rt: Runtime, *caseworkers: str) -> None:
    for cw in caseworkers or ("mette", "lars", "pia"):
        publish(rt, cw, [(at(0, 9), at(0, 12))])


def book(
    rt: Runtime,
    caseworker: str,
    start: datetime,
    *,
    type_code: str = "jobsamtale",
    mode: Mode = Mode.IN_PERSON,
    citizen: str = "citizen-1",
    staff: bool = False,
) -> BookingView:
    with rt.db.read() as s:
        found = find_offers(
            s,
            rt.index,
            OfferQuery(
                start=NOW,
                end=NOW + timedelta(days=30),
                type_code=type_code,
                caseworker_id=caseworker,
                modes=(mode,),
                include_strakstid=staff,
            ),
            rt.clock(),
            rt.zone,
        )
    offer = next(o for o in found if o.start == start)
    hold = rt.bookings.reserve(
        offer.offer_id,
        citizen,
        staff=staff,
        client="test",
        booked_by="staff" if staff else "citizen",
    )
    return rt.bookings.confirm(hold.id, client="test")


def coordination(rt: Runtime) -> CoordinationService:
    return CoordinationService.for_runtime(rt)


def room_of(rt: Runtime, booking_id: str) -> str | None:
    with rt.db.read() as s:
        return s.scalar(
            select(RoomAllocationRow.room_id).where(
                RoomAllocationRow.booking_id == booking_id, RoomAllocationRow.active
            )
        )


def pinned(rt: Runtime, booking_id: str) -> bool:
    with rt.db.read() as s:
        return bool(
            s.scalar(
                select(RoomAllocationRow.pinned).where(
                    RoomAllocationRow.booking_id == booking_id, RoomAllocationRow.active
                )
            )
        )


def audit_lines(rt: Runtime, action: str | None = None) -> list[AuditRow]:
    with rt.db.read() as s:
        q = select(AuditRow).order_by(AuditRow.id)
        if action:
            q = q.where(AuditRow.action == action)
        return list(s.scalars(q))


def outbox_for(rt: Runtime, booking_id: str) -> list[str]:
    with rt.db.read() as s:
        return list(
            s.scalars(
                select(OutboxRow.reason)
                .where(OutboxRow.booking_id == booking_id)
                .order_by(OutboxRow.id)
            )
        )


def events_for(rt: Runtime, booking_id: str) -> list[str]:
    with rt.db.read() as s:
        return list(
            s.scalars(
                select(EventFeedRow.type)
                .where(EventFeedRow.booking_id == booking_id)
                .order_by(EventFeedRow.id)
            )
        )


def nine(day: int = 0) -> datetime:
    return at(day, 9)

"""The event feed: what happened to bookings, in order, for the caller to follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from syncd.api.deps import ERRORS, Authed, Rt
from syncd.api.schemas import EventOut, EventsOut
from syncd.inputs import INT_MAX
from syncd.store.tables import BookingRow, EventFeedRow

router = APIRouter()


@router.get("/api/v1/events", response_model=EventsOut, responses=ERRORS)
def events(
    who: Authed,
    rt: Rt,
    after: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventsOut:
    """What happened to bookings, in order (confirmed, cancelled, rebooked, moved in a calendar,
    room changes, conflicts). Poll with `after` = the last `next_after`. A key sees the events
    of the bookings it made; a staff key sees every event."""
    query = select(EventFeedRow).where(EventFeedRow.id > after)
    if who.owner is not None:
        # An event belongs to the client whose booking it is about (booking ids, references,
        # caseworkers and times are that client's business); events about no booking: staff.
        query = query.join(BookingRow, BookingRow.id == EventFeedRow.booking_id).where(
            BookingRow.client == who.owner
        )
    with rt.db.read() as s:
        rows = list(s.scalars(query.order_by(EventFeedRow.id).limit(limit)))
    return EventsOut(
        events=[
            EventOut(id=r.id, at=r.at, type=r.type, booking_id=r.booking_id, payload=r.payload)
            for r in rows
        ],
        next_after=rows[-1].id if rows else after,
    )

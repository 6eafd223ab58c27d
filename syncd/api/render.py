"""Bookings as the API shows them (with the room's name and location)."""

from __future__ import annotations

from fastapi.responses import Response

from syncd.api.deps import json_response
from syncd.api.schemas import BookingOut
from syncd.domain.model import Mode
from syncd.runtime import Runtime
from syncd.store.bookings import BookingView


def booking_out(rt: Runtime, view: BookingView) -> BookingOut:
    room = rt.index.rooms.get(view.room_id) if view.room_id else None
    site = rt.index.sites.get(room.site_id) if room else None
    return BookingOut(
        id=view.id,
        reference=view.reference,
        status=view.status,
        caseworker_id=view.caseworker_id,
        type=view.type_code,
        mode=Mode(view.mode),
        start=view.start,
        end=view.end,
        room_id=view.room_id,
        room_name=room.name if room else None,
        location=f"{room.name}, {site.name}" if room and site else None,
        hold_expires_at=view.hold_expires_at,
        cancelled_by=view.cancelled_by,
        conflict=view.conflict,
    )


def booking_json(rt: Runtime, view: BookingView, status_code: int = 200) -> Response:
    return json_response(booking_out(rt, view), status_code)

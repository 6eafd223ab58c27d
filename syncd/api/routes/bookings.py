"""Confirmed bookings: read, cancel, move to another offer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from syncd.api.deps import ERRORS, Authed, PathId, Rt
from syncd.api.idempotency import IdempotencyKey, idempotent
from syncd.api.render import booking_json
from syncd.api.schemas import BookingOut, CancelIn, RebookIn
from syncd.domain.model import CancelledBy

router = APIRouter()


@router.get("/api/v1/bookings/{booking_id}", response_model=BookingOut, responses=ERRORS)
def get_booking(booking_id: PathId, who: Authed, rt: Rt) -> Response:
    """A booking with its room and location. Only the client that made it, or a staff key."""
    return booking_json(rt, rt.bookings.get(booking_id, owner=who.owner))


@router.post("/api/v1/bookings/{booking_id}/cancel", response_model=BookingOut, responses=ERRORS)
def cancel(
    booking_id: PathId,
    who: Authed,
    rt: Rt,
    request: Request,
    body: CancelIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Cancel a confirmed booking on the citizen's behalf; the calendars lose it. Cancelling twice is harmless. `reason` may not hold a CPR number."""

    def act() -> Response:
        view = rt.bookings.cancel(
            booking_id,
            by=CancelledBy.CITIZEN,
            actor=who.name,
            reason=body.reason if body else "",
            owner=who.owner,
        )
        return booking_json(rt, view)

    return idempotent(rt, who, request, idempotency_key, body, act)


@router.post("/api/v1/bookings/{booking_id}/rebook", response_model=BookingOut, responses=ERRORS)
def rebook(
    booking_id: PathId,
    body: RebookIn,
    who: Authed,
    rt: Rt,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Move a confirmed booking to another offer in one step: never two bookings, never none."""

    def act() -> Response:
        view = rt.bookings.rebook(
            booking_id, body.offer_id, client=who.name, staff=who.staff, owner=who.owner
        )
        return booking_json(rt, view)

    return idempotent(rt, who, request, idempotency_key, body, act)

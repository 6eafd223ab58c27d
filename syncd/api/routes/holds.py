"""Holds: a reserved offer that becomes a booking when confirmed, or lapses."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from syncd.api.deps import BOOKING_LINKS, ERRORS, HOLD_LINKS, Authed, PathId, Rt, linked
from syncd.api.idempotency import IdempotencyKey, idempotent
from syncd.api.render import booking_json
from syncd.api.schemas import BookingOut, HoldIn

router = APIRouter()


@router.post(
    "/api/v1/holds",
    response_model=BookingOut,
    status_code=201,
    responses=linked(201, HOLD_LINKS),
)
def reserve(
    body: HoldIn, who: Authed, rt: Rt, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    """Hold an offer for a citizen (10 minutes by default), with a room for an in-person conversation. Confirm it to book. Send an `Idempotency-Key` to retry safely."""

    def act() -> Response:
        view = rt.bookings.reserve(
            body.offer_id,
            body.citizen_ref,
            needs_wheelchair=body.needs_wheelchair,
            client=who.name,
            staff=who.staff,
            booked_by=body.booked_by or who.books_as,  # type: ignore[arg-type]
            deadline=body.deadline,
        )
        return booking_json(rt, view, 201)

    return idempotent(rt, who, request, idempotency_key, body, act)


@router.get("/api/v1/holds/{hold_id}", response_model=BookingOut, responses=ERRORS)
def get_hold(hold_id: PathId, who: Authed, rt: Rt) -> Response:
    """A hold (or the booking it became). Only the client that made it, or a staff key."""
    return booking_json(rt, rt.bookings.get(hold_id, owner=who.owner))


@router.post(
    "/api/v1/holds/{hold_id}/confirm",
    response_model=BookingOut,
    responses=linked(200, BOOKING_LINKS),
)
def confirm(
    hold_id: PathId, who: Authed, rt: Rt, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    """Turn a hold into a booking; the caseworker's (and the room's) calendar get it. Confirming twice is harmless."""
    return idempotent(
        rt, who, request, idempotency_key, None,
        lambda: booking_json(rt, rt.bookings.confirm(hold_id, client=who.name, owner=who.owner)),
    )  # fmt: skip


@router.delete("/api/v1/holds/{hold_id}", response_model=BookingOut, responses=ERRORS)
def release(hold_id: PathId, who: Authed, rt: Rt) -> Response:
    """Give a hold up before it lapses; the time is free again at once."""
    return booking_json(rt, rt.bookings.release(hold_id, client=who.name, owner=who.owner))

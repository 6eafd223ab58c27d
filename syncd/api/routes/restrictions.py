"""Restrictions: a citizen withdrawn from self-booking, or barred from one caseworker."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from syncd.api.deps import ERRORS, Authed, PathId, Rt
from syncd.api.idempotency import IdempotencyKey, idempotent
from syncd.api.schemas import RestrictionIn
from syncd.store.errors import ForbiddenError

router = APIRouter()


@router.post("/api/v1/restrictions", status_code=204, responses=ERRORS)
def add_restriction(
    body: RestrictionIn,
    who: Authed,
    rt: Rt,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Withdraw a citizen from self-booking (no `caseworker_id`) or bar her from one caseworker."""

    def act() -> Response:
        rt.bookings.add_restriction(body.citizen_ref, body.caseworker_id, body.reason, who.name)
        return Response(status_code=204)

    return idempotent(rt, who, request, idempotency_key, body, act)


@router.delete("/api/v1/restrictions/{citizen_ref}", status_code=204, responses=ERRORS)
def remove_restriction(citizen_ref: PathId, who: Authed, rt: Rt) -> None:
    """Lifting a restriction is a caseworker's decision: staff keys only."""
    if not who.staff:
        raise ForbiddenError("only a staff key may lift a restriction", code="staff_only")
    rt.bookings.remove_restrictions(citizen_ref, who.name)

"""Kapacitet: demand counts in (staff), the forecast out (staff).

Demand is aggregates only: a body that looks like a list of people, or holds a CPR number
anywhere, is refused with 422 naming the row and field, and nothing of it is stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse

from syncd import capacity_report as reports
from syncd.api.deps import ERRORS, Authed, Rt
from syncd.api.errors import error_response
from syncd.capacity.demand import DemandError, parse_rows
from syncd.store.capacity import save_demand

router = APIRouter()
MAX_ROWS = 5000

DEMAND_EXAMPLE = {
    "rows": [
        {
            "site": "lilleby",
            "team": "Dagpenge",
            "type": "jobsamtale",
            "deadline_week": "2027-W07",
            "latest_date": "2027-02-26",
            "count": 14,
        }
    ]
}


def _staff(who: Any) -> None:
    if not who.staff:
        raise HTTPException(403, "a staff key is needed")


@router.post("/api/v1/demand", responses=ERRORS)
def post_demand(
    who: Authed,
    rt: Rt,
    body: dict[str, Any] = Body(..., examples=[DEMAND_EXAMPLE]),
) -> JSONResponse:
    """Citizens per site (team optional), conversation type and deadline week, with the latest
    date the conversation may be held. A newer count for the same key replaces the older."""
    _staff(who)
    rows = body.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return error_response(422, "invalid_request", "rows: a list of objects is required")
    if len(rows) > MAX_ROWS:
        return error_response(422, "invalid_request", f"rows: at most {MAX_ROWS}")
    extra = sorted(k for k in body if k != "rows")
    if extra:
        return error_response(422, "invalid_request", f"unknown field(s): {', '.join(extra)}")
    try:
        items = parse_rows(
            rows,
            sites=rt.index.sites,
            types=rt.index.types,
            where="rows item",
            first_row=0,
        )
    except DemandError as exc:
        return error_response(422, "invalid_demand", str(exc))
    with rt.db.write() as s:
        written = save_demand(s, items, source=f"api:{who.name}", now=rt.clock())
    reports.reports_of(rt).invalidate()
    return JSONResponse({"stored": written, "citizens": sum(d.count for d in items)})


@router.get("/api/v1/capacity", responses=ERRORS)
def get_capacity(who: Authed, rt: Rt) -> JSONResponse:
    """The forecast per site, type and week, the advice and the learned behaviour."""
    _staff(who)
    return JSONResponse(reports.to_json(reports.reports_of(rt).current()))

"""What is failing, for staff keys (the same query as ``syncd status``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from syncd.api.deps import ERRORS, Authed, Rt
from syncd.store import stats
from syncd.store.errors import ForbiddenError

router = APIRouter()


@router.get("/api/v1/status", responses=ERRORS)
def status(who: Authed, rt: Rt) -> dict[str, Any]:
    """For staff keys: calendars with errors or back-off, quarantined items, failing writes."""
    if not who.staff:
        raise ForbiddenError("a staff key is needed", code="staff_only")
    with rt.db.read() as s:
        trouble = stats.failing(s, rt.index)
    return {
        "calendars_with_errors": [
            {
                "calendar": c.calendar_id,
                "kind": c.kind,
                "owner": c.owner_id,
                "last_success_at": c.last_success_at,
                "error": c.last_error,
                "backoff_until": c.backoff_until,
            }
            for c in trouble.calendars
        ],
        "quarantined": [
            {
                "calendar": q.calendar_id,
                "href": q.href,
                "uid": q.uid,
                "summary": q.summary,
                "reason": q.reason,
                "since": q.first_seen,
            }
            for q in trouble.quarantined
        ],
        "outbox_failing": [
            {"id": o.id, "booking_id": o.booking_id, "attempts": o.attempts, "error": o.last_error}
            for o in trouble.outbox
        ],
    }

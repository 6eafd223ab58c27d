"""Side records every operation writes in its own transaction: the outbox (calendar work to do),
the event feed (what the front end must hear) and the audit log (who did what, why)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from syncd.store.tables import AuditRow, EventFeedRow, OutboxRow


def enqueue_calendar_sync(session: Session, booking_id: str, reason: str, now: datetime) -> None:
    session.add(
        OutboxRow(
            booking_id=booking_id,
            reason=reason,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )


def emit(
    session: Session, type_: str, booking_id: str | None, payload: dict[str, Any], now: datetime
) -> None:
    session.add(
        EventFeedRow(
            at=now,
            type=type_,
            booking_id=booking_id,
            payload=payload,
            attempts=0,
            next_attempt_at=now,
        )
    )


def audit(
    session: Session,
    actor: str,
    action: str,
    now: datetime,
    *,
    booking_id: str | None = None,
    room_id: str | None = None,
    reason: str = "",
    **details: Any,
) -> None:
    session.add(
        AuditRow(
            at=now,
            actor=actor,
            action=action,
            booking_id=booking_id,
            room_id=room_id,
            reason=reason,
            details=details,
        )
    )

"""Publishing: a caseworker's windows and busy time become slots in the store.

Free slots that no longer fit are withdrawn at once; booked conversations are never dropped
silently: a booking that no longer sits inside a window, or collides with busy time, is flagged
as a conflict for follow-up (and cleared again when the calendar comes back in line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from syncd.domain.model import BookingStatus
from syncd.domain.slots import Interval, SlotSpec, WindowOccurrence, cut_slots
from syncd.store.directory import DirectoryIndex
from syncd.store.journal import emit
from syncd.store.tables import BookingRow, BusyRow, SlotRow, WindowRow

CONFLICT_NO_WINDOW = "Samtalen ligger ikke længere i et selvbookingvindue"
CONFLICT_BUSY = "Sagsbehandleren har en anden aftale på tidspunktet"


@dataclass(frozen=True)
class PublishResult:
    published: int
    withdrawn: int
    new_conflicts: list[str]


def publish_caseworker(
    s: Session,
    index: DirectoryIndex,
    caseworker_id: str,
    windows: Sequence[WindowOccurrence],
    busy: Sequence[Interval],
    *,
    horizon: tuple[datetime, datetime],
    zone: ZoneInfo,
    closing_days: frozenset[date] = frozenset(),
    strakstid_share: float = 0.0,
    now: datetime,
) -> PublishResult:
    h_start, h_end = horizon
    cw = index.caseworkers[caseworker_id]
    specs = [
        spec
        for spec in cut_slots(
            windows,
            busy,
            index.directory.conversation_types,
            cw.conversation_types,
            zone=zone,
            closing_days=closing_days,
            strakstid_share=strakstid_share,
        )
        if h_start <= spec.start < h_end
    ]
    _replace_windows_and_busy(s, caseworker_id, windows, busy, horizon)
    withdrawn = _upsert_slots(s, caseworker_id, specs, horizon)
    conflicts = _flag_conflicts(s, caseworker_id, windows, busy, horizon, now)
    return PublishResult(len(specs), withdrawn, conflicts)


def _replace_windows_and_busy(
    s: Session,
    caseworker_id: str,
    windows: Sequence[WindowOccurrence],
    busy: Sequence[Interval],
    horizon: tuple[datetime, datetime],
) -> None:
    s.execute(delete(WindowRow).where(WindowRow.caseworker_id == caseworker_id))
    s.execute(
        delete(BusyRow).where(BusyRow.owner_kind == "caseworker", BusyRow.owner_id == caseworker_id)
    )
    for w in windows:
        if w.end > horizon[0] and w.start < horizon[1]:
            s.add(
                WindowRow(
                    caseworker_id=caseworker_id,
                    start=w.start,
                    end=w.end,
                    conversation_types=list(w.conversation_types) if w.conversation_types else None,
                    source=w.source,
                )
            )
    for b_start, b_end in busy:
        if b_end > horizon[0] and b_start < horizon[1]:
            s.add(
                BusyRow(owner_kind="caseworker", owner_id=caseworker_id, start=b_start, end=b_end)
            )


def _upsert_slots(
    s: Session, caseworker_id: str, specs: Sequence[SlotSpec], horizon: tuple[datetime, datetime]
) -> int:
    wanted = {spec.slot_id: spec for spec in specs}
    existing = {
        row.id: row
        for row in s.scalars(
            select(SlotRow).where(
                SlotRow.caseworker_id == caseworker_id,
                SlotRow.start >= horizon[0],
                SlotRow.start < horizon[1],
            )
        )
    }
    withdrawn = 0
    for slot_id, row in existing.items():
        spec = wanted.get(slot_id)
        if spec is None:
            if not row.withdrawn:
                row.withdrawn = True
                withdrawn += 1
            continue
        row.withdrawn = False
        row.end = spec.end
        row.strakstid = spec.strakstid
        row.source = spec.source[:500]
    for slot_id, spec in wanted.items():
        if slot_id not in existing:
            s.add(
                SlotRow(
                    id=slot_id,
                    caseworker_id=caseworker_id,
                    type_code=spec.type_code,
                    start=spec.start,
                    end=spec.end,
                    strakstid=spec.strakstid,
                    withdrawn=False,
                    source=spec.source[:500],
                )
            )
    return withdrawn


def _inside(start: datetime, end: datetime, intervals: Sequence[Interval]) -> bool:
    return any(w_start <= start and end <= w_end for w_start, w_end in intervals)


def _flag_conflicts(
    s: Session,
    caseworker_id: str,
    windows: Sequence[WindowOccurrence],
    busy: Sequence[Interval],
    horizon: tuple[datetime, datetime],
    now: datetime,
) -> list[str]:
    window_intervals = [(w.start, w.end) for w in windows]
    new_conflicts = []
    for booking in s.scalars(
        select(BookingRow).where(
            BookingRow.caseworker_id == caseworker_id,
            BookingRow.status == BookingStatus.CONFIRMED.value,
            BookingRow.start >= horizon[0],
            BookingRow.start < horizon[1],
        )
    ):
        if booking.conflict not in (None, CONFLICT_NO_WINDOW, CONFLICT_BUSY):
            continue  # a room conflict or the like: not publishing's to judge
        reason = None
        placed_on_purpose = not booking.self_booked or booking.slot_id.startswith("moved:")
        if not placed_on_purpose and not _inside(booking.start, booking.end, window_intervals):
            reason = CONFLICT_NO_WINDOW
        if any(b_start < booking.end and booking.start < b_end for b_start, b_end in busy):
            reason = CONFLICT_BUSY
        if reason != booking.conflict:
            booking.conflict = reason
            booking.updated_at = now
            if reason:
                new_conflicts.append(booking.id)
                emit(
                    s,
                    "booking.conflict",
                    booking.id,
                    {"reference": booking.reference, "reason": reason},
                    now,
                )
    return new_conflicts

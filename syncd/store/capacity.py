"""Kapacitet in the store: demand counts, booking history as facts, and what each week offers.

The history and supply are read here and handed to the pure forecast in ``syncd.capacity``.
Nothing here returns a citizen: ``citizen_ref`` is read only to tell a rebooking from a first
booking, and never leaves this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncd.capacity.behaviour import BookingFact
from syncd.capacity.demand import DemandCount, monday_of
from syncd.capacity.forecast import WeekCapacity
from syncd.capacity.supply import CaseworkerWeek, offers_by_type, pools
from syncd.domain.holidays import is_closed
from syncd.domain.model import LIVE_STATUSES, BookingStatus, Mode
from syncd.store.directory import DirectoryIndex
from syncd.store.tables import (
    BookingRow,
    BusyRow,
    DemandRow,
    RoomAllocationRow,
    RoomBlockRow,
    SlotRow,
    WindowRow,
)

WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag")
DAYPARTS = (("formiddag", 8, 12), ("eftermiddag", 12, 16))  # local hours rooms are counted
HISTORY_WEEKS = 26


# -- demand ----------------------------------------------------------------------------------


def save_demand(s: Session, items: Iterable[DemandCount], *, source: str, now: datetime) -> int:
    """Store the counts; a newer report for the same site, team, type and week replaces the
    older count. Returns how many rows were written."""
    n = 0
    for d in items:
        row = s.scalars(
            select(DemandRow).where(
                DemandRow.site_id == d.site_id,
                DemandRow.team == (d.team or ""),
                DemandRow.type_code == d.type_code,
                DemandRow.deadline_week == d.deadline_week,
            )
        ).one_or_none()
        if row is None:
            row = DemandRow(
                site_id=d.site_id,
                team=d.team or "",
                type_code=d.type_code,
                deadline_week=d.deadline_week,
            )
            s.add(row)
        row.latest_date = d.latest_date
        row.count = d.count
        row.source = source[:200]
        row.updated_at = now
        n += 1
    return n


def load_demand(s: Session, first_week: date, last_week: date) -> list[DemandCount]:
    rows = s.scalars(
        select(DemandRow)
        .where(DemandRow.deadline_week >= first_week, DemandRow.deadline_week <= last_week)
        .order_by(DemandRow.deadline_week, DemandRow.site_id, DemandRow.type_code)
    )
    return [
        DemandCount(r.site_id, r.type_code, r.deadline_week, r.latest_date, r.count, r.team or None)
        for r in rows
    ]


# -- history ---------------------------------------------------------------------------------


def history(
    s: Session, index: DirectoryIndex, zone: ZoneInfo, now: datetime, weeks: int = HISTORY_WEEKS
) -> list[BookingFact]:
    """Every confirmed or cancelled booking made in the last ``weeks`` weeks, as a fact."""
    since = now - timedelta(weeks=weeks)
    rows = s.execute(
        select(
            BookingRow.citizen_ref,
            BookingRow.caseworker_id,
            BookingRow.type_code,
            BookingRow.mode,
            BookingRow.status,
            BookingRow.start,
            BookingRow.created_at,
            BookingRow.updated_at,
            BookingRow.booked_by,
            BookingRow.deadline,
            SlotRow.strakstid,
        )
        .outerjoin(SlotRow, SlotRow.id == BookingRow.slot_id)
        .where(
            BookingRow.created_at >= since,
            BookingRow.status.in_([BookingStatus.CONFIRMED.value, BookingStatus.CANCELLED.value]),
        )
        .order_by(BookingRow.created_at, BookingRow.id)
    ).all()
    cancelled_before: set[tuple[str, str]] = set()
    facts = []
    for r in rows:
        cw = index.caseworkers.get(r.caseworker_id)
        ctype = index.types.get(r.type_code)
        if cw is None or ctype is None:
            continue
        key = (r.citizen_ref, r.type_code)
        cancelled = r.status == BookingStatus.CANCELLED.value
        staff = r.booked_by != "citizen"
        facts.append(
            BookingFact(
                site_id=cw.site_id,
                type_code=r.type_code,
                booked_on=r.created_at.astimezone(zone).date(),
                held_on=r.start.astimezone(zone).date(),
                self_booked=not staff,
                in_person=r.mode == Mode.IN_PERSON.value,
                cancelled_on=r.updated_at.astimezone(zone).date() if cancelled else None,
                cancelled_late=cancelled
                and r.start - r.updated_at < timedelta(minutes=ctype.min_notice_minutes),
                rebooked=key in cancelled_before and not staff,
                strakstid=bool(r.strakstid) and staff,
                deadline=r.deadline,
            )
        )
        if cancelled:
            cancelled_before.add(key)
    return facts


# -- supply ----------------------------------------------------------------------------------


@dataclass
class Supply:
    """What the weeks offer, as the forecast takes it."""

    capacity: list[WeekCapacity] = field(default_factory=list)
    pools: dict[tuple[str, date], dict[frozenset[str], tuple[int, ...]]] = field(
        default_factory=dict
    )
    steps: dict[str, int] = field(default_factory=dict)


def _minutes(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds() / 60)


def _overlap(a: datetime, b: datetime, lo: datetime, hi: datetime) -> float:
    return _minutes(max(a, lo), min(b, hi))


def supply(
    s: Session,
    index: DirectoryIndex,
    zone: ZoneInfo,
    weeks: Sequence[date],
    demand: Sequence[DemandCount],
    closing_days: frozenset[date] = frozenset(),
) -> Supply:
    """Offers, rooms, strakstid reserve and bookings so far, per site, type and week."""
    weeks = sorted({monday_of(w) for w in weeks})
    if not weeks:
        return Supply()
    lo = datetime.combine(weeks[0], time(0), zone)
    hi = datetime.combine(weeks[-1] + timedelta(days=7), time(0), zone)
    steps = {c: int(t.step.total_seconds() // 60) for c, t in index.types.items()}
    cw_weeks = _caseworker_weeks(s, index, zone, lo, hi, closing_days)
    weights: dict[tuple[str, str, date], float] = defaultdict(float)
    for d in demand:
        weights[(d.site_id, d.type_code, d.deadline_week)] += d.count
    offers = offers_by_type(cw_weeks, steps, weights or None)
    booked, in_person = _booked(s, index, zone, lo, hi)
    reserve = _strakstid(s, index, zone, lo, hi)
    rooms = _rooms(s, index, zone, weeks, closing_days, steps)
    keys = set(offers) | set(booked) | set(reserve)
    out = Supply(pools=pools(cw_weeks, steps), steps=steps)
    for key in sorted(keys):
        site_id, type_code, week = key
        if week not in weeks:
            continue
        daily = offers.get(key, (0,) * 7)
        free = rooms.get(key)
        out.capacity.append(
            WeekCapacity(
                site_id,
                type_code,
                week,
                offers=sum(daily),
                room_places=sum(n for _, n in free) if free is not None else None,
                strakstid=reserve.get(key, 0),
                booked=booked.get(key, 0),
                booked_in_person=in_person.get(key, 0),
                room_free=free or (),
                daily=daily,
            )
        )
    return out


def _caseworker_weeks(
    s: Session,
    index: DirectoryIndex,
    zone: ZoneInfo,
    lo: datetime,
    hi: datetime,
    closing_days: frozenset[date],
) -> list[CaseworkerWeek]:
    busy: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for b in s.execute(
        select(BusyRow.owner_id, BusyRow.start, BusyRow.end).where(
            BusyRow.owner_kind == "caseworker", BusyRow.start < hi, BusyRow.end > lo
        )
    ):
        busy[b.owner_id].append((b.start, b.end))
    per: dict[tuple[str, date], list[tuple[int, int]]] = defaultdict(list)
    for w in s.execute(
        select(WindowRow.caseworker_id, WindowRow.start, WindowRow.end).where(
            WindowRow.start < hi, WindowRow.end > lo
        )
    ):
        day = w.start.astimezone(zone).date()
        if is_closed(day, closing_days):
            continue
        minutes = _minutes(w.start, w.end) - sum(
            _overlap(a, b, w.start, w.end) for a, b in busy.get(w.caseworker_id, ())
        )
        per[(w.caseworker_id, monday_of(day))].append((day.weekday(), int(minutes)))
    out = []
    for (cw_id, week), windows in sorted(per.items()):
        cw = index.caseworkers.get(cw_id)
        if cw is None:
            continue
        types = cw.conversation_types or tuple(index.types)
        out.append(CaseworkerWeek(cw.site_id, week, types, tuple(windows), cw.weekly_cap))
    return out


def _booked(
    s: Session, index: DirectoryIndex, zone: ZoneInfo, lo: datetime, hi: datetime
) -> tuple[dict[tuple[str, str, date], int], dict[tuple[str, str, date], int]]:
    booked: dict[tuple[str, str, date], int] = defaultdict(int)
    in_person: dict[tuple[str, str, date], int] = defaultdict(int)
    for r in s.execute(
        select(
            BookingRow.caseworker_id, BookingRow.type_code, BookingRow.start, BookingRow.mode
        ).where(
            BookingRow.status.in_(LIVE_STATUSES),
            BookingRow.booked_by == "citizen",
            BookingRow.start >= lo,
            BookingRow.start < hi,
        )
    ):
        cw = index.caseworkers.get(r.caseworker_id)
        if cw is None:
            continue
        key = (cw.site_id, r.type_code, monday_of(r.start.astimezone(zone).date()))
        booked[key] += 1
        in_person[key] += r.mode == Mode.IN_PERSON.value
    return booked, in_person


def _strakstid(
    s: Session, index: DirectoryIndex, zone: ZoneInfo, lo: datetime, hi: datetime
) -> dict[tuple[str, str, date], int]:
    out: dict[tuple[str, str, date], int] = defaultdict(int)
    for r in s.execute(
        select(SlotRow.caseworker_id, SlotRow.type_code, SlotRow.start).where(
            SlotRow.strakstid, ~SlotRow.withdrawn, SlotRow.start >= lo, SlotRow.start < hi
        )
    ):
        cw = index.caseworkers.get(r.caseworker_id)
        if cw is not None:
            out[(cw.site_id, r.type_code, monday_of(r.start.astimezone(zone).date()))] += 1
    return out


def _rooms(
    s: Session,
    index: DirectoryIndex,
    zone: ZoneInfo,
    weeks: Sequence[date],
    closing_days: frozenset[date],
    steps: dict[str, int],
) -> dict[tuple[str, str, date], tuple[tuple[str, int], ...]]:
    """Free in-person places per site, type, week and part of a day: the room minutes left
    after allocations, blocks and foreign meetings, in conversations of the type's length,
    in rooms large enough for it."""
    lo = datetime.combine(weeks[0], time(0), zone)
    hi = datetime.combine(weeks[-1] + timedelta(days=7), time(0), zone)
    taken: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for r in s.execute(
        select(RoomAllocationRow.room_id, RoomAllocationRow.start, RoomAllocationRow.end)
        .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
        .where(
            RoomAllocationRow.active,
            BookingRow.status.in_(LIVE_STATUSES),
            RoomAllocationRow.start < hi,
            RoomAllocationRow.end > lo,
        )
    ):
        taken[r.room_id].append((r.start, r.end))
    for r in s.execute(
        select(RoomBlockRow.room_id, RoomBlockRow.start, RoomBlockRow.end).where(
            RoomBlockRow.active, RoomBlockRow.start < hi, RoomBlockRow.end > lo
        )
    ):
        taken[r.room_id].append((r.start, r.end))
    for r in s.execute(
        select(BusyRow.owner_id, BusyRow.start, BusyRow.end).where(
            BusyRow.owner_kind == "room", BusyRow.start < hi, BusyRow.end > lo
        )
    ):
        taken[r.owner_id].append((r.start, r.end))
    out: dict[tuple[str, str, date], tuple[tuple[str, int], ...]] = {}
    for site_id, rooms in index.rooms_by_site.items():
        for code, ctype in index.types.items():
            if Mode.IN_PERSON not in ctype.modes:
                continue
            fit = [r for r in rooms if r.capacity >= ctype.min_room_capacity]
            for week in weeks:
                parts = []
                for n, weekday in enumerate(WEEKDAYS):
                    day = week + timedelta(days=n)
                    if is_closed(day, closing_days):
                        continue
                    for part, h0, h1 in DAYPARTS:
                        a = datetime.combine(day, time(h0), zone)
                        b = datetime.combine(day, time(h1), zone)
                        places = 0
                        for room in fit:
                            used = sum(_overlap(x, y, a, b) for x, y in taken.get(room.id, ()))
                            places += int(max(0.0, _minutes(a, b) - used) // steps[code])
                        parts.append((f"{weekday} {part}", places))
                out[(site_id, code, week)] = tuple(parts)
    return out

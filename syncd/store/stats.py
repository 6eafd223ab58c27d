"""Read-only queries behind the coordinators' views: a site's rooms on one day, what has no room
or conflicts, how full the rooms are, self-booking figures, failed calendar writes, and CSV.

Nothing here names a citizen: a conversation is shown by caseworker, type, mode and the
pseudonymous booking reference only. Free text from calendars or people (errors, reasons) is
passed through ``redact_cpr`` before it leaves.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mappings.privacy import redact_cpr
from syncd.domain.holidays import is_closed
from syncd.domain.model import LIVE_STATUSES, BookingStatus, CancelledBy, Mode
from syncd.store.directory import DirectoryIndex, natural_key
from syncd.store.tables import (
    AuditRow,
    BookingRow,
    BusyRow,
    EventFeedRow,
    OutboxRow,
    QuarantineRow,
    RoomAllocationRow,
    RoomBlockRow,
    SyncStateRow,
)

Hours = tuple[int, int]  # opening hours, local: (8, 17) is 08:00-17:00


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight to midnight (23 or 25 hours when the clocks change)."""
    return (
        datetime.combine(day, time(0), zone),
        datetime.combine(day + timedelta(days=1), time(0), zone),
    )


def iso_week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def week_label(year: int, week: int) -> str:
    return f"{year}-W{week:02d}"


def week_days(year: int, week: int) -> list[date]:
    """Monday to Sunday of an ISO week."""
    monday = date.fromisocalendar(year, week, 1)
    return [monday + timedelta(days=i) for i in range(7)]


# -- one site, one day ---------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """A booked conversation as coordinators see it (no citizen identity)."""

    booking_id: str
    reference: str
    caseworker_id: str
    caseworker_name: str
    team: str | None
    type_code: str
    type_title: str
    mode: str
    status: str
    start: datetime
    end: datetime
    room_id: str | None = None
    room_start: datetime | None = None  # the room's time, buffers included
    room_end: datetime | None = None
    pinned: bool = False
    conflict: str | None = None


@dataclass(frozen=True)
class Block:
    id: int
    room_id: str
    room_name: str
    start: datetime
    end: datetime
    reason: str
    created_by: str


@dataclass(frozen=True)
class Busy:
    """A meeting somebody else put in the room's calendar."""

    room_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class RoomLine:
    room_id: str
    name: str
    capacity: int
    features: frozenset[str]
    floor: str | None
    conversations: list[Conversation] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    busy: list[Busy] = field(default_factory=list)


@dataclass(frozen=True)
class SiteDay:
    site_id: str
    site_name: str
    day: date
    start: datetime  # the timeline's first and last hour (opening hours, widened as needed)
    end: datetime
    rooms: list[RoomLine]

    @property
    def hours(self) -> list[datetime]:
        out, t = [], self.start
        while t < self.end:
            out.append(t)
            t += timedelta(hours=1)
        return out


def _conversation(
    index: DirectoryIndex, b: BookingRow, a: RoomAllocationRow | None
) -> Conversation:
    cw = index.caseworkers.get(b.caseworker_id)
    ctype = index.types.get(b.type_code)
    return Conversation(
        booking_id=b.id,
        reference=b.reference,
        caseworker_id=b.caseworker_id,
        caseworker_name=index.caseworker_labels.get(b.caseworker_id, b.caseworker_id),
        team=cw.team if cw else None,
        type_code=b.type_code,
        type_title=ctype.title if ctype else b.type_code,
        mode=b.mode,
        status=b.status,
        start=b.start,
        end=b.end,
        room_id=a.room_id if a else None,
        room_start=a.start if a else None,
        room_end=a.end if a else None,
        pinned=bool(a and a.pinned),
        conflict=redact_cpr(b.conflict) if b.conflict else None,
    )


def site_day(
    s: Session, index: DirectoryIndex, site_id: str, day: date, zone: ZoneInfo, hours: Hours
) -> SiteDay:
    """Every room of the site with its conversations (held and confirmed), blocks and foreign
    meetings on the local day."""
    site = index.sites[site_id]
    rooms = sorted(index.rooms_by_site.get(site_id, []), key=lambda r: natural_key(r.name))
    room_ids = [r.id for r in rooms]
    lo, hi = day_bounds(day, zone)
    lines = {r.id: RoomLine(r.id, r.name, r.capacity, r.features, r.floor) for r in rooms}
    first = datetime.combine(day, time(hours[0]), zone)
    last = datetime.combine(day, time(hours[1]), zone) if hours[1] < 24 else hi
    for a, b in s.execute(
        select(RoomAllocationRow, BookingRow)
        .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
        .where(
            RoomAllocationRow.active,
            RoomAllocationRow.room_id.in_(room_ids),
            RoomAllocationRow.start < hi,
            RoomAllocationRow.end > lo,
            BookingRow.status.in_(LIVE_STATUSES),
        )
        .order_by(RoomAllocationRow.start)
    ):
        lines[a.room_id].conversations.append(_conversation(index, b, a))
        first, last = min(first, a.start), max(last, a.end)
    for blk in s.scalars(
        select(RoomBlockRow)
        .where(
            RoomBlockRow.active,
            RoomBlockRow.room_id.in_(room_ids),
            RoomBlockRow.start < hi,
            RoomBlockRow.end > lo,
        )
        .order_by(RoomBlockRow.start)
    ):
        lines[blk.room_id].blocks.append(_block(index, blk))
        first, last = min(first, blk.start), max(last, blk.end)
    for busy in s.scalars(
        select(BusyRow)
        .where(
            BusyRow.owner_kind == "room",
            BusyRow.owner_id.in_(room_ids),
            BusyRow.start < hi,
            BusyRow.end > lo,
        )
        .order_by(BusyRow.start)
    ):
        lines[busy.owner_id].busy.append(Busy(busy.owner_id, busy.start, busy.end))
        first, last = min(first, busy.start), max(last, busy.end)
    first = max(first, lo).astimezone(zone).replace(minute=0, second=0, microsecond=0)
    last_local = min(last, hi).astimezone(zone)
    if last_local.minute or last_local.second:
        last_local = last_local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return SiteDay(site_id, site.name, day, first, min(last_local, hi), list(lines.values()))


def _block(index: DirectoryIndex, blk: RoomBlockRow) -> Block:
    room = index.rooms.get(blk.room_id)
    return Block(
        blk.id,
        blk.room_id,
        room.name if room else blk.room_id,
        blk.start,
        blk.end,
        redact_cpr(blk.reason),
        blk.created_by,
    )


def blocks(
    s: Session, index: DirectoryIndex, site_id: str, start: datetime, end: datetime
) -> list[Block]:
    """Active blocks of the site's rooms that overlap [start, end)."""
    room_ids = [r.id for r in index.rooms_by_site.get(site_id, [])]
    return [
        _block(index, blk)
        for blk in s.scalars(
            select(RoomBlockRow)
            .where(
                RoomBlockRow.active,
                RoomBlockRow.room_id.in_(room_ids),
                RoomBlockRow.end > start,
                RoomBlockRow.start < end,
            )
            .order_by(RoomBlockRow.start, RoomBlockRow.id)
        )
    ]


def needs_attention(
    s: Session, index: DirectoryIndex, site_id: str, start: datetime, end: datetime
) -> list[Conversation]:
    """Confirmed conversations of the site's caseworkers starting in [start, end) that are in
    person without a room, or flagged as a conflict (of any kind)."""
    caseworkers = [c.id for c in index.directory.caseworkers if c.site_id == site_id]
    if not caseworkers:
        return []
    rows = s.execute(
        select(BookingRow, RoomAllocationRow)
        .outerjoin(
            RoomAllocationRow,
            (RoomAllocationRow.booking_id == BookingRow.id) & RoomAllocationRow.active,
        )
        .where(
            BookingRow.status == BookingStatus.CONFIRMED.value,
            BookingRow.caseworker_id.in_(caseworkers),
            BookingRow.start >= start,
            BookingRow.start < end,
            (BookingRow.conflict.is_not(None))
            | ((BookingRow.mode == Mode.IN_PERSON.value) & RoomAllocationRow.id.is_(None)),
        )
        .order_by(BookingRow.start, BookingRow.id)
    ).all()
    return [_conversation(index, b, a) for b, a in rows]


# -- utilisation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DayUse:
    day: date
    open: bool  # a working day (not a weekend, holiday or closing day)
    booked_hours: float  # room time held by conversations, buffers included
    capacity_hours: float  # rooms x opening hours on working days
    peak: int  # most in-person conversations at one moment (with or without a room)
    peak_at: datetime | None
    rooms_available: int  # rooms neither blocked nor taken by others at that moment
    rooms_total: int
    without_room: int  # confirmed in-person conversations that day without a room

    @property
    def share(self) -> float | None:
        return self.booked_hours / self.capacity_hours if self.capacity_hours else None


@dataclass(frozen=True)
class RoomUse:
    room_id: str
    name: str
    capacity: int
    hours_by_day: dict[date, float]
    capacity_hours: float

    @property
    def total_hours(self) -> float:
        return sum(self.hours_by_day.values())

    @property
    def share(self) -> float | None:
        return self.total_hours / self.capacity_hours if self.capacity_hours else None


@dataclass(frozen=True)
class WeekUse:
    year: int
    week: int
    booked_hours: float
    capacity_hours: float
    peak: int
    rooms_available: int  # at the week's busiest moment
    rooms_total: int
    without_room: int

    @property
    def share(self) -> float | None:
        return self.booked_hours / self.capacity_hours if self.capacity_hours else None


@dataclass(frozen=True)
class Utilisation:
    site_id: str
    days: list[DayUse]
    rooms: list[RoomUse]
    weeks: list[WeekUse]


def _overlap_seconds(a: datetime, b: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(b, hi) - max(a, lo)).total_seconds())


def _peak(intervals: Sequence[tuple[datetime, datetime]]) -> tuple[int, datetime | None]:
    """Most intervals open at one moment (half-open: one ending as another starts is fine)."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    best, at, now = 0, None, 0
    for moment, step in events:  # ends sort before starts at the same moment
        now += step
        if now > best:
            best, at = now, moment
    return best, at


def utilisation(
    s: Session,
    index: DirectoryIndex,
    site_id: str,
    first_day: date,
    last_day: date,
    zone: ZoneInfo,
    hours: Hours,
    closing_days: frozenset[date] = frozenset(),
) -> Utilisation:
    """Per day and room of [first_day, last_day]: booked room hours against opening hours, and
    the peak of simultaneous in-person conversations against the rooms available then."""
    rooms = index.rooms_by_site.get(site_id, [])
    room_ids = [r.id for r in rooms]
    caseworkers = [c.id for c in index.directory.caseworkers if c.site_id == site_id]
    lo, _ = day_bounds(first_day, zone)
    _, hi = day_bounds(last_day, zone)
    open_hours = hours[1] - hours[0]
    allocations = s.execute(
        select(RoomAllocationRow.room_id, RoomAllocationRow.start, RoomAllocationRow.end)
        .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
        .where(
            RoomAllocationRow.active,
            RoomAllocationRow.room_id.in_(room_ids),
            RoomAllocationRow.start < hi,
            RoomAllocationRow.end > lo,
            BookingRow.status.in_(LIVE_STATUSES),
        )
    ).all()
    demand = (
        s.execute(
            select(
                BookingRow.busy_start, BookingRow.busy_end, BookingRow.status, RoomAllocationRow.id
            )
            .outerjoin(
                RoomAllocationRow,
                (RoomAllocationRow.booking_id == BookingRow.id) & RoomAllocationRow.active,
            )
            .where(
                BookingRow.caseworker_id.in_(caseworkers),
                BookingRow.mode == Mode.IN_PERSON.value,
                BookingRow.status.in_(LIVE_STATUSES),
                BookingRow.busy_start < hi,
                BookingRow.busy_end > lo,
            )
        ).all()
        if caseworkers
        else []
    )
    unavailable = [
        (r.room_id, r.start, r.end)
        for r in s.scalars(
            select(RoomBlockRow).where(
                RoomBlockRow.active,
                RoomBlockRow.room_id.in_(room_ids),
                RoomBlockRow.start < hi,
                RoomBlockRow.end > lo,
            )
        )
    ] + [
        (b.owner_id, b.start, b.end)
        for b in s.scalars(
            select(BusyRow).where(
                BusyRow.owner_kind == "room",
                BusyRow.owner_id.in_(room_ids),
                BusyRow.start < hi,
                BusyRow.end > lo,
            )
        )
    ]

    days: list[DayUse] = []
    per_room: dict[str, dict[date, float]] = {r: {} for r in room_ids}
    open_days = 0
    day = first_day
    while day <= last_day:
        d_lo, d_hi = day_bounds(day, zone)
        is_open = day.weekday() < 5 and not is_closed(day, closing_days)
        open_days += is_open
        booked = 0.0
        for room_id, a, b in allocations:
            sec = _overlap_seconds(a, b, d_lo, d_hi)
            if sec:
                per_room[room_id][day] = per_room[room_id].get(day, 0.0) + sec / 3600
                booked += sec
        todays = [(a, b) for a, b, _, _ in demand if a < d_hi and b > d_lo]
        peak, peak_at = _peak(todays)
        if peak_at is not None:
            p_lo, p_hi = peak_at, peak_at + timedelta(microseconds=1)
        else:  # no demand: the rooms free for the whole opening hours
            p_lo = datetime.combine(day, time(hours[0]), zone)
            p_hi = p_lo + timedelta(hours=open_hours)
        blocked = {room_id for room_id, a, b in unavailable if a < p_hi and b > p_lo}
        days.append(
            DayUse(
                day=day,
                open=is_open,
                booked_hours=booked / 3600,
                capacity_hours=float(len(rooms) * open_hours) if is_open else 0.0,
                peak=peak,
                peak_at=peak_at,
                rooms_available=len(rooms) - len(blocked),
                rooms_total=len(rooms),
                without_room=sum(
                    1
                    for a, _, status, alloc in demand
                    if alloc is None
                    and status == BookingStatus.CONFIRMED.value
                    and d_lo <= a < d_hi
                ),
            )
        )
        day += timedelta(days=1)
    room_uses = [
        RoomUse(r.id, r.name, r.capacity, per_room[r.id], float(open_days * open_hours))
        for r in rooms
    ]
    return Utilisation(site_id, days, room_uses, _weeks(days))


def _weeks(days: Iterable[DayUse]) -> list[WeekUse]:
    grouped: dict[tuple[int, int], list[DayUse]] = defaultdict(list)
    for d in days:
        grouped[iso_week(d.day)].append(d)
    out = []
    for (year, week), ds in sorted(grouped.items()):
        busiest = max(ds, key=lambda d: (d.peak, -d.rooms_available))
        out.append(
            WeekUse(
                year,
                week,
                sum(d.booked_hours for d in ds),
                sum(d.capacity_hours for d in ds),
                busiest.peak,
                busiest.rooms_available,
                busiest.rooms_total,
                sum(d.without_room for d in ds),
            )
        )
    return out


# -- self-booking --------------------------------------------------------------------------


@dataclass
class BookingFigures:
    """One caseworker (or team) in one ISO week, by the week the conversation is held."""

    key: str
    name: str
    team: str | None
    year: int
    week: int
    booked: int = 0  # conversations that were confirmed (later cancelled ones included)
    self_booked: int = 0  # booked by the citizen through the booking API (not by staff)
    cancelled_by_citizen: int = 0
    cancelled_by_caseworker: int = 0

    @property
    def held(self) -> int:
        return self.booked - self.cancelled_by_citizen - self.cancelled_by_caseworker

    @property
    def share_self_booked(self) -> float | None:
        return self.self_booked / self.booked if self.booked else None

    def add(self, other: BookingFigures) -> None:
        self.booked += other.booked
        self.self_booked += other.self_booked
        self.cancelled_by_citizen += other.cancelled_by_citizen
        self.cancelled_by_caseworker += other.cancelled_by_caseworker


@dataclass(frozen=True)
class SelfBooking:
    weeks: list[tuple[int, int]]
    caseworkers: list[BookingFigures]
    teams: list[BookingFigures]


NO_TEAM = "Uden team"


def nearest_booked_week(
    s: Session, index: DirectoryIndex, site_id: str, day: date, zone: ZoneInfo
) -> tuple[int, int] | None:
    """The ISO week nearest ``day``'s that has booked conversations at the site: the latest up
    to and including this week, else the first after it. None: nothing is booked at all."""
    people = [c.id for c in index.directory.caseworkers if c.site_id == site_id]
    monday = day - timedelta(days=day.weekday())
    _, hi = day_bounds(monday + timedelta(days=6), zone)
    booked = select(BookingRow.start).where(
        BookingRow.confirmed_at.is_not(None), BookingRow.caseworker_id.in_(people)
    )
    start = s.scalar(booked.where(BookingRow.start < hi).order_by(BookingRow.start.desc()))
    if start is None:
        start = s.scalar(booked.where(BookingRow.start >= hi).order_by(BookingRow.start))
    return None if start is None else iso_week(start.astimezone(zone).date())


def self_booking(
    s: Session,
    index: DirectoryIndex,
    first_day: date,
    last_day: date,
    zone: ZoneInfo,
    site_id: str | None = None,
) -> SelfBooking:
    """Per caseworker and team and ISO week: conversations booked, how many the citizens booked
    themselves, and how many were cancelled by the citizen or by the caseworker."""
    lo, _ = day_bounds(first_day, zone)
    _, hi = day_bounds(last_day, zone)
    weeks = sorted(
        {iso_week(first_day + timedelta(days=i)) for i in range((last_day - first_day).days + 1)}
    )
    q = select(
        BookingRow.caseworker_id,
        BookingRow.start,
        BookingRow.status,
        BookingRow.cancelled_by,
        BookingRow.self_booked,
    ).where(BookingRow.confirmed_at.is_not(None), BookingRow.start >= lo, BookingRow.start < hi)
    if site_id is not None:
        q = q.where(
            BookingRow.caseworker_id.in_(
                [c.id for c in index.directory.caseworkers if c.site_id == site_id]
            )
        )
    figures: dict[tuple[str, int, int], BookingFigures] = {}
    for cw_id, start, status, cancelled_by, self_booked in s.execute(q):
        year, week = iso_week(start.astimezone(zone).date())
        cw = index.caseworkers.get(cw_id)
        row = figures.get((cw_id, year, week))
        if row is None:
            row = figures[(cw_id, year, week)] = BookingFigures(
                cw_id, cw.name if cw else cw_id, cw.team if cw else None, year, week
            )
        row.booked += 1
        row.self_booked += bool(self_booked)
        if status == BookingStatus.CANCELLED.value:
            if cancelled_by == CancelledBy.CITIZEN.value:
                row.cancelled_by_citizen += 1
            elif cancelled_by == CancelledBy.CASEWORKER.value:
                row.cancelled_by_caseworker += 1
    teams: dict[tuple[str, int, int], BookingFigures] = {}
    for row in figures.values():
        team = row.team or NO_TEAM
        agg = teams.get((team, row.year, row.week))
        if agg is None:
            agg = teams[(team, row.year, row.week)] = BookingFigures(
                team, team, team, row.year, row.week
            )
        agg.add(row)
    order = lambda f: (f.name, f.year, f.week)  # noqa: E731
    return SelfBooking(
        weeks, sorted(figures.values(), key=order), sorted(teams.values(), key=order)
    )


# -- operations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxFailure:
    id: int
    booking_id: str
    reference: str
    caseworker_name: str
    reason: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str


@dataclass(frozen=True)
class Quarantined:
    calendar_id: str
    owner: str  # the caseworker's or room's name, when the calendar is known
    href: str
    reason: str
    first_seen: datetime
    last_seen: datetime
    uid: str = ""  # what a caseworker can search for in her calendar
    summary: str = ""  # the item's title, shortened and without CPR numbers


def outbox_failures(s: Session, index: DirectoryIndex, limit: int = 200) -> list[OutboxFailure]:
    """Calendar writes not done yet that have failed at least once (they stay until they work
    or an operator acts)."""
    out = []
    for o, b in s.execute(
        select(OutboxRow, BookingRow)
        .join(BookingRow, BookingRow.id == OutboxRow.booking_id)
        .where(OutboxRow.done_at.is_(None), OutboxRow.last_error.is_not(None))
        .order_by(OutboxRow.created_at, OutboxRow.id)
        .limit(limit)
    ):
        cw = index.caseworkers.get(b.caseworker_id)
        out.append(
            OutboxFailure(
                o.id,
                b.id,
                b.reference,
                cw.name if cw else b.caseworker_id,
                o.reason,
                o.attempts,
                o.created_at,
                o.next_attempt_at,
                redact_cpr(o.last_error or ""),
            )
        )
    return out


def quarantined(s: Session, index: DirectoryIndex, limit: int = 200) -> list[Quarantined]:
    """Calendar items syncd could not read and set aside (they do not stop the others)."""
    out = []
    for q in s.scalars(select(QuarantineRow).order_by(QuarantineRow.last_seen.desc()).limit(limit)):
        cw = index.caseworkers_by_calendar.get(q.calendar_id)
        room = index.rooms_by_calendar.get(q.calendar_id)
        owner = cw.name if cw else room.name if room else ""
        out.append(
            Quarantined(
                q.calendar_id,
                owner,
                q.href,
                redact_cpr(q.reason),
                q.first_seen,
                q.last_seen,
                q.uid or "",
                redact_cpr(q.summary or ""),
            )
        )
    return out


@dataclass(frozen=True)
class CalendarTrouble:
    calendar_id: str
    kind: str  # caseworker | room
    owner: str
    owner_id: str
    failures: int
    last_error: str
    last_success_at: datetime | None
    backoff_until: datetime | None


def calendar_failures(s: Session, index: DirectoryIndex, limit: int = 200) -> list[CalendarTrouble]:
    """Calendars whose last sync failed (the others go on syncing meanwhile)."""
    out = []
    for row in s.scalars(
        select(SyncStateRow)
        .where(SyncStateRow.failures > 0)
        .order_by(SyncStateRow.failures.desc(), SyncStateRow.calendar_id)
        .limit(limit)
    ):
        owner = (
            index.caseworkers.get(row.owner_id)
            if row.kind == "caseworker"
            else index.rooms.get(row.owner_id)
        )
        out.append(
            CalendarTrouble(
                row.calendar_id,
                row.kind,
                owner.name if owner else row.owner_id,
                row.owner_id,
                row.failures,
                redact_cpr(row.last_error or ""),
                row.last_success_at,
                row.backoff_until,
            )
        )
    return out


@dataclass(frozen=True)
class Failing:
    """What is failing now: calendars that would not sync, items set aside, calendar writes
    that keep failing. The one query behind ``syncd status``, the API's /status and the
    dashboard's operations view; every free text in it is CPR-redacted."""

    calendars: list[CalendarTrouble]
    quarantined: list[Quarantined]
    outbox: list[OutboxFailure]

    @property
    def empty(self) -> bool:
        return not (self.calendars or self.quarantined or self.outbox)


def failing(s: Session, index: DirectoryIndex, limit: int = 200) -> Failing:
    return Failing(
        calendar_failures(s, index, limit),
        quarantined(s, index, limit),
        outbox_failures(s, index, limit),
    )


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: datetime
    actor: str
    action: str
    reference: str | None
    room_name: str | None
    reason: str


def recent_audit(
    s: Session, index: DirectoryIndex, limit: int = 25, actions: Sequence[str] | None = None
) -> list[AuditLine]:
    q = (
        select(AuditRow, BookingRow.reference)
        .outerjoin(BookingRow, BookingRow.id == AuditRow.booking_id)
        .order_by(AuditRow.id.desc())
        .limit(limit)
    )
    if actions is not None:
        q = q.where(AuditRow.action.in_(list(actions)))
    out = []
    for row, reference in s.execute(q):
        room = index.rooms.get(row.room_id) if row.room_id else None
        out.append(
            AuditLine(
                row.id,
                row.at,
                row.actor,
                row.action,
                reference,
                room.name if room else row.room_id,
                redact_cpr(row.reason or ""),
            )
        )
    return out


def change_marks(s: Session) -> dict[str, tuple[object, ...]]:
    """Cheap fingerprints of what the views show; the live endpoint pushes when one changes.
    ``bookings``: the event feed or the audit log grew. ``drift``: calendar writes failed or
    recovered, or items were quarantined."""
    feed = s.scalar(select(func.max(EventFeedRow.id)))
    log = s.scalar(select(func.max(AuditRow.id)))
    failing = s.execute(
        select(
            func.count(OutboxRow.id), func.max(OutboxRow.id), func.sum(OutboxRow.attempts)
        ).where(OutboxRow.done_at.is_(None), OutboxRow.last_error.is_not(None))
    ).one()
    quarantine = s.execute(
        select(func.count(), func.max(QuarantineRow.last_seen)).select_from(QuarantineRow)
    ).one()
    calendars = s.execute(
        select(func.count(), func.sum(SyncStateRow.failures)).where(SyncStateRow.failures > 0)
    ).one()
    return {
        "bookings": (feed, log),
        "drift": (*failing, *quarantine, *calendars),
    }


# -- CSV -----------------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Semicolon-separated with a byte-order mark and decimal commas: what Danish Excel opens
    correctly with a double-click."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return value


MODE_NAMES = {"in_person": "fremmøde", "phone": "telefon", "video": "video"}


def allocations_csv(
    s: Session, index: DirectoryIndex, site_id: str, first_day: date, last_day: date, zone: ZoneInfo
) -> str:
    """Every room allocation of the site's rooms in the period, one line each."""
    room_ids = [r.id for r in index.rooms_by_site.get(site_id, [])]
    lo, _ = day_bounds(first_day, zone)
    _, hi = day_bounds(last_day, zone)
    rows = []
    for a, b in s.execute(
        select(RoomAllocationRow, BookingRow)
        .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
        .where(
            RoomAllocationRow.active,
            RoomAllocationRow.room_id.in_(room_ids),
            RoomAllocationRow.start < hi,
            RoomAllocationRow.end > lo,
            BookingRow.status.in_(LIVE_STATUSES),
        )
        .order_by(RoomAllocationRow.start, RoomAllocationRow.room_id)
    ):
        c = _conversation(index, b, a)
        start, end = c.start.astimezone(zone), c.end.astimezone(zone)
        room = index.rooms.get(a.room_id)
        rows.append(
            [
                start.date().isoformat(),
                start.strftime("%H:%M"),
                end.strftime("%H:%M"),
                room.name if room else a.room_id,
                c.caseworker_name,
                c.team,
                c.type_title,
                MODE_NAMES.get(c.mode, c.mode),
                c.reference,
                "bekræftet" if c.status == BookingStatus.CONFIRMED.value else "reserveret",
                c.pinned,
                c.conflict,
            ]
        )
    return _csv(
        [
            "dato",
            "start",
            "slut",
            "lokale",
            "sagsbehandler",
            "team",
            "samtaletype",
            "form",
            "bookingreference",
            "status",
            "låst",
            "konflikt",
        ],
        rows,
    )


def utilisation_csv(report: Utilisation, index: DirectoryIndex) -> str:
    site = index.sites.get(report.site_id)
    site_name = site.name if site else report.site_id
    rows: list[list[object]] = []
    for d in report.days:
        rows.append(
            [
                site_name,
                "",
                d.day.isoformat(),
                week_label(*iso_week(d.day)),
                d.booked_hours,
                d.capacity_hours,
                d.share,
                d.peak,
                d.rooms_available,
                d.rooms_total,
                d.without_room,
            ]
        )
    for r in report.rooms:
        for day, hours in sorted(r.hours_by_day.items()):
            rows.append(
                [
                    site_name,
                    r.name,
                    day.isoformat(),
                    week_label(*iso_week(day)),
                    hours,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ]
            )
    return _csv(
        [
            "matrikel",
            "lokale",
            "dato",
            "uge",
            "bookede timer",
            "kapacitet timer",
            "belægning",
            "spidsbelastning samtaler",
            "ledige lokaler ved spidsbelastning",
            "lokaler i alt",
            "samtaler uden lokale",
        ],
        rows,
    )


def self_booking_csv(report: SelfBooking) -> str:
    rows = []
    for kind, items in (("sagsbehandler", report.caseworkers), ("team", report.teams)):
        for f in items:
            rows.append(
                [
                    kind,
                    f.name,
                    f.team or NO_TEAM,
                    week_label(f.year, f.week),
                    f.booked,
                    f.self_booked,
                    f.cancelled_by_citizen,
                    f.cancelled_by_caseworker,
                    f.share_self_booked,
                ]
            )
    return _csv(
        [
            "niveau",
            "navn",
            "team",
            "uge",
            "bookede",
            "selvbookede",
            "aflyst af borger",
            "aflyst af sagsbehandler",
            "andel selvbooket",
        ],
        rows,
    )

"""The coordinator's planning grid: a site's conversations over days, weeks or a month, by room
and day, narrowed by search and filters. Read-only; the moves go through the coordination
service like every other change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncd.domain.model import LIVE_STATUSES, Mode, Room
from syncd.store.directory import DirectoryIndex, natural_key
from syncd.store.stats import Block, Conversation, _block, _conversation, day_bounds
from syncd.store.tables import BookingRow, RoomAllocationRow, RoomBlockRow

NO_ROOM = ""  # the grid's row for conversations that have no room (or need none)


@dataclass(frozen=True)
class Filters:
    """What the coordinator narrowed the grid to. Empty means "all"."""

    q: str = ""  # booking reference, caseworker or room
    team: str = ""
    type_code: str = ""
    feature: str = ""  # rooms with this feature
    mode: str = ""
    room: str = ""  # one room's own view

    @property
    def active(self) -> bool:
        return any((self.q, self.team, self.type_code, self.feature, self.mode, self.room))

    def rooms(self, rooms: list[Room]) -> list[Room]:
        return [
            r
            for r in rooms
            if (not self.room or r.id == self.room)
            and (not self.feature or self.feature in r.features)
        ]

    def matches(self, c: Conversation, index: DirectoryIndex) -> bool:
        if self.team and c.team != self.team:
            return False
        if self.type_code and c.type_code != self.type_code:
            return False
        if self.mode and c.mode != self.mode:
            return False
        room = index.rooms.get(c.room_id or "")
        if self.room and c.room_id != self.room:
            return False
        if self.feature and (room is None or self.feature not in room.features):
            return False
        if self.q:
            needle = self.q.casefold().strip()
            haystack = [c.reference, c.caseworker_name, c.caseworker_id]
            if not any(needle in h.casefold() for h in haystack) and not (
                room is not None and room_matches(needle, room)
            ):
                return False
        return True


def room_matches(needle: str, room: Room) -> bool:
    """A room by whole words of its id or name: "L1" finds L1, never L10 or L11."""
    word = re.compile(rf"(?<!\w){re.escape(needle.casefold().strip())}(?!\w)")
    return any(word.search(text.casefold()) for text in (room.id, room.name))


@dataclass
class Cell:
    conversations: list[Conversation] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Row:
    room_id: str  # NO_ROOM for the row of conversations without a room
    name: str
    capacity: int = 0
    features: frozenset[str] = frozenset()
    cells: dict[date, Cell] = field(default_factory=dict)


@dataclass
class Grid:
    days: list[date]
    rows: list[Row]
    matched: int  # conversations shown

    def count(self, day: date) -> int:
        return sum(len(r.cells[day].conversations) for r in self.rows)

    def roomless(self, day: date) -> int:
        return sum(
            1
            for r in self.rows
            if r.room_id == NO_ROOM
            for c in r.cells[day].conversations
            if c.mode == Mode.IN_PERSON.value
        )


def grid(
    s: Session,
    index: DirectoryIndex,
    site_id: str,
    days: list[date],
    zone: ZoneInfo,
    filters: Filters = Filters(),
) -> Grid:
    """Rooms (naturally sorted: L2 before L10) by days, with the live conversations in each
    cell, plus a row for those without a room; blocks in the cells they overlap."""
    rooms = sorted(index.rooms_by_site.get(site_id, []), key=lambda r: natural_key(r.name))
    shown = filters.rooms(rooms)
    lo, hi = day_bounds(days[0], zone)[0], day_bounds(days[-1], zone)[1]
    rows = {
        r.id: Row(r.id, r.name, r.capacity, r.features, {d: Cell() for d in days}) for r in shown
    }
    roomless = Row(NO_ROOM, "Uden lokale", cells={d: Cell() for d in days})
    site_rooms = {r.id for r in rooms}
    matched = 0
    for b, a in s.execute(
        select(BookingRow, RoomAllocationRow)
        .outerjoin(
            RoomAllocationRow,
            (RoomAllocationRow.booking_id == BookingRow.id) & RoomAllocationRow.active,
        )
        .where(
            BookingRow.status.in_(LIVE_STATUSES),
            BookingRow.start >= lo,
            BookingRow.start < hi,
        )
        .order_by(BookingRow.start, BookingRow.id)
    ):
        if a is not None and a.room_id not in site_rooms:
            continue
        cw = index.caseworkers.get(b.caseworker_id)
        if a is None and (cw is None or cw.site_id != site_id):
            continue
        c = _conversation(index, b, a)
        if not filters.matches(c, index):
            continue
        day = c.start.astimezone(zone).date()
        target = rows.get(c.room_id) if c.room_id else roomless
        if target is None or day not in target.cells:
            continue
        target.cells[day].conversations.append(c)
        matched += 1
    if rows:
        for blk in s.scalars(
            select(RoomBlockRow)
            .where(
                RoomBlockRow.active,
                RoomBlockRow.room_id.in_(list(rows)),
                RoomBlockRow.start < hi,
                RoomBlockRow.end > lo,
            )
            .order_by(RoomBlockRow.start, RoomBlockRow.id)
        ):
            for d in days:
                d_lo, d_hi = day_bounds(d, zone)
                if blk.start < d_hi and blk.end > d_lo:
                    rows[blk.room_id].cells[d].blocks.append(_block(index, blk))
    out = list(rows.values())
    if not filters.room and not filters.feature:
        out.append(roomless)
    return Grid(days, out, matched)


def month_days(day: date) -> list[date]:
    """The weeks (Monday to Sunday) that cover the month of ``day``."""
    first = day.replace(day=1)
    start = first - timedelta(days=first.weekday())
    nxt = (first + timedelta(days=32)).replace(day=1)
    end = nxt + timedelta(days=(7 - nxt.weekday()) % 7)
    return [start + timedelta(days=i) for i in range((end - start).days)]

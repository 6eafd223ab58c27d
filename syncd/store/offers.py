"""Offers: the free, bookable times citizens see. Derived on every request from published
slots minus live bookings, weekly caps, notice and, for in-person, a free suitable room."""

from __future__ import annotations

import bisect
import itertools
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from syncd.domain.model import LIVE_STATUSES, BookingStatus, Mode
from syncd.domain.slots import Interval, week_key, widen
from syncd.store.directory import DirectoryIndex
from syncd.store.rooms import WHEELCHAIR
from syncd.store.tables import BookingRow, BusyRow, RoomAllocationRow, RoomBlockRow, SlotRow


@dataclass(frozen=True)
class OfferQuery:
    start: datetime
    end: datetime
    type_code: str | None = None
    modes: tuple[Mode, ...] = (Mode.IN_PERSON, Mode.PHONE, Mode.VIDEO)
    caseworker_id: str | None = None
    site_id: str | None = None
    needs_wheelchair: bool = False
    include_strakstid: bool = False
    limit: int = 500


@dataclass(frozen=True)
class Offer:
    offer_id: str
    slot_id: str
    caseworker_id: str
    site_id: str
    type_code: str
    mode: Mode
    start: datetime
    end: datetime
    strakstid: bool


class _Timeline:
    """Sorted, merged busy intervals with a fast overlap test."""

    def __init__(self, intervals: Sequence[Interval]) -> None:
        merged: list[list[datetime]] = []
        for s, e in sorted(intervals):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        i = bisect.bisect_right(self.ends, start)  # the first interval ending after ``start``
        return i < len(self.starts) and self.starts[i] < end


def find_offers(
    s: Session, index: DirectoryIndex, q: OfferQuery, now: datetime, zone: ZoneInfo
) -> list[Offer]:
    from syncd.store.bookings import offer_id

    cw_ids = _caseworkers(index, q)
    if not cw_ids:
        return []
    slot_q = select(SlotRow).where(
        SlotRow.start >= max(q.start, now),
        SlotRow.start < q.end,
        SlotRow.withdrawn.is_(False),
        SlotRow.caseworker_id.in_(cw_ids),
    )
    if q.type_code:
        slot_q = slot_q.where(SlotRow.type_code == q.type_code)
    if not q.include_strakstid:
        slot_q = slot_q.where(SlotRow.strakstid.is_(False))
    slots = list(s.scalars(slot_q.order_by(SlotRow.start, SlotRow.caseworker_id)))
    if not slots:
        return []
    span_start = min(x.start for x in slots) - timedelta(days=1)
    span_end = max(x.end for x in slots) + timedelta(days=1)
    involved = sorted({x.caseworker_id for x in slots})
    # One read serves both the caseworkers' busy time and their weekly caps (whole weeks).
    live = _live_bookings(
        s, involved, span_start - timedelta(days=7), span_end + timedelta(days=7), now
    )
    busy_by_cw: dict[str, list[Interval]] = defaultdict(list)
    week_counts: dict[tuple[str, tuple[int, int]], int] = defaultdict(int)
    for b in live:
        week_counts[(b.caseworker_id, week_key(b.start, zone))] += 1
        if b.exclusive:
            busy_by_cw[b.caseworker_id].append((b.busy_start, b.busy_end))
    timelines = {cw: _Timeline(v) for cw, v in busy_by_cw.items()}
    empty = _Timeline([])
    rooms = RoomAvailability(s, index, span_start, span_end, now)
    budget = _RoomBudget()
    # Within one start time, no caseworker should always come first when rooms run short.
    slots.sort(key=lambda x: (x.start, zlib.crc32(x.id.encode())))

    out: list[Offer] = []
    for slot in slots:
        ctype = index.types.get(slot.type_code)
        cw = index.caseworkers.get(slot.caseworker_id)
        if ctype is None or cw is None:
            continue
        if (
            slot.start < now + timedelta(minutes=ctype.min_notice_minutes)
            and not q.include_strakstid
        ):
            continue
        if slot.start > now + timedelta(days=ctype.horizon_days):
            continue
        busy_start, busy_end = widen(slot.start, slot.end, ctype)
        if timelines.get(slot.caseworker_id, empty).overlaps(busy_start, busy_end):
            continue
        if (
            cw.weekly_cap is not None
            and week_counts[(cw.id, week_key(slot.start, zone))] >= cw.weekly_cap
        ):
            continue
        for mode in ctype.modes:
            if mode not in q.modes:
                continue
            if mode.needs_room:
                features = set(ctype.required_features)
                if q.needs_wheelchair:
                    features.add(WHEELCHAIR)
                free = rooms.free_rooms(
                    cw.sites, ctype.min_room_capacity, features, busy_start, busy_end
                )
                if not budget.take(cw.id, free, busy_start, busy_end):
                    continue
            out.append(
                Offer(
                    offer_id(slot.id, mode),
                    slot.id,
                    cw.id,
                    cw.site_id,
                    slot.type_code,
                    mode,
                    slot.start,
                    slot.end,
                    slot.strakstid,
                )
            )
            if len(out) >= q.limit:
                return out
    return out


def _caseworkers(index: DirectoryIndex, q: OfferQuery) -> list[str]:
    out = []
    for cw in index.directory.caseworkers:
        if q.caseworker_id and cw.id != q.caseworker_id:
            continue
        if q.site_id and q.site_id not in cw.sites:
            continue
        if q.type_code and q.type_code not in cw.conversation_types:
            continue
        out.append(cw.id)
    return out


def _live_filter(now: datetime):  # type: ignore[no-untyped-def]
    return or_(
        BookingRow.status == BookingStatus.CONFIRMED.value,
        and_(BookingRow.status == BookingStatus.HELD.value, BookingRow.hold_expires_at > now),
    )


def _live_bookings(
    s: Session, cw_ids: list[str], start: datetime, end: datetime, now: datetime
) -> list[BookingRow]:
    return list(
        s.scalars(
            select(BookingRow).where(
                BookingRow.caseworker_id.in_(cw_ids),
                BookingRow.status.in_(LIVE_STATUSES),
                _live_filter(now),
                BookingRow.busy_start < end,
                BookingRow.busy_end > start,
            )
        )
    )


class RoomAvailability:
    """Which rooms are free when, loaded once per offers request."""

    def __init__(
        self, s: Session, index: DirectoryIndex, start: datetime, end: datetime, now: datetime
    ) -> None:
        self.index = index
        taken: dict[str, list[Interval]] = defaultdict(list)
        rows = s.execute(
            select(RoomAllocationRow.room_id, RoomAllocationRow.start, RoomAllocationRow.end)
            .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
            .where(
                RoomAllocationRow.active,
                RoomAllocationRow.start < end,
                RoomAllocationRow.end > start,
                _live_filter(now),
            )
        ).all()
        for room_id, a_start, a_end in rows:
            taken[room_id].append((a_start, a_end))
        for b in s.scalars(
            select(BusyRow).where(
                BusyRow.owner_kind == "room", BusyRow.start < end, BusyRow.end > start
            )
        ):
            taken[b.owner_id].append((b.start, b.end))
        for blk in s.scalars(
            select(RoomBlockRow).where(
                RoomBlockRow.active, RoomBlockRow.start < end, RoomBlockRow.end > start
            )
        ):
            taken[blk.room_id].append((blk.start, blk.end))
        self.timelines = {room: _Timeline(v) for room, v in taken.items()}
        self._empty = _Timeline([])

    def free_rooms(
        self,
        sites: frozenset[str],
        min_capacity: int,
        features: set[str],
        start: datetime,
        end: datetime,
    ) -> frozenset[str]:
        """Suitable rooms with nothing in them during [start, end)."""
        return frozenset(
            room.id
            for site in sites
            for room in self.index.rooms_by_site.get(site, [])
            if room.capacity >= min_capacity
            and features <= room.features
            and not self.timelines.get(room.id, self._empty).overlaps(start, end)
        )


class _RoomBudget:
    """Keeps the in-person offers of one answer within the rooms that could hold them.

    Invariant: at every instant, whichever offer each caseworker's citizen picks among her
    offers running then (a caseworker's simultaneous offers are alternatives: one booking makes
    the others busy), the picked offers can be given distinct rooms from their free suitable
    rooms (a bipartite matching). So a citizen who picks an offer is not turned away for want
    of a room, whatever the others pick.

    A candidate is checked at its start and at every start of an accepted offer inside its
    interval (the set of running offers changes only there). At each such instant the
    candidate stands for its caseworker; each other caseworker's running offers are reduced to
    their minimal room sets (a superset never makes a matching harder), and every combination
    of those is matched, by augmenting paths. Past ``COMBINATIONS`` combinations, each of a
    caseworker's minimal sets is treated as a demand of its own (one matching; stricter than
    needed, never less safe). A room that no other caseworker's running offer could use settles
    an instant at once, so plentiful rooms cost nothing.
    """

    COMBINATIONS = 64
    # Candidates arrive in order of slot start; an interval (buffers included) starts at most
    # this long before its slot, so offers that ended longer ago can be forgotten.
    LOOKBACK = timedelta(hours=12)

    def __init__(self) -> None:
        self.accepted: list[tuple[datetime, datetime, str, frozenset[str]]] = []

    def take(self, caseworker: str, rooms: frozenset[str], start: datetime, end: datetime) -> bool:
        if not rooms:
            return False
        horizon = start - self.LOOKBACK
        self.accepted = [a for a in self.accepted if a[1] > horizon]
        near = [a for a in self.accepted if a[2] != caseworker and a[0] < end and start < a[1]]
        instants = sorted({start, *(a[0] for a in near if a[0] > start)})
        for t in instants:
            others: dict[str, list[frozenset[str]]] = defaultdict(list)
            for a_start, a_end, cw, a_rooms in near:
                if a_start <= t < a_end:
                    others[cw].append(a_rooms)
            used = frozenset().union(*(r for sets in others.values() for r in sets))
            if rooms <= used and not self._all_matchable(rooms, list(others.values())):
                return False
        self.accepted.append((start, end, caseworker, rooms))
        return True

    def _all_matchable(self, rooms: frozenset[str], others: list[list[frozenset[str]]]) -> bool:
        choices = [_minimal(sets) for sets in others]
        count = 1
        for c in choices:
            count *= len(c)
        if count > self.COMBINATIONS:
            return _matchable([rooms, *(s for c in choices for s in c)])
        return all(_matchable([rooms, *combo]) for combo in itertools.product(*choices))


def _minimal(sets: list[frozenset[str]]) -> list[frozenset[str]]:
    """The inclusion-minimal sets (duplicates once), smallest first."""
    if len(sets) == 1:
        return sets
    out: list[frozenset[str]] = []
    for s in sorted(set(sets), key=lambda x: (len(x), sorted(x))):
        if not any(m <= s for m in out):
            out.append(s)
    return out


def _matchable(demands: list[frozenset[str]]) -> bool:
    """Can every demand get a distinct room from its set? (Kuhn's augmenting paths.)"""
    if len(demands) > len(frozenset().union(*demands)):
        return False
    holder: dict[str, int] = {}

    def augment(i: int, seen: set[str]) -> bool:
        for room in demands[i]:
            if room in seen:
                continue
            seen.add(room)
            if room not in holder or augment(holder[room], seen):
                holder[room] = i
                return True
        return False

    order = sorted(range(len(demands)), key=lambda i: len(demands[i]))
    waiting = []
    for i in order:  # greedy first: most demands find a room nobody holds yet
        room = next((r for r in demands[i] if r not in holder), None)
        if room is None:
            waiting.append(i)
        else:
            holder[room] = i
    return all(augment(i, set()) for i in waiting)

"""The rooms as the allocator sees them for one call: what is blocked for good, what may move.

Built once per call from plain values, then queried many times by the search, so the answers
that do not change during a call (which rooms suit a request, which rooms are blocked for its
whole interval, whom it would bump in a room) are cached here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime

from syncd.rooms.intervals import Timeline, merge
from syncd.rooms.model import AllocationRequest, Occupation, RoomSpec
from syncd.rooms.rules import is_suitable, request_kind, validate

Req = AllocationRequest


class Situation:
    """Rooms, what blocks them for good (foreign meetings, room blocks, allocations that may not
    move) and the allocations that may move (``movable``: not pinned, outside the freeze horizon,
    and valid where they are).

    An existing allocation that is already invalid (its room does not suit it, or it overlaps a
    foreign meeting or another allocation in the room) is treated as fixed: the allocator never
    makes such a mess worse, and ``reallocate`` is the tool that resolves it.
    Existing allocations without a room, or in a room not given, hold nothing here.
    """

    def __init__(
        self,
        existing: Sequence[Req],
        rooms: Sequence[RoomSpec],
        occupied: Sequence[Occupation],
        exclude: Collection[str] = (),
    ) -> None:
        self.rooms: dict[str, RoomSpec] = {}
        for room in rooms:
            self.rooms.setdefault(room.room_id, room)
        self.order: dict[str, int] = {rid: i for i, rid in enumerate(self.rooms)}
        excluded = set(exclude)

        occ: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for o in occupied:
            if o.room_id in self.rooms and o.end > o.start:
                occ[o.room_id].append((o.start, o.end))
        occ_lines = {rid: Timeline((s, e, None) for s, e in merge(iv)) for rid, iv in occ.items()}

        held: dict[str, list[Req]] = defaultdict(list)
        for req in existing:
            if req.booking_id in excluded or req.current_room not in self.rooms:
                continue
            validate(req)
            held[req.current_room].append(req)

        self.fixed: list[Req] = []
        self.movable: dict[str, Req] = {}
        blocks: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list, occ)
        stays: dict[str, list[Req]] = defaultdict(list)
        self.by_caseworker: dict[str, list[Req]] = defaultdict(list)
        self._load: dict[tuple[str, date], float] = defaultdict(float)
        for rid, reqs in held.items():
            room = self.rooms[rid]
            invalid = _overlapping_ids(reqs)
            line = occ_lines.get(rid)
            for req in reqs:
                self.by_caseworker[req.caseworker_id].append(req)
                self._load[(rid, req.start.date())] += (req.end - req.start).total_seconds()
                ok = (
                    req.booking_id not in invalid
                    and is_suitable(req, room)
                    and (line is None or line.is_free(req.start, req.end))
                )
                if ok and req.movable and not req.pinned:
                    self.movable[req.booking_id] = req
                    stays[rid].append(req)
                else:
                    self.fixed.append(req)
                    blocks[rid].append((req.start, req.end))

        empty_block: Timeline[None] = Timeline()
        empty_stay: Timeline[Req] = Timeline()
        self.blocks: dict[str, Timeline[None]] = {
            rid: Timeline((s, e, None) for s, e in merge(blocks[rid]))
            if blocks[rid]
            else empty_block
            for rid in self.rooms
        }
        self.stays: dict[str, Timeline[Req]] = {
            rid: Timeline((r.start, r.end, r) for r in stays[rid]) if stays[rid] else empty_stay
            for rid in self.rooms
        }
        self._kinds: dict[tuple[frozenset[str], int, frozenset[str]], tuple[str, ...]] = {}
        self._domains: dict[str, tuple[str, ...]] = {}
        self._bumps: dict[tuple[str, str], tuple[Req, ...]] = {}

    def suitable(self, req: Req) -> tuple[str, ...]:
        """Room ids meeting the hard rules for ``req`` (site, seats, features), in room order."""
        kind = request_kind(req)
        found = self._kinds.get(kind)
        if found is None:
            found = tuple(rid for rid, room in self.rooms.items() if is_suitable(req, room))
            self._kinds[kind] = found
        return found

    def domain(self, req: Req) -> tuple[str, ...]:
        """Suitable rooms that nothing fixed blocks during the whole of ``req``."""
        found = self._domains.get(req.booking_id)
        if found is None:
            found = tuple(
                rid for rid in self.suitable(req) if self.blocks[rid].is_free(req.start, req.end)
            )
            self._domains[req.booking_id] = found
        return found

    def bumps(self, req: Req, room_id: str) -> tuple[Req, ...]:
        """Movable allocations in ``room_id`` that overlap ``req`` (they would have to move)."""
        key = (req.booking_id, room_id)
        found = self._bumps.get(key)
        if found is None:
            found = tuple(
                x
                for x in self.stays[room_id].overlapping(req.start, req.end)
                if x.booking_id != req.booking_id
            )
            self._bumps[key] = found
        return found

    def is_free(self, req: Req, room_id: str) -> bool:
        """Free for ``req`` as things stand: not blocked, nobody else in the room."""
        return self.blocks[room_id].is_free(req.start, req.end) and not self.bumps(req, room_id)

    def load(self, room_id: str, day: date) -> float:
        """Seconds allocated in the room on that day (to spread load across rooms)."""
        return self._load.get((room_id, day), 0.0)


def _overlapping_ids(reqs: list[Req]) -> set[str]:
    """Ids of allocations in one room that overlap another one there (an invalid state)."""
    ordered = sorted(reqs, key=lambda r: (r.start, r.end))
    bad: set[str] = set()
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start >= a.end:
                break
            bad.add(a.booking_id)
            bad.add(b.booking_id)
    return bad

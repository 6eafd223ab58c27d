"""Room capacity for offers: which in-person offers could still get a room.

An offer must never promise a room that cannot be given, and the offers endpoint asks about
hundreds of candidate times per site-day, so a full re-pack per candidate is too slow. Instead
two cheap tests, each a proof that a room can be given:

1. direct: a suitable room is free for the whole candidate interval right now;
2. recolouring within one room class: rooms of a class are interchangeable for everyone in
   them. Take the stretch of time W around the candidate during which the class is
   continuously in use by movable allocations, and the class's rooms that nothing fixed
   (foreign meeting, block, pinned or frozen allocation) touches during W. If at every instant
   of the candidate fewer of those rooms are in use than exist, the allocations in them plus
   the candidate form an interval graph whose largest clique fits the rooms, so they can be
   re-coloured into those rooms (interval graphs are perfect), moving only movable ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from syncd.rooms.intervals import merge
from syncd.rooms.model import AllocationRequest, Occupation, RoomSpec
from syncd.rooms.rules import is_suitable, room_class, validate
from syncd.rooms.situation import Situation
from syncd.rooms.splitpack import colour

Req = AllocationRequest


def in_person_capacity(
    candidates: Sequence[Req],
    existing: Sequence[Req],
    rooms: Sequence[RoomSpec],
    occupied: Sequence[Occupation],
) -> dict[str, bool]:
    """For each candidate (by ``booking_id``): True if it could get a room, judged alone.

    Guarantee: True means that ``allocate(candidate, existing, rooms, occupied, prefs)`` with
    these same inputs (any ``prefs``, whatever its search budget) returns a room for it,
    possibly after moving movable, unpinned allocations: ``allocate`` builds the very
    assignment whose existence was shown here when its own search finds nothing better.
    False means no such proof was found; it may be a false negative (conservative). Each
    candidate is judged on its own: two overlapping candidates may both be True while only one
    of them can be booked, so re-ask after every booking. Candidates whose ``booking_id`` is in
    ``existing`` are judged as if that allocation were released (rebooking). Cost: one pass to
    index the site-day, then a few bisections per candidate and room class.
    """
    sit = Situation(existing, rooms, occupied, exclude={c.booking_id for c in candidates})
    classes = RoomClasses(sit)
    answer: dict[str, bool] = {}
    for cand in candidates:
        validate(cand)
        answer[cand.booking_id] = _direct(cand, sit) or classes.window(cand) is not None
    return answer


class RoomClasses:
    """Rooms grouped by class, with the stretches of time each class is continuously in use."""

    def __init__(self, sit: Situation) -> None:
        self.sit = sit
        self.classes: dict[tuple[str, int, frozenset[str]], list[str]] = defaultdict(list)
        for rid, room in sit.rooms.items():
            self.classes[room_class(room)].append(rid)
        self.spans = {
            cls: merge((s, e) for rid in rids for s, e, _ in sit.stays[rid])
            for cls, rids in self.classes.items()
        }

    def window(self, cand: Req) -> tuple[list[str], datetime, datetime] | None:
        """A class whose untouched rooms can be re-coloured to take ``cand`` (smallest rooms
        first): those rooms and the stretch of time [lo, hi) to re-colour; None if none."""
        sit = self.sit
        suitable = sorted(
            (cls for cls, rids in self.classes.items() if is_suitable(cand, sit.rooms[rids[0]])),
            key=lambda cls: (cls[1], len(cls[2]), cls[0], sorted(cls[2])),
        )
        for cls in suitable:
            lo, hi = cand.start, cand.end
            for s, e in self.spans[cls]:  # few spans per class and day
                if s < cand.end and cand.start < e:
                    lo, hi = min(lo, s), max(hi, e)
            clean = [rid for rid in self.classes[cls] if sit.blocks[rid].is_free(lo, hi)]
            if clean and _peak(cand, clean, sit) < len(clean):
                return clean, lo, hi
        return None

    def recolour(self, cand: Req) -> dict[str, str] | None:
        """Rooms for ``cand`` and for the allocations re-coloured to make room for it (only
        those that change room are listed besides ``cand``), or None."""
        found = self.window(cand)
        if found is None:
            return None
        clean, lo, hi = found
        items = [cand]
        for rid in clean:
            items.extend(self.sit.stays[rid].overlapping(lo, hi))
        out: dict[str, str] = {}
        if not colour(items, frozenset(clean), self.sit, out):
            return None  # cannot happen: the peak is below the number of rooms
        return {
            bid: rid
            for bid, rid in out.items()
            if bid == cand.booking_id or self.sit.movable[bid].current_room != rid
        }


def _direct(cand: Req, sit: Situation) -> bool:
    return any(
        sit.blocks[rid].is_free(cand.start, cand.end)
        and sit.stays[rid].is_free(cand.start, cand.end)
        for rid in sit.suitable(cand)
    )


def _peak(cand: Req, clean: list[str], sit: Situation) -> int:
    """Most allocations in ``clean`` rooms at once during ``cand``."""
    events: list[tuple[datetime, int]] = []
    for rid in clean:
        for x in sit.stays[rid].overlapping(cand.start, cand.end):
            events.append((max(x.start, cand.start), 1))
            events.append((min(x.end, cand.end), -1))
    events.sort()  # at equal times the end (-1) sorts first: touching is fine
    busy = peak = 0
    for _, step in events:
        busy += step
        peak = max(peak, busy)
    return peak

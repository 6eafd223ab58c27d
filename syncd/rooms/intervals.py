"""Half-open time intervals and per-room timelines.

Every time rule in room allocation is a question "does [start, end) overlap anything in this
room?", asked thousands of times during one re-pack. A room's allocations never overlap each
other, so sorted by start they are also sorted by end, and one bisect answers the question.
Touching intervals ([9:00, 9:30) and [9:30, 10:00)) do not overlap.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import pairwise
from typing import Generic, TypeVar

T = TypeVar("T")


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open overlap: touching is fine."""
    return a_start < b_end and b_start < a_end


def merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Union of intervals as sorted, disjoint intervals (touching ones are joined, which keeps
    the answer to every overlap question of positive length unchanged)."""
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


class Timeline(Generic[T]):
    """Disjoint intervals of one room, each with a payload, sorted by start (and so by end)."""

    __slots__ = ("_ends", "_items", "_starts")

    def __init__(self, items: Iterable[tuple[datetime, datetime, T]] = ()) -> None:
        ordered = sorted(items, key=lambda it: (it[0], it[1]))
        for prev, cur in pairwise(ordered):
            if cur[0] < prev[1]:
                raise ValueError("timeline intervals overlap")
        self._items = ordered
        self._starts = [it[0] for it in ordered]
        self._ends = [it[1] for it in ordered]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[datetime, datetime, T]]:
        return iter(self._items)

    def overlapping(self, start: datetime, end: datetime) -> list[T]:
        """Payloads of the intervals that overlap [start, end)."""
        i = bisect_right(self._ends, start)  # first interval that ends after start
        out: list[T] = []
        items, n = self._items, len(self._items)
        while i < n and items[i][0] < end:
            out.append(items[i][2])
            i += 1
        return out

    def is_free(self, start: datetime, end: datetime) -> bool:
        i = bisect_right(self._ends, start)
        return i >= len(self._items) or self._starts[i] >= end

    def at(self, instant: datetime) -> T | None:
        """The payload of the interval that contains ``instant``, if any."""
        i = bisect_right(self._ends, instant)
        if i < len(self._items) and self._starts[i] <= instant:
            return self._items[i][2]
        return None

"""Cutting self-booking windows into slots: pure arithmetic on aware datetimes.

Works in UTC so that durations are real minutes across DST changes; the local zone is used only to
decide which day a time falls on (holidays, closing days, weeks).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from syncd.domain.holidays import is_closed
from syncd.domain.model import ConversationType

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WindowOccurrence:
    """One occurrence of a caseworker's self-booking window."""

    caseworker_id: str
    start: datetime
    end: datetime
    conversation_types: tuple[str, ...] | None = None  # None: every type she offers
    source: str = ""  # where it came from (calendar href or "scenario")


@dataclass(frozen=True)
class SlotSpec:
    slot_id: str
    caseworker_id: str
    type_code: str
    start: datetime  # the conversation itself, without buffers
    end: datetime
    strakstid: bool = False
    source: str = ""


def slot_id(caseworker_id: str, type_code: str, start: datetime) -> str:
    """Stable across republishing, so a slot keeps its id while its window stays."""
    stamp = start.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    digest = hashlib.blake2s(f"{caseworker_id}|{type_code}".encode(), digest_size=6).hexdigest()
    return f"s-{digest}-{stamp}"


def subtract(segment: Interval, busy: Sequence[Interval]) -> list[Interval]:
    """``segment`` minus every busy interval (half-open), in order."""
    free = [segment]
    for b_start, b_end in busy:
        nxt: list[Interval] = []
        for f_start, f_end in free:
            if b_end <= f_start or b_start >= f_end:
                nxt.append((f_start, f_end))
                continue
            if f_start < b_start:
                nxt.append((f_start, b_start))
            if b_end < f_end:
                nxt.append((b_end, f_end))
        free = nxt
    return free


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def cut_slots(
    windows: Sequence[WindowOccurrence],
    busy: Sequence[Interval],
    types: Sequence[ConversationType],
    offered_types: Sequence[str],
    *,
    zone: ZoneInfo,
    closing_days: frozenset[date] = frozenset(),
    strakstid_share: float = 0.0,
) -> list[SlotSpec]:
    """Slots for one caseworker: each window minus busy time and closed days, filled from the start
    of every free stretch with conversation plus buffers, per conversation type she offers."""
    by_code = {t.code: t for t in types}
    busy_utc = merge((s.astimezone(UTC), e.astimezone(UTC)) for s, e in busy)
    window_intervals = merge(
        (w.start.astimezone(UTC), w.end.astimezone(UTC)) for w in windows if w.end > w.start
    )
    # Overlapping windows are merged into one stretch; remember each stretch's allowed types.
    out: list[SlotSpec] = []
    for w_start, w_end in window_intervals:
        members = [w for w in windows if w.start < w_end and w.end > w_start]
        allowed: set[str] = set()
        for w in members:
            allowed |= set(w.conversation_types or offered_types)
        codes = [c for c in offered_types if c in allowed and c in by_code]
        source = members[0].source if members else ""
        for f_start, f_end in subtract((w_start, w_end), busy_utc):
            for code in codes:
                out.extend(_fill(f_start, f_end, by_code[code], members[0].caseworker_id, source))
    out = [s for s in out if not is_closed(s.start.astimezone(zone).date(), closing_days)]
    return _mark_strakstid(out, strakstid_share, zone)


def _fill(
    start: datetime, end: datetime, ctype: ConversationType, caseworker_id: str, source: str
) -> list[SlotSpec]:
    slots = []
    t = start + ctype.buffer_before
    while t + ctype.duration + ctype.buffer_after <= end:
        slots.append(
            SlotSpec(
                slot_id(caseworker_id, ctype.code, t),
                caseworker_id,
                ctype.code,
                t,
                t + ctype.duration,
                source=source,
            )
        )
        t += ctype.step
    return slots


def _mark_strakstid(slots: list[SlotSpec], share: float, zone: ZoneInfo) -> list[SlotSpec]:
    """Hold back a share of each week's slots per type as immediate-time capacity for staff,
    spread evenly over the week rather than taking the last ones.

    Counting per week (not per day) and starting each caseworker's count at a fixed offset of
    her own (not at zero) make the shares add up: a caseworker with 6 slots a week and a 10 %
    share holds one back in about 6 weeks of 10, so across caseworkers and weeks about 10 % of
    the slots are held back, where rounding per day held back none."""
    if share <= 0:
        return slots
    slots.sort(key=lambda s: (s.type_code, s.start))
    out: list[SlotSpec] = []
    count: dict[tuple[str, int, int], int] = {}
    for s in slots:
        iso = s.start.astimezone(zone).isocalendar()
        key = (s.type_code, iso.year, iso.week)
        i = count.get(key, 0)
        count[key] = i + 1
        offset = _offset(s.caseworker_id, *key)
        held_back = math.floor((i + 1) * share + offset) > math.floor(i * share + offset)
        out.append(
            SlotSpec(s.slot_id, s.caseworker_id, s.type_code, s.start, s.end, held_back, s.source)
        )
    return out


def _offset(caseworker_id: str, type_code: str, year: int, week: int) -> float:
    """A stable number in [0, 1) per caseworker, type and week (the same on every replica and
    every republish, unlike Python's ``hash``)."""
    digest = hashlib.blake2b(f"{caseworker_id}|{type_code}|{year}-{week}".encode(), digest_size=4)
    return int.from_bytes(digest.digest(), "big") / 2**32


def week_key(moment: datetime, zone: ZoneInfo) -> tuple[int, int]:
    """ISO (year, week) in local time: the unit of the caseworker's weekly cap."""
    iso = moment.astimezone(zone).isocalendar()
    return iso.year, iso.week


def widen(start: datetime, end: datetime, ctype: ConversationType) -> Interval:
    """The time a conversation really takes from the caseworker and the room: buffers included."""
    return start - ctype.buffer_before, end + ctype.buffer_after


ONE_DAY = timedelta(days=1)

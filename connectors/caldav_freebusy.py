"""Busy time from a CalDAV server: its VFREEBUSY answer, or our own expansion of events.

The free-busy-query answer is a protocol reply (a VFREEBUSY), not a calendar item, so it is
read here rather than in ``mappings.ical``. Servers without free-busy get a time-range query,
expanded with ``mappings.recurrence`` exactly as the sync engine expands windows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar

from connectors.base import BusyInterval, CalendarItem
from mappings.recurrence import expand

# FBTYPE -> BusyInterval.status; FREE is not busy at all.
_FBTYPES = {"BUSY": "BUSY", "BUSY-TENTATIVE": "TENTATIVE", "BUSY-UNAVAILABLE": "OOF"}


def _clip(
    found: Iterable[tuple[datetime, datetime, str]], start: datetime, end: datetime
) -> list[BusyInterval]:
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    clipped = []
    for a, b, status in found:
        a, b = max(a.astimezone(UTC), lo), min(b.astimezone(UTC), hi)
        if a < b:
            clipped.append((a, b, status))
    clipped.sort()
    merged: list[BusyInterval] = []
    for a, b, status in clipped:
        last = merged[-1] if merged else None
        if last is not None and last.status == status and a <= last.end:
            merged[-1] = BusyInterval(last.start, max(last.end, b), status)
        else:
            merged.append(BusyInterval(a, b, status))
    return merged


def busy_from_vfreebusy(text: str, start: datetime, end: datetime) -> list[BusyInterval]:
    """FREEBUSY periods of a free-busy-query answer; ``ValueError`` if it is not one."""
    try:
        cal = Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises several kinds on broken input
        raise ValueError(f"not iCalendar: {exc}") from None
    found: list[tuple[datetime, datetime, str]] = []
    for component in cal.walk("VFREEBUSY"):
        values = component.get("FREEBUSY")
        for period in values if isinstance(values, list) else [values] if values else []:
            fbtype = str(period.params.get("FBTYPE", "BUSY")).upper()
            status = _FBTYPES.get(fbtype)
            if status is None:
                continue
            a, b = period.start, period.end
            if not isinstance(a, datetime) or a.tzinfo is None:
                raise ValueError(f"FREEBUSY period without UTC time: {period.to_ical()!r}")
            found.append((a, b, status))
    return _clip(found, start, end)


def busy_from_items(
    items: Iterable[CalendarItem], start: datetime, end: datetime, *, zone: str
) -> list[BusyInterval]:
    """Busy intervals of events (series expanded); transparent and cancelled ones are free."""
    tz = ZoneInfo(zone)
    found: list[tuple[datetime, datetime, str]] = []
    for item in items:
        for occurrence in expand(item, start, end, zone=tz):
            source = occurrence.source or item
            status = source.status.upper()
            if source.transparent or status == "CANCELLED":
                continue
            found.append(
                (occurrence.start, occurrence.end, "TENTATIVE" if status == "TENTATIVE" else "BUSY")
            )
    return _clip(found, start, end)

"""Calendar items as the engine keeps them: JSON in the store (so a calendar can be re-read
without asking the server again) and their meaning for publishing (windows and busy time)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import CalendarItem
from mappings.classify import classify
from mappings.recurrence import expand
from mappings.rules import Rules
from syncd.domain.slots import Interval, WindowOccurrence
from syncd.engine.ownership import is_ours


def _when(value: datetime | date | None) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        tz = value.tzinfo
        key = getattr(tz, "key", None)
        if key:
            return {"dt": value.replace(tzinfo=None).isoformat(), "tz": key}
        return {"dt": value.isoformat()}
    return {"date": value.isoformat()}


def _unwhen(value: Any) -> datetime | date | None:
    if value is None:
        return None
    if "date" in value:
        return date.fromisoformat(value["date"])
    dt = datetime.fromisoformat(value["dt"])
    if "tz" in value:
        dt = dt.replace(tzinfo=ZoneInfo(value["tz"]))
    return dt


def item_to_json(item: CalendarItem) -> dict[str, Any]:
    return {
        "href": item.href,
        "uid": item.uid,
        "summary": item.summary,
        "start": _when(item.start),
        "end": _when(item.end),
        "etag": item.etag,
        "transparent": item.transparent,
        "status": item.status,
        "categories": list(item.categories),
        "external_id": item.external_id,
        "rrule": item.rrule,
        "exdates": [_when(d) for d in item.exdates],
        "rdates": [_when(d) for d in item.rdates],
        "recurrence_id": _when(item.recurrence_id),
        "overrides": [item_to_json(o) for o in item.overrides],
        "attendee_status": dict(item.attendee_status),
        "tzid": item.tzid,
    }


def item_from_json(data: dict[str, Any]) -> CalendarItem:
    start = _unwhen(data["start"])
    end = _unwhen(data["end"])
    assert start is not None and end is not None
    return CalendarItem(
        href=data["href"],
        uid=data["uid"],
        summary=data.get("summary", ""),
        start=start,
        end=end,
        etag=data.get("etag"),
        transparent=bool(data.get("transparent")),
        status=data.get("status", "CONFIRMED"),
        categories=tuple(data.get("categories", ())),
        external_id=data.get("external_id"),
        rrule=data.get("rrule"),
        exdates=tuple(x for x in (_unwhen(d) for d in data.get("exdates", ())) if x is not None),
        rdates=tuple(x for x in (_unwhen(d) for d in data.get("rdates", ())) if x is not None),
        recurrence_id=_unwhen(data.get("recurrence_id")),
        overrides=tuple(item_from_json(o) for o in data.get("overrides", ())),
        attendee_status=data.get("attendee_status", {}),
        tzid=data.get("tzid"),
    )


@dataclass(frozen=True)
class Meaning:
    """What one calendar item contributes inside the horizon."""

    windows: list[WindowOccurrence]
    busy: list[Interval]


def interpret(
    item: CalendarItem,
    owner_id: str,
    rules: Rules,
    type_titles: dict[str, str],
    horizon: tuple[datetime, datetime],
    zone: ZoneInfo,
) -> Meaning:
    """Windows and busy intervals of one caseworker item, occurrence by occurrence (a moved
    occurrence of a series may carry other properties than the series). Our own items are
    neither. Raises ``ItemParseError`` for recurrence that cannot be expanded."""
    windows: list[WindowOccurrence] = []
    busy: list[Interval] = []
    if is_ours(item):
        return Meaning(windows, busy)
    if item.external_id:  # a property of our name, but no id of ours: somebody's copy
        item = replace(
            item,
            external_id=None,
            overrides=tuple(replace(o, external_id=None) for o in item.overrides),
        )
    for occ in expand(item, horizon[0], horizon[1], zone=zone):
        source = occ.source or item
        c = classify(source, rules, type_titles)
        if c.kind == "window":
            windows.append(
                WindowOccurrence(owner_id, occ.start, occ.end, c.conversation_types, item.href)
            )
        elif c.kind == "busy":
            busy.append((occ.start, occ.end))
    return Meaning(windows, busy)

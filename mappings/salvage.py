"""What can still be learned from a calendar object we cannot read.

An unreadable meeting is still a meeting: offering its time would invite a citizen to book over
it (invariant 9: busy time we cannot read is never offered). So a quarantined object keeps
blocking time, read *conservatively* from its raw lines, which survive most of what makes the
full parser give up (RANGE=THISANDFUTURE, RSCALE, an unknown zone such as
'Western/Central Europe'):

- each VEVENT's DTSTART and DTEND/DURATION give a span; a TRANSPARENT or CANCELLED event none;
- an RRULE that dateutil can expand is expanded (EXDATEs ignored: blocking too much is safe);
  one it cannot (RSCALE, SKIP, garbage) blocks the same time of day on every day from DTSTART
  on, until its UNTIL if it has one;
- RECURRENCE-ID;RANGE=THISANDFUTURE: the master's rule, moved by the override's shift, from
  the override on, as well as the master's own instances;
- a zone we cannot resolve is read as the default zone with an hour's slack on each side
  (covers Western, Central and Eastern European offsets).

Also extracted: the UID and a short summary without CPR numbers, so a coordinator can find the
item. Spans are plain JSON (stored with the quarantine entry), so the block follows the
publishing horizon without the raw text being kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from connectors.base import CalendarItem
from mappings.privacy import redact_cpr
from mappings.timezones import UnknownTimeZone, default_zone, zone_for

SUMMARY_CHARS = 80
MAX_BLOCKS = 5000  # per item and range: a runaway rule blocks the rest of the range
UNKNOWN_ZONE_SLACK = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Salvage:
    uid: str = ""
    summary: str = ""
    spans: tuple[dict[str, Any], ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------- reading raw text


def _lines(text: str) -> list[str]:
    """Unfolded content lines (RFC 5545 3.1)."""
    return re.sub(r"\r?\n[ \t]", "", text).replace("\r\n", "\n").split("\n")


def _split(line: str) -> tuple[str, dict[str, str], str]:
    """NAME;P=V:value -> (NAME, {P: V}, value), quoted parameter values respected."""
    head, value = "", ""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            head, value = line[:i], line[i + 1 :]
            break
    else:
        return line.strip().upper(), {}, ""
    name, *params = re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', head)
    found: dict[str, str] = {}
    for param in params:
        key, _, val = param.partition("=")
        found[key.strip().upper()] = val.strip().strip('"')
    return name.strip().upper(), found, value.strip()


def _events(text: str) -> list[dict[str, tuple[dict[str, str], str]]]:
    """Each VEVENT's own properties (first occurrence of each name), nested blocks skipped."""
    events: list[dict[str, tuple[dict[str, str], str]]] = []
    depth = 0  # inside a VEVENT: 1; inside a VALARM in it: 2
    current: dict[str, tuple[dict[str, str], str]] = {}
    for line in _lines(text):
        name, params, value = _split(line)
        if name == "BEGIN":
            if depth == 0 and value.upper() == "VEVENT":
                depth, current = 1, {}
            elif depth:
                depth += 1
        elif name == "END" and depth:
            depth -= 1
            if depth == 0:
                events.append(current)
        elif depth == 1 and name not in current:
            current[name] = (params, value)
    return events


def _when(params: dict[str, str], value: str) -> dict[str, Any] | None:
    """A DTSTART-like value as JSON: wall time plus how to place it (or None if unreadable)."""
    raw = value.split(",")[0].strip().split("/")[0]
    m = re.fullmatch(r"(\d{8})(?:T(\d{6})(Z?))?", raw)
    if not m:
        return None
    day, clock, zulu = m.groups()
    try:
        if clock is None:
            return {"date": date(int(day[:4]), int(day[4:6]), int(day[6:])).isoformat()}
        wall = datetime.strptime(day + clock, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    out: dict[str, Any] = {"wall": wall.isoformat()}
    if zulu:
        out["utc"] = True
    elif params.get("TZID"):
        out["tzid"] = params["TZID"]
    return out


def _duration(value: str) -> timedelta | None:
    m = re.fullmatch(
        r"([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value.strip()
    )
    if not m or value.strip() in ("P", "PT"):
        return None
    sign, w, d, h, mi, s = m.groups()
    total = timedelta(
        weeks=int(w or 0), days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0),
        seconds=int(s or 0),
    )  # fmt: skip
    return -total if sign == "-" else total


def salvage(text: str) -> Salvage:
    """UID, a redacted summary and the time spans of a calendar object we could not parse."""
    events = _events(text) if isinstance(text, str) else []
    uid = next((v for e in events for k, (_, v) in e.items() if k == "UID" and v), "")
    summary = next((v for e in events for k, (_, v) in e.items() if k == "SUMMARY" and v), "")
    masters = [e for e in events if "RECURRENCE-ID" not in e]
    master_rule = next((e["RRULE"][1] for e in masters if "RRULE" in e), None)
    master_start = next((_when(*e["DTSTART"]) for e in masters if "DTSTART" in e), None)
    spans: list[dict[str, Any]] = []
    for event in events:
        if "DTSTART" not in event:
            continue
        transp = event.get("TRANSP", ({}, ""))[1].upper()
        status = event.get("STATUS", ({}, ""))[1].upper()
        if transp == "TRANSPARENT" or status == "CANCELLED":
            continue
        start = _when(*event["DTSTART"])
        if start is None:
            continue
        span: dict[str, Any] = {"start": start}
        if "DTEND" in event and (end := _when(*event["DTEND"])) is not None:
            span["end"] = end
        elif "DURATION" in event and (length := _duration(event["DURATION"][1])) is not None:
            span["seconds"] = int(length.total_seconds())
        if "RRULE" in event:
            span["rrule"] = event["RRULE"][1]
        rid_params, rid_value = event.get("RECURRENCE-ID", ({}, ""))
        if rid_params.get("RANGE", "").upper() == "THISANDFUTURE" and master_rule:
            rid = _when(rid_params, rid_value)
            if rid is not None and master_start is not None:
                # The master's rule, shifted by what this override moved, from here on.
                span.update(rrule=master_rule, anchor=master_start, rid=rid)
        spans.append(span)
    return Salvage(uid[:500], _short_summary(summary), tuple(spans))


def _short_summary(text: str) -> str:
    text = redact_cpr(" ".join(text.replace("\\n", " ").replace("\\,", ",").split()))
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def _item_when(value: datetime | date) -> dict[str, Any]:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return {"wall": value.isoformat()}
        return {"wall": value.astimezone(UTC).replace(tzinfo=None).isoformat(), "utc": True}
    return {"date": value.isoformat()}


def salvage_item(item: CalendarItem) -> Salvage:
    """The same for an item we could parse but not interpret (its series would not expand)."""
    spans: list[dict[str, Any]] = []
    for part in (item, *item.overrides):
        if part.transparent or part.status.upper() == "CANCELLED":
            continue
        span: dict[str, Any] = {"start": _item_when(part.start), "end": _item_when(part.end)}
        if part.rrule and part is item:
            span["rrule"] = part.rrule
        spans.append(span)
    return Salvage(item.uid[:500], _short_summary(item.summary), tuple(spans))


# ------------------------------------------------------------------------- blocking time


def _zone(when: dict[str, Any], default: ZoneInfo, territory: str) -> tuple[tzinfo, timedelta]:
    if when.get("utc"):
        return UTC, timedelta(0)
    tzid = when.get("tzid")
    if not tzid:
        return default, timedelta(0)
    try:
        return zone_for(str(tzid), territory), timedelta(0)
    except (UnknownTimeZone, ValueError):
        return default, UNKNOWN_ZONE_SLACK


def _wall(when: dict[str, Any]) -> tuple[datetime, bool]:
    if "date" in when:
        return datetime.fromisoformat(when["date"]), True
    return datetime.fromisoformat(when["wall"]), False


def _length(span: dict[str, Any], start: datetime, all_day: bool) -> timedelta:
    if "end" in span:
        end, _ = _wall(span["end"])
        if end > start:
            return end - start
    if "seconds" in span and span["seconds"] > 0:
        return timedelta(seconds=span["seconds"])
    return _DAY if all_day else timedelta(0)


def _walls(
    rule: str, dtstart: datetime, lo: datetime, hi: datetime, *, shift: timedelta
) -> Iterable[datetime] | None:
    """Wall times of ``rule`` in [lo, hi] (shifted), or None when the rule cannot be expanded."""
    if re.search(r"(?:^|;)\s*(RSCALE|SKIP)\s*=", rule, flags=re.IGNORECASE):
        return None
    try:
        compiled = rrulestr(rule.removeprefix("RRULE:"), dtstart=dtstart, ignoretz=True)
        walls = compiled.between(lo - shift, hi - shift, inc=True)
    except (ValueError, TypeError, OverflowError):
        return None
    return [w + shift for w in walls[:MAX_BLOCKS]]


def _until(rule: str) -> datetime | None:
    m = re.search(r"UNTIL=(\d{8})(?:T(\d{6}))?", rule, flags=re.IGNORECASE)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1) + (m.group(2) or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        return None


def blocked(
    spans: Sequence[dict[str, Any]],
    lo: datetime,
    hi: datetime,
    *,
    zone: ZoneInfo | None = None,
    territory: str = "DK",
) -> list[tuple[datetime, datetime]]:
    """Intervals (UTC) within [lo, hi) that the spans may occupy: a superset, never less."""
    default = zone or default_zone(territory)
    out: list[tuple[datetime, datetime]] = []
    for span in spans:
        try:
            out.extend(_span_blocks(span, lo, hi, default, territory))
        except (KeyError, TypeError, ValueError, OverflowError):
            continue  # a span we stored ourselves, so this means a bug, never a crash
    lo_u, hi_u = lo.astimezone(UTC), hi.astimezone(UTC)
    clipped = sorted((max(a, lo_u), min(b, hi_u)) for a, b in out if a < hi_u and b > lo_u)
    merged: list[tuple[datetime, datetime]] = []
    for a, b in clipped:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _span_blocks(
    span: dict[str, Any], lo: datetime, hi: datetime, default: ZoneInfo, territory: str
) -> list[tuple[datetime, datetime]]:
    start, all_day = _wall(span["start"])
    tz, slack = _zone(span["start"], default, territory)
    length = _length(span, start, all_day)
    if length <= timedelta(0):
        return []
    # The range in the item's wall clock, widened for zone offsets and the event's own length.
    wall_lo = lo.astimezone(tz).replace(tzinfo=None) - length - _DAY - slack
    wall_hi = hi.astimezone(tz).replace(tzinfo=None) + _DAY + slack
    rule = span.get("rrule")
    starts: list[datetime]
    if not rule:
        starts = [start]
    else:
        dtstart, shift = start, timedelta(0)
        if "anchor" in span and "rid" in span:
            dtstart, _ = _wall(span["anchor"])
            rid, _ = _wall(span["rid"])
            shift = start - rid
            wall_lo = max(wall_lo, rid + shift)
        walls = _walls(str(rule), dtstart, wall_lo, wall_hi, shift=shift)
        if walls is not None:
            starts = [start, *walls]
        else:  # cannot expand: the same time of day, every day from the start on
            until = _until(str(rule))
            first = max(start, start + (wall_lo - start) // _DAY * _DAY)
            last = min(wall_hi, until + length) if until else wall_hi
            starts = []
            day = first
            while day <= last and len(starts) < MAX_BLOCKS:
                starts.append(day)
                day += _DAY
    found = []
    for wall in starts:
        if wall + length < wall_lo or wall > wall_hi:
            continue
        a = _place(wall, tz) - slack
        b = _place(wall + length, tz) + slack
        found.append((a, b))
    return found


def _place(wall: datetime, tz: tzinfo) -> datetime:
    """A wall time in ``tz`` as UTC, the earlier reading in a DST fold, widened in a gap."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)

"""Occurrences of a calendar item inside a time range.

Rules are expanded on the wall clock of the item's own zone (so a weekly 09:00 Copenhagen window
stays at 09:00 across DST changes) with dateutil's RFC 5545 rrule engine; this module adds what
dateutil leaves out: EXDATE/RDATE matching across zones, RECURRENCE-ID overrides, all-day items as
local midnight to midnight, and a fast start for old daily/weekly series (the engine expands
thousands of items every cycle, most of them series started years ago).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from connectors.base import CalendarItem
from mappings.errors import ItemParseError

# A rule may not produce more instances than this inside one expansion range: a SECONDLY rule
# would otherwise stall the sync loop for every other calendar.
MAX_INSTANCES = 5000
MAX_COUNT = 100_000
_LISTED_COUNT = 2000
_ANCHOR_STEP = 8
_DEFAULT_ZONE = ZoneInfo("Europe/Copenhagen")  # for checking a rule before any range is asked
_WEEKDAYS = frozenset({"MO", "TU", "WE", "TH", "FR", "SA", "SU"})
_PERIODS = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
}


@dataclass(frozen=True)
class Occurrence:
    """One instance of an item, as aware datetimes in the zone asked for.

    ``source`` is the component whose properties apply to this instance: the override for a
    modified occurrence, otherwise the item itself (classify it to tell window from busy).
    """

    href: str
    uid: str
    start: datetime
    end: datetime
    all_day: bool = False
    recurrence_id: datetime | date | None = None
    source: CalendarItem | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, eq=False)  # hashed by identity: a key of the shift cache
class _Rule:
    rule: rrule
    period: timedelta | None  # set when the start may be moved forward by whole periods
    per_period: int | None = None  # instances per whole period, for COUNT rules that may move
    count: int | None = None
    instances: tuple[datetime, ...] | None = None  # all of them, for other short COUNT rules


def check_rrule(text: str, start: datetime | date) -> None:
    """Raise ``ValueError`` if ``text`` is not an RRULE we can expand from ``start``."""
    dtstart, tz = _frame(start)
    _compile(text, dtstart, tz, _DEFAULT_ZONE)


def expand(
    item: CalendarItem, start: datetime, end: datetime, *, zone: ZoneInfo
) -> list[Occurrence]:
    """Every occurrence of ``item`` that overlaps [start, end), sorted by start.

    Cancelled overrides are dropped; moved ones appear at their new time. Raises
    ``ItemParseError`` if the item's recurrence data cannot be expanded.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("expand() needs aware start and end")
    if end <= start:
        return []
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    found: list[Occurrence] = []
    instances = (item, *item.overrides) if item.recurrence_id is not None else (item,)
    if item.recurrence_id is None:
        found.extend(_series(item, lo, hi, zone))
        instances = item.overrides
    for instance in instances:
        if instance.status.upper() == "CANCELLED" and instance.recurrence_id is not None:
            continue
        occurrence = _single(instance, instance.start, zone)
        if _overlaps(occurrence, lo, hi):
            found.append(occurrence)
    found.sort(key=lambda o: (o.start.astimezone(UTC), o.end.astimezone(UTC)))
    return found


def _series(item: CalendarItem, lo: datetime, hi: datetime, zone: ZoneInfo) -> list[Occurrence]:
    all_day = item.all_day
    dtstart, tz = _frame(item.start)
    span = _span(item)
    rids = [o.recurrence_id for o in item.overrides if o.recurrence_id is not None]
    ex_exact, ex_days = _keys(item.exdates, all_day, zone)
    rid_exact, rid_days = _keys(rids, all_day, zone)
    skip_exact, skip_days = ex_exact | rid_exact, ex_days | rid_days
    # The range in the item's own wall clock, one day wider on each side for DST and zone shifts.
    frame_tz = tz or zone
    from_wall = (lo - span).astimezone(frame_tz).replace(tzinfo=None) - timedelta(days=1)
    to_wall = hi.astimezone(frame_tz).replace(tzinfo=None) + timedelta(days=1)
    walls: set[datetime] = set()
    if from_wall <= dtstart <= to_wall:
        walls.add(dtstart)  # DTSTART is always the first instance (RFC 5545 3.8.5.3)
    if item.rrule:
        try:
            compiled = _compile(item.rrule, dtstart, tz, zone)
        except ValueError as exc:
            raise ItemParseError(
                f"cannot expand RRULE: {exc}", href=item.href, where="RRULE"
            ) from None
        walls.update(_walls(compiled, dtstart, from_wall, to_wall, item.href))
    for rdate in item.rdates:
        wall = _to_frame(rdate, item, tz, zone)
        if from_wall <= wall <= to_wall:
            walls.add(wall)
    recurring = bool(item.rrule or item.rdates)
    found = []
    for wall in walls:
        # Work in UTC until an instance is known to be wanted: most are cut by the range.
        if all_day or tz is None:
            day = wall.date()
            if day in skip_exact or day in skip_days:
                continue
            start = _midnight(day, zone)
            end = _midnight(day + timedelta(days=span.days), zone)
            if not _hit(start.astimezone(UTC), end.astimezone(UTC), lo, hi):
                continue
            rid: datetime | date | None = day
        else:
            start_utc = wall.replace(tzinfo=tz).astimezone(UTC)
            if start_utc in skip_exact:
                continue
            start = start_utc.astimezone(zone)
            if skip_days and start.date() in skip_days:
                continue
            end_utc = start_utc + span
            if not _hit(start_utc, end_utc, lo, hi):
                continue
            end = end_utc.astimezone(zone)
            rid = start
        found.append(
            Occurrence(
                href=item.href,
                uid=item.uid,
                start=start,
                end=end,
                all_day=all_day,
                recurrence_id=rid if recurring else None,
                source=item,
            )
        )
    return found


def _hit(start: datetime, end: datetime, lo: datetime, hi: datetime) -> bool:
    """Does [start, end) overlap [lo, hi)? A zero-length item counts where it stands."""
    if start >= hi:
        return False
    return end > lo or (end == start and start >= lo)


def _single(item: CalendarItem, value: datetime | date, zone: ZoneInfo) -> Occurrence:
    start = _localise(_frame(value)[0], _frame(value)[1], item.all_day, zone)
    return _occurrence(item, start, _span(item), rid=item.recurrence_id)


def _occurrence(
    item: CalendarItem, start: datetime, span: timedelta, rid: datetime | date | None
) -> Occurrence:
    if item.all_day:
        first = start.date()
        end = _midnight(first + timedelta(days=span.days), start.tzinfo)  # type: ignore[arg-type]
        rid_value: datetime | date | None = rid.date() if isinstance(rid, datetime) else rid
    else:
        end = (start.astimezone(UTC) + span).astimezone(start.tzinfo)
        rid_value = rid
    if item.recurrence_id is not None:
        rid_value = item.recurrence_id
    return Occurrence(
        href=item.href,
        uid=item.uid,
        start=start,
        end=end,
        all_day=item.all_day,
        recurrence_id=rid_value,
        source=item,
    )


def _overlaps(occurrence: Occurrence, lo: datetime, hi: datetime) -> bool:
    return _hit(occurrence.start.astimezone(UTC), occurrence.end.astimezone(UTC), lo, hi)


# --------------------------------------------------------------------------- frames and keys


def _frame(value: datetime | date) -> tuple[datetime, tzinfo | None]:
    """The naive wall time an item recurs on, and its zone (None for all-day items)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None), value.tzinfo
    return datetime.combine(value, time()), None


def _span(item: CalendarItem) -> timedelta:
    if item.all_day:
        days = (item.end - item.start).days if not isinstance(item.end, datetime) else 1
        return timedelta(days=max(days, 0))
    start, end = item.start, item.end
    if not isinstance(end, datetime) or not isinstance(start, datetime):
        return timedelta(0)
    return max(end.astimezone(UTC) - start.astimezone(UTC), timedelta(0))


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time()).replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _localise(wall: datetime, tz: tzinfo | None, all_day: bool, zone: ZoneInfo) -> datetime:
    """Wall time -> aware datetime in ``zone``; a time in a DST gap moves forward (RFC 5545)."""
    if all_day or tz is None:
        return _midnight(wall.date(), zone)
    return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(zone)


def _to_frame(value: datetime | date, item: CalendarItem, tz: tzinfo | None, zone: ZoneInfo):
    if isinstance(value, datetime):
        if tz is None:  # a date-time RDATE on an all-day series: its local day
            return datetime.combine(value.astimezone(zone).date(), time())
        return value.astimezone(tz).replace(tzinfo=None)
    if tz is None:
        return datetime.combine(value, time())
    start = item.start
    assert isinstance(start, datetime)
    return datetime.combine(value, start.timetz().replace(tzinfo=None))


def _keys(
    values: Iterable[datetime | date], all_day: bool, zone: ZoneInfo
) -> tuple[set[object], set[date]]:
    """Exact keys (UTC instants, or days for all-day items), and local days for date values
    given for a timed series (sloppy, but seen in the wild)."""
    exact: set[object] = set()
    days: set[date] = set()
    for value in values:
        if isinstance(value, datetime):
            exact.add(value.astimezone(zone).date() if all_day else value.astimezone(UTC))
        elif all_day:
            exact.add(value)
        else:
            days.add(value)
    return exact, days


# --------------------------------------------------------------------------- rules


@lru_cache(maxsize=8192)
def _compile(text: str, dtstart: datetime, tz: tzinfo | None, zone: ZoneInfo) -> _Rule:
    """Parse an RRULE for a naive wall-clock DTSTART; UNTIL is moved onto the same wall clock
    (``tz``'s, or ``zone``'s for an all-day series, whose days are local days)."""
    parts: dict[str, str] = {}
    for piece in text.strip().removeprefix("RRULE:").split(";"):
        if not piece.strip():
            continue
        if "=" not in piece:
            raise ValueError(f"rule part {piece!r} has no '='")
        key, value = piece.split("=", 1)
        parts[key.strip().upper()] = value.strip()
    freq = parts.get("FREQ", "").upper()
    if not freq:
        raise ValueError("FREQ is missing")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("COUNT and UNTIL must not both be given")
    if "COUNT" in parts and int(parts["COUNT"]) > MAX_COUNT:
        raise ValueError(f"COUNT above {MAX_COUNT}")
    until_text = parts.pop("UNTIL", None)
    body = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rule = rrulestr(body, dtstart=dtstart, ignoretz=True, cache=False)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    if not isinstance(rule, rrule):
        raise ValueError("not a single RRULE")
    if until_text is not None:
        rule = rule.replace(until=_until(until_text, tz, zone))
    interval = int(parts.get("INTERVAL", "1") or 1)
    if interval < 1:
        raise ValueError("INTERVAL must be positive")
    period = _PERIODS[freq] * interval if freq in _PERIODS else None
    if "COUNT" not in parts:
        return _Rule(rule=rule, period=None if "BYSETPOS" in parts else period)
    count = int(parts["COUNT"])
    per_period = _uniform_count(freq, parts)
    if period is not None and per_period is not None:
        return _Rule(rule=rule, period=period, per_period=per_period, count=count)
    if count <= _LISTED_COUNT:
        # Other COUNT series must be walked from their start: once per rule, not per expansion.
        return _Rule(rule=rule, period=None, instances=tuple(rule))
    return _Rule(rule=rule, period=None)


def _uniform_count(freq: str, parts: dict[str, str]) -> int | None:
    """Instances in every whole period after the first, when that number is fixed.

    True for DAILY and WEEKLY rules made of INTERVAL, COUNT, WKST and (weekly) plain BYDAY:
    then moving the start forward k periods skips exactly k times that many instances, even
    when DTSTART's own week is only partly used.
    """
    allowed = {"FREQ", "INTERVAL", "COUNT", "WKST"} | ({"BYDAY"} if freq == "WEEKLY" else set())
    if freq not in ("DAILY", "WEEKLY") or not set(parts) <= allowed:
        return None
    days = [d.strip().upper() for d in parts.get("BYDAY", "").split(",") if d.strip()]
    if any(d not in _WEEKDAYS for d in days):
        return None
    return len(set(days)) or 1


def _until(text: str, tz: tzinfo | None, zone: ZoneInfo) -> datetime:
    value = text.strip().upper()
    try:
        if len(value) == 8:
            day = datetime.strptime(value, "%Y%m%d")
            return day if tz is None else day + timedelta(days=1, microseconds=-1)
        if value.endswith("Z"):
            instant = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return instant.astimezone(tz or zone).replace(tzinfo=None)
        return datetime.strptime(value, "%Y%m%dT%H%M%S")
    except ValueError:
        raise ValueError(f"UNTIL {text!r} is not a date or date-time") from None


def _walls(
    compiled: _Rule, dtstart: datetime, lo: datetime, hi: datetime, href: str
) -> list[datetime]:
    if compiled.instances is not None:
        listed = compiled.instances
        return list(listed[bisect_left(listed, lo) : bisect_right(listed, hi)])
    rule: rrule | None = compiled.rule
    if compiled.period is not None and lo - dtstart > compiled.period * (_ANCHOR_STEP + 1):
        # Whole periods keep the phase of INTERVAL and of WEEKLY's weeks, so a later start gives
        # the same instances from ``lo`` on without walking the series' history. The start is
        # rounded to a step, so the next cycles reuse the same (caching) rule.
        skip = ((lo - dtstart) // compiled.period - 1) // _ANCHOR_STEP * _ANCHOR_STEP
        rule = _shifted(compiled, dtstart, skip)
    if rule is None:
        return []
    found: list[datetime] = []
    for wall in rule.xafter(lo, inc=True):
        if wall > hi:
            break
        found.append(wall)
        if len(found) > MAX_INSTANCES:
            raise ItemParseError(
                f"RRULE yields more than {MAX_INSTANCES} instances in the range",
                href=href,
                where="RRULE",
            )
    return found


@lru_cache(maxsize=8192)
def _shifted(compiled: _Rule, dtstart: datetime, skip: int) -> rrule | None:
    """``compiled``'s rule started ``skip`` periods later; None when its COUNT is used up."""
    assert compiled.period is not None
    changes: dict[str, object] = {"dtstart": dtstart + compiled.period * skip, "cache": True}
    if compiled.count is not None and compiled.per_period is not None:
        left = compiled.count - skip * compiled.per_period
        if left <= 0:
            return None
        changes["count"] = left
    return compiled.rule.replace(**changes)

"""iCalendar text <-> plain values, for the CalDAV connector.

The connector hides the caldav library; everything about the iCalendar format lives here, so the
same rules (time zones, all-day items, recurrence data, our external id) apply to every CalDAV
server. Parsing is delegated to ``icalendar``; this module decides what the values mean and turns
every problem into an ``ItemParseError`` that says what is wrong and where.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone, vCalAddress

from connectors.base import CalendarItem, EventDraft
from mappings.errors import ItemParseError, NotAnEvent
from mappings.privacy import contains_cpr
from mappings.recurrence import check_rrule
from mappings.timezones import UnknownTimeZone, default_zone, equivalent_zone, zone_for

DEFAULT_EXTERNAL_ID_PROP = "X-SELVBOOK-ID"
DEFAULT_PRODID = "-//Selvbook syncd//DA"
_RESOURCE_CUTYPES = frozenset({"ROOM", "RESOURCE"})
# Properties whose damage changes when or whether an item blocks time: a parse error in one of
# them makes the item unreadable. Errors in other properties (attachments, alarms, x-props) are
# tolerated, since the item still says when it is.
_VITAL = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RRULE", "EXDATE", "RDATE", "RECURRENCE-ID", "UID"}
)


# --------------------------------------------------------------------------- locating problems


@dataclass
class _EventLines:
    begin: int
    props: dict[str, int] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # raw text of the first occurrence


class _Locator:
    """Line numbers of the raw text, so errors can point at the line an operator must look at."""

    def __init__(self, text: str) -> None:
        self.logical: list[tuple[int, str]] = []
        for number, raw in enumerate(re.split(r"\r\n|\n|\r", text), 1):
            if raw[:1] in (" ", "\t") and self.logical:
                first, joined = self.logical[-1]
                self.logical[-1] = (first, joined + raw[1:])
            elif raw.strip():
                self.logical.append((number, raw))
        self.events: list[_EventLines] = []
        depth: list[str] = []
        for number, line in self.logical:
            name = re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()
            value = line.split(":", 1)[1].strip().upper() if ":" in line else ""
            if name == "BEGIN":
                depth.append(value)
                if depth == ["VCALENDAR", "VEVENT"]:
                    self.events.append(_EventLines(begin=number))
            elif name == "END":
                if depth:
                    depth.pop()
            elif depth == ["VCALENDAR", "VEVENT"] and self.events:
                self.events[-1].props.setdefault(name, number)
                self.events[-1].values.setdefault(name, line.split(":", 1)[-1].strip())

    def prop(self, event_index: int | None, name: str) -> str:
        """``"line N, DTSTART"`` for a property of the n-th top-level VEVENT."""
        if event_index is not None and 0 <= event_index < len(self.events):
            number = self.events[event_index].props.get(name)
            if number is not None:
                return f"line {number}, {name}"
            return f"VEVENT at line {self.events[event_index].begin}"
        return name

    def raw(self, event_index: int, name: str) -> str | None:
        if 0 <= event_index < len(self.events):
            return self.events[event_index].values.get(name)
        return None

    def quoted(self, message: str) -> str | None:
        """The line an icalendar message refers to ("... parts: 'SUMMARY;X=...'", "got: x")."""
        fragments = re.findall(r"'([^']+)'", message)
        tail = message.rsplit(": ", 1)[-1].strip()
        if tail and tail != message.strip():
            fragments.append(tail)
        for fragment in fragments:
            for number, line in self.logical:
                if fragment in line:
                    return f"line {number}"
        return None


# --------------------------------------------------------------------------- time zones


class _Zones:
    """Resolves TZIDs of one calendar object: known names first, then its VTIMEZONE blocks."""

    def __init__(self, cal: Calendar, territory: str, href: str) -> None:
        self.territory = territory
        self.href = href
        self.default = default_zone(territory)
        self.vtimezones = {
            str(c.get("TZID", "")).strip(): c for c in cal.subcomponents if c.name == "VTIMEZONE"
        }
        self.cache: dict[str, tzinfo] = {}
        self.wr: ZoneInfo | None = None
        wr = cal.get("X-WR-TIMEZONE")
        if wr is not None and str(wr).strip():
            try:
                self.wr = zone_for(str(wr), territory)
            except UnknownTimeZone:
                raise ItemParseError(
                    f"unknown calendar time zone {str(wr)!r}", href=href, where="X-WR-TIMEZONE"
                ) from None

    def resolve(self, tzid: str, where: str) -> tzinfo:
        if tzid not in self.cache:
            self.cache[tzid] = self._resolve(tzid, where)
        return self.cache[tzid]

    def _resolve(self, tzid: str, where: str) -> tzinfo:
        try:
            return zone_for(tzid, self.territory)
        except UnknownTimeZone:
            pass
        block = self.vtimezones.get(tzid.strip().strip('"'))
        if block is None:
            raise ItemParseError(
                f"unknown time zone {tzid!r} and no VTIMEZONE defines it",
                href=self.href,
                where=where,
            )
        location = block.get("X-LIC-LOCATION")
        if location is not None:
            try:
                return zone_for(str(location), self.territory)
            except UnknownTimeZone:
                pass
        try:
            return _custom_zone(block.to_ical(), self.default)
        except Exception as exc:  # icalendar raises many kinds on broken VTIMEZONE rules
            raise ItemParseError(
                f"VTIMEZONE {tzid!r} cannot be used: {_short(exc)}", href=self.href, where=where
            ) from None

    def floating(self) -> tzinfo:
        return self.wr or self.default


@lru_cache(maxsize=256)
def _custom_zone(block: bytes, default: ZoneInfo) -> tzinfo:
    """A home-made VTIMEZONE as the IANA zone it equals, else as icalendar builds it.

    Cached on the block's text: Outlook repeats the same block in every item, and one tzinfo
    object per distinct block keeps recurrence expansion cheap.
    """
    component = Timezone.from_ical(block)
    if not isinstance(component, Timezone):
        raise ValueError("not a VTIMEZONE")
    custom = component.to_tz(lookup_tzid=False)
    return equivalent_zone(custom, (default,)) or custom


def _normalise(dt: datetime) -> datetime:
    """Move a wall time that falls in a DST gap to the instant it means (RFC 5545 3.3.5)."""
    if dt.tzinfo is None:
        return dt
    return dt.astimezone(UTC).astimezone(dt.tzinfo)


# --------------------------------------------------------------------------- parsing


def parse_resource(
    ics_text: str,
    href: str,
    etag: str | None = None,
    *,
    external_id_prop: str = DEFAULT_EXTERNAL_ID_PROP,
    territory: str = "DK",
) -> CalendarItem:
    """One CalDAV resource (a VEVENT series: master plus overrides) as one ``CalendarItem``."""
    if not isinstance(ics_text, str):
        raise ItemParseError(f"expected text, got {type(ics_text).__name__}", href=href)
    text = ics_text.lstrip("\ufeff")
    if not text.strip():
        raise ItemParseError("empty calendar object", href=href)
    locator = _Locator(text)
    try:
        cal = Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError, but also others on odd input
        raise ItemParseError(
            f"not valid iCalendar: {_short(exc)}", href=href, where=locator.quoted(str(exc))
        ) from None
    if not isinstance(cal, Calendar) or cal.name != "VCALENDAR":
        found = getattr(cal, "name", type(cal).__name__)
        raise ItemParseError(f"expected a VCALENDAR, found {found}", href=href, where="line 1")
    return _Parser(cal, href, etag, external_id_prop, territory, locator).item()


def _short(exc: BaseException, limit: int = 200) -> str:
    message = str(exc).replace("\r", " ").replace("\n", " ")
    return message if len(message) <= limit else message[:limit] + " [...]"


def _as_list(value: object) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class _Parser:
    """Turns one parsed VCALENDAR into a CalendarItem."""

    def __init__(
        self,
        cal: Calendar,
        href: str,
        etag: str | None,
        external_id_prop: str,
        territory: str,
        locator: _Locator,
    ) -> None:
        self.cal = cal
        self.href = href
        self.etag = etag
        self.external_id_prop = external_id_prop.upper()
        self.locator = locator
        try:
            self.zones = _Zones(cal, territory, href)
        except UnknownTimeZone as exc:
            raise ItemParseError(str(exc), href=href) from None

    def fail(self, message: str, index: int | None, prop: str | None = None) -> ItemParseError:
        where = self.locator.prop(index, prop) if prop else self._event_where(index)
        return ItemParseError(message, href=self.href, where=where)

    def _event_where(self, index: int | None) -> str | None:
        if index is not None and 0 <= index < len(self.locator.events):
            return f"VEVENT at line {self.locator.events[index].begin}"
        return None

    def item(self) -> CalendarItem:
        events = [c for c in self.cal.subcomponents if isinstance(c, Event)]
        if not events:
            kinds = sorted({str(c.name) for c in self.cal.subcomponents}) or ["nothing"]
            raise NotAnEvent(
                f"no VEVENT in calendar object (holds {', '.join(kinds)})", href=self.href
            )
        uids = {str(e.get("UID")).strip() for e in events if e.get("UID") is not None}
        if len(uids) > 1:
            raise ItemParseError(
                f"one calendar object must hold one event series, found {len(uids)} UIDs",
                href=self.href,
            )
        uid = uids.pop() if uids else self.href
        masters: list[tuple[int, Event]] = []
        overrides: list[tuple[int, Event]] = []
        for index, event in enumerate(events):
            (overrides if event.get("RECURRENCE-ID") is not None else masters).append(
                (index, event)
            )
        if len(masters) > 1:
            raise self.fail("several VEVENTs without RECURRENCE-ID for one UID", masters[1][0])
        children = self._overrides(uid, overrides)
        if masters:
            index, master = masters[0]
            return self._event(master, index, uid, children)
        # Only modified instances (an invitation to single occurrences): the first stands in
        # for the series and the others ride along; recurrence expands each as it is.
        first, *rest = children
        return replace(first, overrides=tuple(rest))

    def _overrides(self, uid: str, found: list[tuple[int, Event]]) -> list[CalendarItem]:
        by_rid: dict[object, tuple[int, CalendarItem]] = {}
        for index, event in found:
            child = self._event(event, index, uid, [])
            sequence = _int(event.get("SEQUENCE"))
            key = _instant_key(child.recurrence_id)
            if key not in by_rid or sequence >= by_rid[key][0]:
                by_rid[key] = (sequence, child)
        return sorted((c for _, c in by_rid.values()), key=lambda c: _sort_key(c.recurrence_id))

    def _event(
        self, event: Event, index: int, uid: str, children: list[CalendarItem]
    ) -> CalendarItem:
        self._check_errors(event, index)
        start = self._when(event, index, "DTSTART")
        if start is None:
            raise self.fail("event has no DTSTART", index, "DTSTART")
        end = self._end(event, index, start)
        rrule = self._rrule(event, index, start)
        recurrence_id = self._when(event, index, "RECURRENCE-ID")
        if recurrence_id is not None:
            rid_range = str(getattr(event.get("RECURRENCE-ID"), "params", {}).get("RANGE", ""))
            if rid_range.upper() == "THISANDFUTURE":
                raise self.fail(
                    "RECURRENCE-ID;RANGE=THISANDFUTURE is not supported", index, "RECURRENCE-ID"
                )
        rdates, periods = self._rdates(event, index)
        item = CalendarItem(
            href=self.href,
            uid=uid,
            summary=_text(event.get("SUMMARY")),
            start=start,
            end=end,
            etag=self.etag,
            transparent=_transparent(event),
            status=_status(event),
            categories=_categories(event),
            location=_text(event.get("LOCATION")),
            description=_text(event.get("DESCRIPTION")),
            external_id=_own_id(_text(event.get(self.external_id_prop)).strip(), uid),
            rrule=rrule,
            exdates=self._date_list(event, index, "EXDATE"),
            rdates=rdates,
            recurrence_id=recurrence_id,
            overrides=tuple(children),
            attendee_status=_resource_status(event),
            tzid=_tzid(event.get("DTSTART")),
        )
        if not periods:
            return item
        # An RDATE period brings its own length: model it as an override at that instance, so
        # recurrence expansion needs no special case (a real override there still wins).
        taken = {_instant_key(c.recurrence_id) for c in children}
        extra = [
            replace(item, start=s, end=e, rrule=None, exdates=(), rdates=(), recurrence_id=s)
            for s, e in periods
            if _instant_key(s) not in taken
        ]
        ordered = sorted([*children, *extra], key=lambda c: _sort_key(c.recurrence_id))
        return replace(item, overrides=tuple(ordered))

    def _check_errors(self, event: Event, index: int) -> None:
        for name, message in getattr(event, "errors", []):
            if name is None:
                where = self.locator.quoted(message) or self._event_where(index)
                raise ItemParseError(
                    f"unreadable line: {_short(message)}", href=self.href, where=where
                )
            upper = str(name).upper()
            if upper in _VITAL or upper == self.external_id_prop:
                raise self.fail(f"invalid {upper}: {_short(message)}", index, upper)

    # -- dates and times

    def _when(self, event: Event, index: int, name: str) -> datetime | date | None:
        values = _as_list(event.get(name))
        if not values:
            return None
        if len(values) > 1:
            raise self.fail(f"{name} appears {len(values)} times", index, name)
        prop = values[0]
        value = getattr(prop, "dt", None)
        return self._convert(value, _tzid(prop), index, name)

    def _convert(self, value: object, tzid: str | None, index: int, name: str) -> datetime | date:
        where = self.locator.prop(index, name)
        if isinstance(value, tuple):  # a PERIOD: its start is the instance
            value = value[0]
        if isinstance(value, datetime):
            if tzid:
                zone = self.zones.resolve(tzid, where)
                return _normalise(value.replace(tzinfo=zone))
            if value.tzinfo is not None:  # 'Z': UTC, shown in the calendar's zone if it has one
                return value.astimezone(self.zones.wr or ZoneInfo("UTC"))
            return _normalise(value.replace(tzinfo=self.zones.floating()))
        if isinstance(value, date):
            return value
        if isinstance(value, time):
            raise ItemParseError(f"{name} is a time without a date", href=self.href, where=where)
        raise ItemParseError(
            f"{name} is not a date or date-time ({type(value).__name__})",
            href=self.href,
            where=where,
        )

    def _end(self, event: Event, index: int, start: datetime | date) -> datetime | date:
        end = self._when(event, index, "DTEND")
        if end is not None:
            if isinstance(start, datetime) != isinstance(end, datetime):
                raise self.fail(
                    "DTSTART and DTEND differ in type (date vs date-time)", index, "DTEND"
                )
            if end < start:
                raise self.fail("DTEND is before DTSTART", index, "DTEND")
            if not isinstance(start, datetime) and end == start:
                return start + timedelta(days=1)
            return end
        durations = _as_list(event.get("DURATION"))
        if durations:
            duration = getattr(durations[0], "dt", None)
            if not isinstance(duration, timedelta):
                raise self.fail("DURATION is not a duration", index, "DURATION")
            if duration < timedelta(0):
                raise self.fail("DURATION is negative", index, "DURATION")
            if not isinstance(start, datetime):
                return start + timedelta(days=max(duration.days, 1))
            nominal = _nominal_days(self.locator.raw(index, "DURATION"))
            if nominal is not None and nominal != duration.days:
                # "PT24H" parses like "P1D" but means 24 real hours, not one calendar day.
                exact = duration - timedelta(days=nominal)
                return (
                    add_duration(start, timedelta(days=nominal)).astimezone(UTC) + exact
                ).astimezone(start.tzinfo)
            return add_duration(start, duration)
        if isinstance(start, datetime):
            return start  # RFC 5545 3.6.1: a timed event without end takes no time
        return start + timedelta(days=1)

    def _date_list(self, event: Event, index: int, name: str) -> tuple[datetime | date, ...]:
        found: list[datetime | date] = []
        for prop in _as_list(event.get(name)):
            tzid = _tzid(prop)
            for value in getattr(prop, "dts", []):
                found.append(self._convert(getattr(value, "dt", value), tzid, index, name))
        return tuple(sorted(set(found), key=_sort_key))

    def _rdates(
        self, event: Event, index: int
    ) -> tuple[tuple[datetime | date, ...], list[tuple[datetime, datetime]]]:
        """RDATE values, with PERIOD values (start/end or start/duration) kept apart."""
        plain: set[datetime | date] = set()
        periods: list[tuple[datetime, datetime]] = []
        for prop in _as_list(event.get("RDATE")):
            tzid = _tzid(prop)
            for value in getattr(prop, "dts", []):
                raw = getattr(value, "dt", value)
                if not isinstance(raw, tuple):
                    plain.add(self._convert(raw, tzid, index, "RDATE"))
                    continue
                start = self._convert(raw[0], tzid, index, "RDATE")
                if not isinstance(start, datetime):
                    raise self.fail("RDATE period does not start at a date-time", index, "RDATE")
                tail = raw[1]
                end: datetime | date
                if isinstance(tail, timedelta):
                    end = add_duration(start, tail)
                else:
                    end = self._convert(tail, tzid, index, "RDATE")
                if not isinstance(end, datetime) or end < start:
                    raise self.fail("RDATE period ends before it starts", index, "RDATE")
                periods.append((start, end))
        return tuple(sorted(plain, key=_sort_key)), periods

    def _rrule(self, event: Event, index: int, start: datetime | date) -> str | None:
        rules = _as_list(event.get("RRULE"))
        if not rules:
            return None
        # An empty "RRULE:" line (seen in exported holiday calendars) means no rule at all.
        texts = {r.to_ical().decode("utf-8").strip() for r in rules} - {""}
        if not texts:
            return None
        if len(texts) > 1:
            raise self.fail("several different RRULE lines are not supported", index, "RRULE")
        text = texts.pop()
        try:
            check_rrule(text, start)
        except ValueError as exc:
            raise self.fail(f"invalid RRULE {text!r}: {exc}", index, "RRULE") from None
        return text


def add_duration(start: datetime, duration: timedelta) -> datetime:
    """``start`` plus an RFC 5545 duration: days count on the wall clock, hours and less exactly.

    So "P1D" from 09:00 is 09:00 the next day even across a DST change, while "PT2H" is two real
    hours.
    """
    tz = start.tzinfo
    wall = start + timedelta(days=duration.days)
    exact = timedelta(seconds=duration.seconds, microseconds=duration.microseconds)
    if not exact:
        return _normalise(wall)
    return (wall.astimezone(UTC) + exact).astimezone(tz)


def _nominal_days(raw: str | None) -> int | None:
    """The calendar days of an RFC 5545 duration as written ("P1W2DT3H" -> 9), else None."""
    if raw is None:
        return None
    match = re.fullmatch(r"\+?P(?:(\d+)W)?(?:(\d+)D)?(?:T.*)?", raw.strip().upper())
    if not match:
        return None
    weeks, days = match.groups()
    return int(weeks or 0) * 7 + int(days or 0)


def _tzid(prop: object) -> str | None:
    params = getattr(prop, "params", None)
    if not params:
        return None
    value = params.get("TZID")
    if value is None:
        return None
    return str(value).strip() or None


def _text(value: object) -> str:
    values = _as_list(value)
    return str(values[0]) if values else ""


def _int(value: object) -> int:
    try:
        return int(_as_list(value)[0]) if value is not None else 0
    except (TypeError, ValueError, IndexError):
        return 0


def _status(event: Event) -> str:
    status = _text(event.get("STATUS")).strip().upper()
    if status:
        return status
    busy = _text(event.get("X-MICROSOFT-CDO-BUSYSTATUS")).strip().upper()
    return "TENTATIVE" if busy == "TENTATIVE" else "CONFIRMED"


def _transparent(event: Event) -> bool:
    transp = _text(event.get("TRANSP")).strip().upper()
    if transp:
        return transp == "TRANSPARENT"
    return _text(event.get("X-MICROSOFT-CDO-BUSYSTATUS")).strip().upper() == "FREE"


def _categories(event: Event) -> tuple[str, ...]:
    found: list[str] = []
    for prop in _as_list(event.get("CATEGORIES")):
        names: Iterable[object] = getattr(prop, "cats", None) or [prop]
        for name in names:
            cleaned = str(name).strip()
            if cleaned and cleaned not in found:
                found.append(cleaned)
    return tuple(found)


def _resource_status(event: Event) -> dict[str, str]:
    status: dict[str, str] = {}
    for attendee in _as_list(event.get("ATTENDEE")):
        params = getattr(attendee, "params", {}) or {}
        if str(params.get("CUTYPE", "")).upper() not in _RESOURCE_CUTYPES:
            continue
        address = re.sub(r"^mailto:", "", str(attendee).strip(), flags=re.IGNORECASE).lower()
        if address:
            status[address] = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return status


def _instant_key(value: datetime | date | None) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def _sort_key(value: datetime | date | None) -> tuple[datetime, int]:
    """Orders dates and date-times together (a date sorts as its UTC midnight)."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC), 1)
    if isinstance(value, date):
        return (datetime.combine(value, time(), UTC), 0)
    return (datetime.min.replace(tzinfo=UTC), 0)


# --------------------------------------------------------------------------- rendering


def render_event(
    draft: EventDraft,
    *,
    zone: str | ZoneInfo = "Europe/Copenhagen",
    prodid: str = DEFAULT_PRODID,
    external_id_prop: str = DEFAULT_EXTERNAL_ID_PROP,
    sequence: int = 0,
    dtstamp: datetime | None = None,
    resources_as_attendees: bool = True,
) -> str:
    """A VCALENDAR for one of our own events, ready to PUT on a CalDAV server.

    ``dtstamp`` defaults to now; pass it to get byte-identical output for the same draft.
    Refuses (``ValueError``) any text that holds a CPR number, since calendars are widely seen.
    """
    _refuse_cpr(draft)
    if not external_id_prop.upper().startswith("X-"):
        raise ValueError(f"external id property must be an X- property, got {external_id_prop!r}")
    for name in ("start", "end"):
        value = getattr(draft, name)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"EventDraft.{name} must be an aware datetime")
    if draft.end < draft.start:
        raise ValueError("EventDraft.end is before its start")
    tz = zone if isinstance(zone, ZoneInfo) else zone_for(zone)
    start = _unambiguous(draft.start, tz)
    end = _unambiguous(draft.end, tz)

    cal = Calendar()
    cal.add("PRODID", prodid)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    if tz.key != "UTC":
        cal.add_component(
            Timezone.from_tzinfo(
                tz,
                tzid=tz.key,
                first_date=date(start.year, 1, 1),
                last_date=date(end.year + 2, 1, 1),
            )
        )
    event = Event()
    event.add("UID", draft.external_id)
    event.add("DTSTAMP", (dtstamp or datetime.now(UTC)).astimezone(UTC))
    event.add("SEQUENCE", sequence)
    event.add("DTSTART", start)
    event.add("DTEND", end)
    event.add("SUMMARY", draft.summary)
    if draft.location:
        event.add("LOCATION", draft.location)
    if draft.description:
        event.add("DESCRIPTION", draft.description)
    if draft.private:
        event.add("CLASS", "PRIVATE")
    if draft.categories:
        event.add("CATEGORIES", list(draft.categories))
    event.add("TRANSP", "TRANSPARENT" if draft.transparent else "OPAQUE")
    event.add("STATUS", "CONFIRMED")
    if resources_as_attendees:
        for mailbox in draft.resources:
            attendee = vCalAddress(f"mailto:{mailbox}")
            attendee.params["CUTYPE"] = "ROOM"
            attendee.params["ROLE"] = "NON-PARTICIPANT"
            attendee.params["PARTSTAT"] = "NEEDS-ACTION"
            event.add("ATTENDEE", attendee, encode=False)
    event.add(external_id_prop.upper(), draft.external_id)
    if draft.reminder_minutes is not None:
        # RFC 5545 3.6.6: a DISPLAY alarm needs a DESCRIPTION; the trigger is relative to
        # DTSTART. The summary only, never the description (lock screens show alarms).
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", draft.summary)
        alarm.add("TRIGGER", -timedelta(minutes=draft.reminder_minutes))
        event.add_component(alarm)
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


def _unambiguous(moment: datetime, tz: ZoneInfo) -> datetime:
    """``moment`` on ``tz``'s wall clock, or in UTC where the wall clock cannot say it.

    A TZID wall time in the repeated autumn hour means its first occurrence (RFC 5545 3.3.5),
    so the second 02:30 is written as UTC rather than silently moved an hour.
    """
    local = moment.astimezone(tz)
    if local.replace(fold=0).astimezone(UTC) != moment.astimezone(UTC):
        return moment.astimezone(UTC)
    return local


def _refuse_cpr(draft: EventDraft) -> None:
    fields = {
        "external_id": draft.external_id,
        "summary": draft.summary,
        "location": draft.location,
        "description": draft.description,
        "categories": " ".join(draft.categories),
        "resources": " ".join(draft.resources),
    }
    for name, value in fields.items():
        if contains_cpr(value):
            # The message names the field only: repeating the number would leak it into logs.
            raise ValueError(f"refusing to render: EventDraft.{name} contains a CPR number")


def _own_id(marked: str, uid: str) -> str | None:
    """Our external id only where the UID is the one we gave the event. A calendar client's
    copy of our event gets a new UID but keeps every other property, ours too: that copy is the
    caseworker's own item (busy time), never ours to change or delete."""
    return marked if marked and marked == uid else None

"""Pure translation between Microsoft Graph JSON and the connector's plain values.

No I/O here. Graph specifics that matter:
- A recurring series is one ``CalendarItem`` (href = the master's id) whose overrides are the
  instances Graph expanded in the window (``series_item``); delta's occurrence stubs carry only
  times and are filled in from the master. Graph's recurrence pattern is never translated.
- Times are requested in UTC (``Prefer: outlook.timezone="UTC"``) and then shown in the
  event's own zone (``originalStartTimeZone``, a Windows name resolved with
  ``mappings.timezones.zone_for``); all-day events become ``date`` values.
- Our delta token wraps Graph's deltaLink with the window it was made for, because a deltaLink
  is bound to the startDateTime/endDateTime of the round that produced it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import BusyInterval, CalendarInfo, CalendarItem, EventDraft, SyncTokenInvalid
from mappings.timezones import UnknownTimeZone, windows_name, zone_for

RESPONSES = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentativelyaccepted": "TENTATIVE",
    "none": "NEEDS-ACTION",
    "notresponded": "NEEDS-ACTION",
    "organizer": "ACCEPTED",
}
SCHEDULE_STATUS = {
    "busy": "BUSY",
    "tentative": "TENTATIVE",
    "oof": "OOF",
    "workingelsewhere": "BUSY",
}


def property_id(guid: str, name: str = "SelvbookId") -> str:
    """The id of our single-value extended property (a named MAPI string property)."""
    return f"String {{{guid}}} Name {name}"


UID_PROPERTY = "SelvbookUid"  # the iCalUId Exchange gave our event, stamped after the create
_GOID_PREFIX = bytes.fromhex("040000008200E00074C5B7101A82E008")


def goid_hex(uid: str) -> str:
    """The iCalUId Graph shows for an item whose iCalendar UID is ``uid`` (set over EWS): the
    GlobalObjectId wrapping it as "vCal-Uid" data (MS-OXOCAL 2.2.1.27), in hex."""
    data = b"vCal-Uid" + (1).to_bytes(4, "little") + uid.encode() + b"\0"
    return (_GOID_PREFIX + bytes(20) + len(data).to_bytes(4, "little") + data).hex().upper()


def owned_id(
    ical_uid: str | None,
    external_id: str | None,
    stamp: str | None,
    transaction_id: str | None = None,
) -> str | None:
    """Our external id if the event is ours, else None. Ours: it carries our property AND its
    iCalUId is the one we gave it: the external id itself or its GlobalObjectId (written over
    EWS, before a mailbox move), or the iCalUId we stamped on it after creating it over Graph.
    An Outlook copy keeps the property (and the stamp) but gets a new iCalUId: not ours, so it
    is someone's busy time and never edited or deleted. An event with the property and no
    stamp counts as ours only with the transactionId we create with ("<external id>.<random>"):
    written before stamps existed, or the stamp's PATCH failed."""
    if not external_id:
        return None
    uid = (ical_uid or "").upper()
    if uid and uid in (external_id.upper(), goid_hex(external_id)):
        return external_id
    if stamp is not None:
        return external_id if stamp.upper() == uid else None
    return external_id if (transaction_id or "").startswith(f"{external_id}.") else None


def odata_quote(text: str) -> str:
    """A string literal for $filter: single quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


# ----- time ------------------------------------------------------------------------------------
def parse_dtz(value: Mapping[str, Any], territory: str = "DK") -> datetime:
    """A Graph dateTimeTimeZone as an aware datetime in the zone it names."""
    text = str(value["dateTime"]).rstrip("Z")
    if "." in text:  # Graph sends 7 fractional digits
        head, fraction = text.split(".", 1)
        text = f"{head}.{fraction[:6]}"
    naive = datetime.fromisoformat(text).replace(tzinfo=None)
    return naive.replace(tzinfo=zone_for(value.get("timeZone") or "UTC", territory))


def format_dtz(moment: datetime) -> dict[str, str]:
    """An aware datetime as dateTimeTimeZone, in its own zone under its Windows name."""
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo) and zone.key != "UTC":
        try:
            name = windows_name(zone)
            return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": name}
        except UnknownTimeZone:
            pass
    utc = moment.astimezone(UTC)
    return {"dateTime": utc.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _own_zone(name: str | None, territory: str) -> tzinfo | None:
    if not name:
        return None
    try:
        return zone_for(name, territory)
    except UnknownTimeZone:  # "Customized Time Zone", "tzone://Microsoft/Custom", ...
        return None


# ----- events -> CalendarItem ------------------------------------------------------------------
def item_from_event(
    data: Mapping[str, Any], *, territory: str = "DK", external_id: str | None = None
) -> CalendarItem | None:
    """One Graph event (single instance, occurrence or exception); None for series masters
    (a series is read whole, see ``series_item``)."""
    if data.get("type") == "seriesMaster":
        return None
    return _event_item(data, territory, external_id)


# What an occurrence stub lacks and takes from its series master (delta sends only id, type,
# seriesMasterId, start, end and the etag: microsoft-graph-docs #7632, -contrib #34).
_SERIES_KEYS = (
    "subject",
    "body",
    "categories",
    "showAs",
    "sensitivity",
    "location",
    "isAllDay",
    "isCancelled",
    "originalStartTimeZone",
    "iCalUId",
)


def is_stub(data: Mapping[str, Any]) -> bool:
    """An occurrence as delta reports it: times only, everything else on the master."""
    return data.get("type") in ("occurrence", "exception") and "subject" not in data


def series_item(
    master: Mapping[str, Any], instances: Iterable[Mapping[str, Any]], territory: str = "DK"
) -> CalendarItem:
    """A recurring series as one item: the master's properties, and every instance in the
    window as an override (stubs hydrated from the master). The master's own start is excluded,
    so only the listed instances count: an occurrence deleted in Outlook simply is not there.
    Graph's recurrence pattern is never translated; Graph expands it for us."""
    head = _event_item(master, territory, None)
    inherited = {k: master[k] for k in _SERIES_KEYS if k in master}
    overrides = []
    for data in instances:
        full = {**inherited, **data} if is_stub(data) else dict(data)
        child = _event_item(full, territory, None)
        overrides.append(
            replace(
                child,
                href=head.href,
                uid=head.uid,
                recurrence_id=child.recurrence_id or child.start,
                attendee_status={},
            )
        )
    overrides.sort(key=lambda c: _instant(c.start))
    return replace(head, exdates=(head.start,), overrides=tuple(overrides))


_DAYS = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}


def recurrence_rule(recurrence: Mapping[str, Any] | None) -> str:
    """A Graph recurrence ("patternedRecurrence") as an RRULE that covers at least its
    occurrences, for blocking time when the series cannot be listed: daily and weekly patterns
    exactly, anything else (monthly, yearly, unknown) as every day, which blocks too much but
    never too little."""
    pattern = (recurrence or {}).get("pattern") or {}
    span = (recurrence or {}).get("range") or {}
    kind = str(pattern.get("type") or "").lower()
    try:
        interval = max(1, int(pattern.get("interval") or 1))
    except (TypeError, ValueError):
        interval = 1
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or ()]
    exact = True
    if kind == "weekly" and days and set(days) <= _DAYS:
        rule = f"FREQ=WEEKLY;INTERVAL={interval};BYDAY={','.join(d[:2].upper() for d in days)}"
    elif kind == "daily":
        rule = f"FREQ=DAILY;INTERVAL={interval}"
    else:
        rule, exact = "FREQ=DAILY", False
    end = str(span.get("endDate") or "")
    if span.get("type") == "endDate" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", end):
        rule += f";UNTIL={end.replace('-', '')}T235959"
    elif span.get("type") == "numbered" and exact and span.get("numberOfOccurrences"):
        rule += f";COUNT={int(span['numberOfOccurrences'])}"
    return rule


def _span_when(value: datetime | date) -> dict[str, Any]:
    """A time as ``mappings.salvage`` spans hold it: the wall clock in its own zone."""
    if not isinstance(value, datetime):
        return {"date": value.isoformat()}
    key = getattr(value.tzinfo, "key", None)
    if key and key != "UTC":
        return {"wall": value.replace(tzinfo=None).isoformat(), "tzid": key}
    return {"wall": value.astimezone(UTC).replace(tzinfo=None).isoformat(), "utc": True}


def series_spans(
    master: Mapping[str, Any] | None, stubs: Iterable[Mapping[str, Any]], territory: str = "DK"
) -> tuple[dict[str, Any], ...]:
    """The time a series we cannot list may occupy (invariant 9): the master's first
    occurrence and its recurrence (``recurrence_rule``), plus every stub delta delivered."""
    spans: list[dict[str, Any]] = []
    if master is not None:
        try:
            head = _event_item(master, territory, None)
            if not head.transparent and head.status != "CANCELLED":
                spans.append(
                    {
                        "start": _span_when(head.start),
                        "end": _span_when(head.end),
                        "rrule": recurrence_rule(master.get("recurrence")),
                    }
                )
        except (KeyError, TypeError, ValueError, LookupError):
            pass
    for stub in stubs:
        try:
            start, end = parse_dtz(stub["start"], territory), parse_dtz(stub["end"], territory)
        except (KeyError, TypeError, ValueError, LookupError):
            continue
        spans.append({"start": _span_when(start), "end": _span_when(end)})
    return tuple(spans)


def _instant(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _event_item(data: Mapping[str, Any], territory: str, external_id: str | None) -> CalendarItem:
    tzid = data.get("originalStartTimeZone")
    start = parse_dtz(data["start"], territory)
    end = parse_dtz(data["end"], territory)
    own = _own_zone(tzid, territory)
    if data.get("isAllDay"):
        start_value: datetime | date = start.date()
        end_value: datetime | date = end.date()
    else:
        start_value = start.astimezone(own) if own else start
        end_value = end.astimezone(own) if own else end
    recurrence_id = None
    if data.get("type") in ("occurrence", "exception") and data.get("originalStart"):
        original = datetime.fromisoformat(str(data["originalStart"]).replace("Z", "+00:00"))
        recurrence_id = original.astimezone(own) if own else original
    show_as = str(data.get("showAs") or "busy").lower()
    status = (
        "CANCELLED"
        if data.get("isCancelled")
        else ("TENTATIVE" if show_as == "tentative" else "CONFIRMED")
    )
    return CalendarItem(
        href=str(data["id"]),
        uid=str(data.get("iCalUId") or data["id"]),
        summary=str(data.get("subject") or ""),
        start=start_value,
        end=end_value,
        etag=data.get("@odata.etag") or data.get("changeKey"),
        transparent=show_as == "free",
        status=status,
        categories=tuple(data.get("categories") or ()),
        location=str((data.get("location") or {}).get("displayName") or ""),
        description=body_text(data.get("body")),
        external_id=external_id,
        recurrence_id=recurrence_id,
        attendee_status=room_responses(data.get("attendees") or ()),
        tzid=tzid,
    )


def body_text(body: Mapping[str, Any] | None) -> str:
    if not body:
        return ""
    content = str(body.get("content") or "")
    if str(body.get("contentType", "text")).lower() == "html":
        content = re.sub(r"<(br|/p|/div)\b[^>]*>", "\n", content, flags=re.I)
        content = html.unescape(re.sub(r"<[^>]+>", "", content))
    return content.strip()


def room_responses(attendees: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Responses of resource attendees (rooms) by lower-case address."""
    found = {}
    for attendee in attendees:
        if str(attendee.get("type", "")).lower() != "resource":
            continue
        address = str((attendee.get("emailAddress") or {}).get("address") or "").lower()
        response = str((attendee.get("status") or {}).get("response") or "none").lower()
        if address:
            found[address] = RESPONSES.get(response, "NEEDS-ACTION")
    return found


def extended_value(data: Mapping[str, Any], prop_ids: str | Sequence[str]) -> str | None:
    """Our property's value from an event fetched with $expand=singleValueExtendedProperties;
    with several ids (current set, then legacy ones) the first one present wins."""
    ids = (prop_ids,) if isinstance(prop_ids, str) else tuple(prop_ids)
    values = {
        " ".join(str(prop.get("id", "")).lower().split()): prop.get("value")
        for prop in data.get("singleValueExtendedProperties") or ()
    }
    for prop_id in ids:
        value = values.get(" ".join(prop_id.lower().split()))
        if value is not None:
            return str(value)
    return None


# ----- EventDraft -> event JSON ----------------------------------------------------------------
def event_body(draft: EventDraft, prop_id: str, *, create: bool) -> dict[str, Any]:
    """The event as we want it. On create it carries our property (the caller adds a
    ``transactionId``)."""
    body: dict[str, Any] = {
        "subject": draft.summary,
        "body": {"contentType": "text", "content": draft.description},
        "start": format_dtz(draft.start),
        "end": format_dtz(draft.end),
        "location": {"displayName": draft.location},
        "sensitivity": "private" if draft.private else "normal",
        "categories": list(draft.categories),
        "showAs": "free" if draft.transparent else "busy",
        "attendees": [
            {"emailAddress": {"address": room}, "type": "resource"} for room in draft.resources
        ],
    }
    if create:
        # The reminder is set once, on create: a caseworker who changes it in Outlook keeps
        # her choice. https://learn.microsoft.com/graph/api/resources/event
        body["isReminderOn"] = draft.reminder_minutes is not None
        if draft.reminder_minutes is not None:
            body["reminderMinutesBeforeStart"] = draft.reminder_minutes
        body["allowNewTimeProposals"] = False
        body["singleValueExtendedProperties"] = [{"id": prop_id, "value": draft.external_id}]
    return body


def differs(existing: Mapping[str, Any], draft: EventDraft, territory: str = "DK") -> bool:
    """Whether our stored event must be patched to match the draft (so a repeated upsert sends
    nothing, and does not re-invite the room)."""
    try:
        same_times = (
            parse_dtz(existing["start"], territory) == draft.start
            and parse_dtz(existing["end"], territory) == draft.end
        )
    except (KeyError, ValueError, UnknownTimeZone):
        return True
    rooms = {
        str((a.get("emailAddress") or {}).get("address") or "").lower()
        for a in existing.get("attendees") or ()
        if str(a.get("type", "")).lower() == "resource"
    }
    return not (
        same_times
        and (existing.get("subject") or "") == draft.summary
        and str((existing.get("location") or {}).get("displayName") or "") == draft.location
        and _norm(body_text(existing.get("body"))) == _norm(draft.description)
        and (existing.get("sensitivity") == "private") == draft.private
        and sorted(existing.get("categories") or ()) == sorted(draft.categories)
        and (str(existing.get("showAs") or "busy").lower() == "free") == draft.transparent
        and rooms == {r.lower() for r in draft.resources}
    )


def _norm(text: str) -> str:
    return " ".join(text.split())


# ----- rooms and free/busy ---------------------------------------------------------------------
def room_info(place: Mapping[str, Any], room_list: str | None = None) -> CalendarInfo:
    """A Places API room as a room calendar; configuration may add to ``extra`` later."""
    address = str(place.get("emailAddress") or "")
    capacity = place.get("capacity")
    try:
        capacity_value = int(capacity) if capacity not in (None, "") else None
    except (TypeError, ValueError):
        capacity_value = None
    wheelchair = place.get("isWheelChairAccessible", place.get("isWheelchairAccessible"))
    floor = place.get("floorLabel") or place.get("floorNumber")
    extra = {
        "building": place.get("building"),
        "floor": None if floor is None else str(floor),
        "wheelchair": None if wheelchair is None else str(bool(wheelchair)).lower(),
        "label": place.get("label"),
        "room_list": room_list,
        "tags": ",".join(place.get("tags") or ()) or None,
    }
    return CalendarInfo(
        calendar_id=address,
        name=str(place.get("displayName") or address),
        kind="room",
        email=address,
        capacity=capacity_value,
        extra={k: str(v) for k, v in extra.items() if v not in (None, "")},
    )


def busy_from_schedule(
    info: Mapping[str, Any], start: datetime, end: datetime, territory: str = "DK"
) -> list[BusyInterval]:
    found = []
    for item in info.get("scheduleItems") or ():
        status = SCHEDULE_STATUS.get(str(item.get("status") or "").lower())
        if status is None:  # free, unknown
            continue
        s = max(parse_dtz(item["start"], territory), start)
        e = min(parse_dtz(item["end"], territory), end)
        if s < e:
            found.append(BusyInterval(s.astimezone(UTC), e.astimezone(UTC), status))
    return found


def merge_busy(intervals: Iterable[BusyInterval]) -> list[BusyInterval]:
    """Join pieces of one meeting that getSchedule calls split at their boundaries."""
    merged: list[BusyInterval] = []
    for interval in sorted(intervals, key=lambda i: (i.status, i.start, i.end)):
        last = merged[-1] if merged else None
        if last and last.status == interval.status and interval.start <= last.end:
            merged[-1] = BusyInterval(last.start, max(last.end, interval.end), last.status)
        else:
            merged.append(interval)
    return sorted(merged, key=lambda i: (i.start, i.end, i.status))


def spans(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into pieces of at most ``days`` days (getSchedule allows under 62)."""
    pieces, cursor, step = [], start, timedelta(days=days)
    while cursor < end:
        pieces.append((cursor, min(cursor + step, end)))
        cursor += step
    return pieces


# ----- our delta token ------------------------------------------------------------------------
@dataclass(frozen=True)
class DeltaToken:
    """Graph's deltaLink plus the window it is bound to and when we got it."""

    start: datetime
    end: datetime
    link: str
    issued: datetime

    PREFIX = "graph2"  # graph1: before immutable ids; such a token starts a full round

    def encode(self) -> str:
        return " ".join(
            (self.PREFIX, iso_utc(self.start), iso_utc(self.end), iso_utc(self.issued), self.link)
        )

    @classmethod
    def decode(cls, text: str, calendar_id: str | None = None) -> DeltaToken:
        parts = text.split(" ", 4)
        if len(parts) != 5 or parts[0] != cls.PREFIX or not parts[4].startswith("http"):
            raise SyncTokenInvalid(
                "not a Graph delta token of this connector", calendar_id=calendar_id
            )
        try:
            start, end, issued = (
                datetime.fromisoformat(p.replace("Z", "+00:00")) for p in parts[1:4]
            )
        except ValueError:
            raise SyncTokenInvalid("damaged Graph delta token", calendar_id=calendar_id) from None
        return cls(start, end, parts[4], issued)

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


def window(start: datetime, end: datetime, slack_days: int) -> tuple[datetime, datetime]:
    """The window a new delta round tracks: whole UTC days, with slack at the end so that a
    horizon that moves forward every day keeps using the same deltaLink for ``slack_days``."""
    lo = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    hi = end.astimezone(UTC)
    ceiling = hi.replace(hour=0, minute=0, second=0, microsecond=0)
    if ceiling < hi:
        ceiling += timedelta(days=1)
    return lo, ceiling + timedelta(days=slack_days)

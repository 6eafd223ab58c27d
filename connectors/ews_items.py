"""Exchange calendar items <-> the connector's plain values.

Recurring masters are returned as one ``CalendarItem`` with an RFC 5545 ``rrule`` (from the EWS
pattern and range), ``exdates`` (DeletedOccurrences) and ``overrides`` (ModifiedOccurrences,
fetched with GetItem), so the master's href stays the one identity of the series and an edited
series simply replaces the old one in the engine. Times are given in the item's own zone,
resolved from the Windows id, or from the localised display name Outlook stores
(PidLidTimeZoneDescription) when the server reports a customised zone.
"""

from __future__ import annotations

import html
import re
import warnings
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import CalendarItem as EwsCalendarItem
from exchangelib import ExtendedProperty
from exchangelib.properties import HTMLBody
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from connectors.base import CalendarItem, EventDraft
from mappings.timezones import UnknownTimeZone, zone_for

# exchangelib warns (and returns None) for zone ids it cannot map, e.g. "Customized Time Zone";
# we resolve those ourselves from the display name, so the warning is noise.
warnings.filterwarnings(
    "ignore", message=r"Cannot convert value .* unknown timezone ID", module="exchangelib"
)


class SelvbookId(ExtendedProperty):
    """Our external id on items this daemon created (own property set: no clash with Outlook's)."""

    property_set_id = "6f3b0f52-4c1e-4b8e-9d5a-2f1c7e9a0b11"
    property_name = "SelvbookId"
    property_type = "String"


class TimeZoneDescription(ExtendedProperty):
    """PidLidTimeZoneDescription: the localised zone name Outlook stores on an appointment."""

    distinguished_property_set_id = "Appointment"
    property_id = 0x8234
    property_type = "String"


class CleanGlobalObjectId(ExtendedProperty):
    """PidLidCleanGlobalObjectId: Exchange's searchable form of the UID (calendar:UID is not)."""

    distinguished_property_set_id = "Meeting"
    property_id = 0x23
    property_type = "Binary"


_GOID_PREFIX = bytes.fromhex("040000008200E00074C5B7101A82E008")


def clean_global_object_id(uid: str) -> bytes:
    """The CleanGlobalObjectId Exchange derives from an iCalendar UID (MS-OXOCAL 2.2.1.27).

    Outlook's UIDs are the hex of the id itself; any other UID is wrapped as "vCal-Uid" data.
    """
    if uid.upper().startswith(_GOID_PREFIX.hex().upper()):
        try:
            raw = bytearray(bytes.fromhex(uid))
            raw[16:20] = bytes(4)  # "clean": no instance date
            return bytes(raw)
        except ValueError:
            pass
    data = b"vCal-Uid" + (1).to_bytes(4, "little") + uid.encode() + b"\0"
    return _GOID_PREFIX + bytes(20) + len(data).to_bytes(4, "little") + data


def owned_id(item: Any) -> str | None:
    """Our external id if the item is ours: it carries our property AND the UID we gave it
    (we create with UID = external id). An Outlook copy keeps the named property but gets a
    new UID: someone's busy time, never ours to edit or delete."""
    value = getattr(item, "selvbook_id", None) or None
    return value if value is not None and getattr(item, "uid", None) == value else None


def register_properties() -> None:
    names = {f.name for f in EwsCalendarItem.FIELDS}
    for name, cls in (
        ("selvbook_id", SelvbookId),
        ("tz_description", TimeZoneDescription),
        ("clean_goid", CleanGlobalObjectId),
    ):
        if name not in names:
            EwsCalendarItem.register(name, cls)


register_properties()

# What GetItem fetches for the engine: nothing more (fewer properties = less server work).
READ_FIELDS = (
    "subject",
    "start",
    "end",
    "is_all_day",
    "legacy_free_busy_status",
    "is_cancelled",
    "categories",
    "location",
    "body",
    "uid",
    "type",
    "recurrence",
    "deleted_occurrences",
    "modified_occurrences",
    "resources",
    "required_attendees",
    "optional_attendees",
    "_start_timezone",
    "selvbook_id",
    "tz_description",
)
OCCURRENCE_FIELDS = (
    "subject",
    "start",
    "end",
    "is_all_day",
    "legacy_free_busy_status",
    "is_cancelled",
    "categories",
    "location",
    "body",
    "uid",
    "original_start",
    "_start_timezone",
    "tz_description",
)
RESPONSES = {
    "Accept": "ACCEPTED",
    "Organizer": "ACCEPTED",
    "Decline": "DECLINED",
    "Tentative": "TENTATIVE",
    "NoResponseReceived": "NEEDS-ACTION",
    "Unknown": "NEEDS-ACTION",
}
_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_GROUPS = {8: (1, 2, 3, 4, 5, 6, 7), 9: (1, 2, 3, 4, 5), 10: (6, 7)}


class UnsupportedItem(ValueError):
    """An item this connector cannot represent (quarantined, never silently dropped)."""


def item_zone(item: Any, default: ZoneInfo, territory: str) -> tuple[ZoneInfo, str | None]:
    """The item's IANA zone and the zone name as the server sent it."""
    tz = getattr(item, "_start_timezone", None)
    candidates = []
    if tz is not None:
        candidates.append(getattr(tz, "ms_id", None) or str(tz.key))
    if getattr(item, "tz_description", None):
        candidates.append(item.tz_description)
    for name in candidates:
        try:
            return zone_for(name, territory), name
        except UnknownTimeZone:
            continue
    return default, candidates[0] if candidates else None


def _plain(value: datetime, zone: ZoneInfo) -> datetime:
    """An exchangelib EWSDateTime as a plain aware datetime in ``zone``."""
    utc = datetime(*value.utctimetuple()[:6], value.microsecond, tzinfo=UTC)
    return utc.astimezone(zone)


def _plain_date(value: date) -> date:
    return date(value.year, value.month, value.day)


def to_calendar_item(
    item: Any,
    *,
    default_zone: ZoneInfo,
    territory: str,
    rooms: set[str],
    overrides: tuple[CalendarItem, ...] = (),
) -> CalendarItem:
    zone, tzid = item_zone(item, default_zone, territory)
    if item.start is None or item.end is None:
        raise UnsupportedItem("item has no start or end")
    if item.is_all_day:
        start: datetime | date = _plain_date(item.start)
        # exchangelib reports the inclusive last day; the engine uses an exclusive end (iCalendar).
        end: datetime | date = _plain_date(item.end) + timedelta(days=1)
    else:
        start, end = _plain(item.start, zone), _plain(item.end, zone)
    rrule = exdates = None
    if item.type == "RecurringMaster" and item.recurrence is not None:
        rrule = recurrence_to_rrule(item.recurrence, start, zone)
        exdates = tuple(
            _occurrence_value(d.start, zone, item.is_all_day)
            for d in (item.deleted_occurrences or ())
            if d.start is not None
        )
    free_busy = item.legacy_free_busy_status or "Busy"
    status = (
        "CANCELLED"
        if item.is_cancelled
        else "TENTATIVE"
        if free_busy == "Tentative"
        else "CONFIRMED"
    )
    return CalendarItem(
        href=item.id,
        uid=item.uid or item.id,
        summary=item.subject or "",
        start=start,
        end=end,
        etag=item.changekey,
        transparent=free_busy in ("Free", "WorkingElsewhere"),
        status=status,
        categories=tuple(item.categories or ()),
        location=item.location or "",
        description=body_text(item.body),
        external_id=owned_id(item),
        rrule=rrule,
        exdates=exdates or (),
        overrides=overrides,
        attendee_status=attendee_status(item, rooms),
        tzid=tzid,
    )


def to_override(
    occ: Any, master: CalendarItem, default_zone: ZoneInfo, territory: str
) -> CalendarItem:
    """A modified occurrence (GetItem of its occurrence id) as an override of ``master``."""
    zone, tzid = item_zone(occ, default_zone, territory)
    all_day = bool(occ.is_all_day)
    base = to_calendar_item(occ, default_zone=zone, territory=territory, rooms=set())
    original = occ.original_start
    return CalendarItem(
        href=occ.id,
        uid=master.uid,
        summary=base.summary,
        start=base.start,
        end=base.end,
        etag=occ.changekey,
        transparent=base.transparent,
        status=base.status,
        categories=base.categories,
        location=base.location,
        description=base.description,
        external_id=master.external_id,
        recurrence_id=_occurrence_value(original, zone, all_day) if original else None,
        tzid=tzid or master.tzid,
    )


def _occurrence_value(value: datetime, zone: ZoneInfo, all_day: bool) -> datetime | date:
    local = _plain(value, zone)
    return local.date() if all_day else local


def attendee_status(item: Any, rooms: set[str]) -> dict[str, str]:
    """Responses of resource attendees, plus any attendee that is a known room mailbox."""
    out: dict[str, str] = {}
    for att in item.resources or ():
        if att.mailbox and att.mailbox.email_address:
            out[att.mailbox.email_address.lower()] = RESPONSES.get(
                att.response_type, "NEEDS-ACTION"
            )
    for att in list(item.required_attendees or ()) + list(item.optional_attendees or ()):
        email = (att.mailbox.email_address or "").lower() if att.mailbox else ""
        if email in rooms:
            out[email] = RESPONSES.get(att.response_type, "NEEDS-ACTION")
    return out


def body_text(body: Any) -> str:
    if not body:
        return ""
    if isinstance(body, HTMLBody):
        text = re.sub(r"<(br|/p|/div)[^>]*>", "\n", str(body), flags=re.I)
        return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
    return str(body)


def recurrence_to_rrule(rec: Any, start: datetime | date, zone: ZoneInfo) -> str:
    """An EWS Recurrence (pattern + range) as an RFC 5545 RRULE value."""
    pattern, boundary = rec.pattern, rec.boundary
    parts: list[str]
    if isinstance(pattern, DailyPattern):
        parts = ["FREQ=DAILY", f"INTERVAL={pattern.interval}"]
    elif isinstance(pattern, WeeklyPattern):
        days = ",".join(_ICAL_DAYS[d - 1] for d in sorted(_weekdays(pattern.weekdays)))
        wkst = _ICAL_DAYS[(pattern.first_day_of_week or 1) - 1]
        parts = ["FREQ=WEEKLY", f"INTERVAL={pattern.interval}", f"BYDAY={days}", f"WKST={wkst}"]
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        parts = [
            "FREQ=MONTHLY",
            f"INTERVAL={pattern.interval}",
            f"BYMONTHDAY={pattern.day_of_month}",
        ]
    elif isinstance(pattern, RelativeMonthlyPattern):
        parts = ["FREQ=MONTHLY", f"INTERVAL={pattern.interval}", *_relative(pattern)]
    elif isinstance(pattern, AbsoluteYearlyPattern):
        parts = ["FREQ=YEARLY", f"BYMONTH={pattern.month}", f"BYMONTHDAY={pattern.day_of_month}"]
    elif isinstance(pattern, RelativeYearlyPattern):
        parts = ["FREQ=YEARLY", f"BYMONTH={pattern.month}", *_relative(pattern)]
    else:
        raise UnsupportedItem(f"unsupported recurrence pattern {type(pattern).__name__}")
    if isinstance(boundary, NumberedPattern):
        parts.append(f"COUNT={boundary.number}")
    elif isinstance(boundary, EndDatePattern) and boundary.end is not None:
        last = _plain_date(boundary.end)
        if isinstance(start, datetime):
            until = datetime.combine(last, time(23, 59, 59), zone).astimezone(UTC)
            parts.append(f"UNTIL={until:%Y%m%dT%H%M%SZ}")
        else:
            parts.append(f"UNTIL={last:%Y%m%d}")
    return ";".join(parts)


def _weekdays(values: Any) -> set[int]:
    out: set[int] = set()
    for v in values if isinstance(values, (list, tuple)) else [values]:
        out.update(_DAY_GROUPS.get(v, (v,)))
    return out


def _relative(pattern: Any) -> list[str]:
    days = ",".join(_ICAL_DAYS[d - 1] for d in sorted(_weekdays(pattern.weekday)))
    pos = -1 if pattern.week_number == 5 else pattern.week_number
    return [f"BYDAY={days}", f"BYSETPOS={pos}"]


# -- writing ------------------------------------------------------------------------------------
def draft_fields(draft: EventDraft) -> dict[str, Any]:
    """exchangelib CalendarItem field values for ``draft`` (resources set separately)."""
    from exchangelib.properties import Body

    return {
        "subject": draft.summary,
        "start": draft.start,
        "end": draft.end,
        "location": draft.location or None,
        "body": Body(draft.description) if draft.description else None,
        "sensitivity": "Private" if draft.private else "Normal",
        "categories": list(draft.categories) or None,
        "legacy_free_busy_status": "Free" if draft.transparent else "Busy",
        "is_all_day": False,
        "selvbook_id": draft.external_id,
    }


def reminder_fields(draft: EventDraft) -> dict[str, Any]:
    """Outlook's reminder (ReminderIsSet, ReminderMinutesBeforeStart), for CreateItem."""
    if draft.reminder_minutes is None:
        return {"reminder_is_set": False}
    return {"reminder_is_set": True, "reminder_minutes_before_start": draft.reminder_minutes}


def differs(item: Any, draft: EventDraft) -> bool:
    """True when our existing event does not already look like ``draft``."""
    want = draft_fields(draft)
    if (item.subject or "") != draft.summary or (item.location or "") != (draft.location or ""):
        return True
    if body_text(item.body) != (draft.description or ""):
        return True
    if item.start is None or item.end is None:
        return True
    if _plain(item.start, UTC) != draft.start.astimezone(UTC):
        return True
    if _plain(item.end, UTC) != draft.end.astimezone(UTC):
        return True
    if (item.sensitivity or "Normal") != want["sensitivity"]:
        return True
    if tuple(item.categories or ()) != tuple(draft.categories):
        return True
    if (item.legacy_free_busy_status or "Busy") != want["legacy_free_busy_status"]:
        return True
    have = {a.mailbox.email_address.lower() for a in item.resources or () if a.mailbox}
    return have != {r.lower() for r in draft.resources}

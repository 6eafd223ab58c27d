"""EWS XML in and out: namespaces, envelopes, faults, and calendar items.

Shapes follow Microsoft's published EWS messages (types/messages/errors namespaces, the
ServerVersionInfo header, response messages with ResponseClass/ResponseCode, SOAP faults with
MessageXml for ErrorServerBusy).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.sims.ews.recurrence import MONTHS, Recurrence
from tests.sims.ews.store import (
    CUSTOM_ZONE_ID,
    DISPLAY_NAMES,
    WINDOWS_ZONES,
    ZONE_TO_WINDOWS,
    Attendee,
    Instance,
    Item,
    Store,
    clean_global_object_id,
)

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
for _prefix, _uri in (("s", SOAP), ("m", M), ("t", T), ("e", E)):
    ET.register_namespace(_prefix, _uri)

# Exchange Server 2019 CU-level build; V2017_07_11 is what 2016/2019 put in Version.
SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "2",
    "MajorBuildNumber": "1258",
    "MinorBuildNumber": "12",
    "Version": "V2017_07_11",
}
# Properties FindItem and SyncFolderItems cannot return (they need GetItem).
COMPLEX_FIELDS = {
    "item:Body",
    "item:Attachments",
    "calendar:RequiredAttendees",
    "calendar:OptionalAttendees",
    "calendar:Resources",
    "calendar:Recurrence",
    "calendar:ModifiedOccurrences",
    "calendar:DeletedOccurrences",
}
# PidLidTimeZoneDescription: the display name Outlook stores for the item's zone.
TZ_DESCRIPTION_KEY = ("appointment", "33332", "String")
# PidLidCleanGlobalObjectId: computed from the UID, searchable (calendar:UID is not).
CLEAN_GOID_KEY = ("meeting", "35", "Binary")
UTCZ = ZoneInfo("UTC")


def t(tag: str) -> str:
    return f"{{{T}}}{tag}"


def m(tag: str) -> str:
    return f"{{{M}}}{tag}"


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def envelope(body_child: ET.Element) -> bytes:
    env = ET.Element(f"{{{SOAP}}}Envelope")
    header = sub(env, f"{{{SOAP}}}Header")
    sub(header, t("ServerVersionInfo"), **SERVER_VERSION)
    body = sub(env, f"{{{SOAP}}}Body")
    body.append(body_child)
    return ET.tostring(env, encoding="utf-8", xml_declaration=True)


def fault(code: str, text: str, back_off_ms: int | None = None) -> bytes:
    """A SOAP fault the way Exchange sends throttling and impersonation errors (HTTP 500)."""
    env = ET.Element(f"{{{SOAP}}}Envelope")
    body = sub(env, f"{{{SOAP}}}Body")
    flt = sub(body, f"{{{SOAP}}}Fault")
    sub(flt, "faultcode", f"a:{code}")
    sub(flt, "faultstring", text)
    detail = sub(flt, "detail")
    sub(detail, f"{{{E}}}ResponseCode", code)
    sub(detail, f"{{{E}}}Message", text)
    if back_off_ms is not None:
        xml = sub(detail, t("MessageXml"))
        sub(xml, t("Value"), str(back_off_ms), Name="BackOffMilliseconds")
    return ET.tostring(env, encoding="utf-8", xml_declaration=True)


def response_message(
    parent: ET.Element, name: str, code: str = "NoError", text: str = ""
) -> ET.Element:
    ok = code == "NoError"
    msg = sub(parent, m(name), ResponseClass="Success" if ok else "Error")
    if not ok:
        sub(msg, m("MessageText"), text)
    sub(msg, m("ResponseCode"), code)
    if not ok:
        sub(msg, m("DescriptiveLinkKey"), "0")
    return msg


# -- values --------------------------------------------------------------------------------------
def fmt_dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(text: str, naive_zone: ZoneInfo = UTCZ) -> datetime:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=naive_zone)
    return value.astimezone(UTC)


def fmt_date(value: date, zone: ZoneInfo) -> str:
    """A date with the zone's offset, as Exchange writes recurrence range dates."""
    offset = datetime.combine(value, datetime.min.time(), zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{value.isoformat()}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_date(text: str) -> date:
    return date.fromisoformat(text.strip()[:10])


def zone_from_id(tz_id: str | None) -> tuple[ZoneInfo, str, str]:
    """(zone, reported id, display name) for a Windows zone id sent by a client."""
    if tz_id and tz_id in WINDOWS_ZONES:
        return ZoneInfo(WINDOWS_ZONES[tz_id]), tz_id, DISPLAY_NAMES[tz_id]
    if tz_id and "/" in tz_id:
        zone = ZoneInfo(tz_id)
        win = ZONE_TO_WINDOWS.get(tz_id)
        if win:
            return zone, win, DISPLAY_NAMES[win]
        return zone, CUSTOM_ZONE_ID, tz_id
    return UTCZ, "UTC", DISPLAY_NAMES["UTC"]


def computed_property(item: Item, key: tuple[str, str, str]) -> str | None:
    """An extended property's value: stored ones, or those Exchange derives from the item."""
    if key == TZ_DESCRIPTION_KEY:
        return item.tz_name
    if key == CLEAN_GOID_KEY:
        return base64.b64encode(clean_global_object_id(item.uid)).decode()
    return item.ext.get(key)


def ext_key(uri: ET.Element) -> tuple[str, str, str]:
    """Normalised identity of an ExtendedFieldURI."""
    pset = uri.get("PropertySetId") or uri.get("DistinguishedPropertySetId") or ""
    name = uri.get("PropertyName")
    if name is None and uri.get("PropertyId") is not None:
        name = str(int(uri.get("PropertyId"), 0))
    if name is None and uri.get("PropertyTag") is not None:
        name = "tag:" + str(int(uri.get("PropertyTag"), 0))
    return pset.lower(), name or "", uri.get("PropertyType", "String")


# -- shapes --------------------------------------------------------------------------------------
class Shape:
    """What an ItemShape asks for: base shape plus additional FieldURIs and ExtendedFieldURIs."""

    DEFAULT = (
        "item:Subject",
        "item:Sensitivity",
        "item:Categories",
        "calendar:UID",
        "calendar:Start",
        "calendar:End",
        "calendar:IsAllDayEvent",
        "calendar:LegacyFreeBusyStatus",
        "calendar:Location",
        "calendar:IsMeeting",
        "calendar:IsCancelled",
        "calendar:IsRecurring",
        "calendar:CalendarItemType",
        "calendar:Organizer",
    )

    def __init__(self, el: ET.Element | None) -> None:
        self.fields: set[str] = set()
        self.ext: list[ET.Element] = []
        base = "IdOnly"
        if el is not None:
            base = (el.findtext(t("BaseShape")) or "IdOnly").strip()
            for add in el.iter():
                if add.tag == t("FieldURI"):
                    self.fields.add(add.get("FieldURI"))
                elif add.tag == t("ExtendedFieldURI"):
                    self.ext.append(add)
        if base in ("Default", "AllProperties"):
            self.fields.update(self.DEFAULT)
            if base == "AllProperties":
                self.fields.update(
                    {"item:Body", "calendar:RequiredAttendees", "calendar:Resources"}
                )

    def complex_fields(self) -> set[str]:
        return self.fields & COMPLEX_FIELDS


# -- rendering ------------------------------------------------------------------------------------
def render_item(
    parent: ET.Element,
    store: Store,
    item: Item,
    shape: Shape,
    instance: Instance | None = None,
    occurrence_id: str | None = None,
) -> ET.Element:
    """A CalendarItem element with the requested properties (an occurrence when given)."""
    el = sub(parent, t("CalendarItem"))
    changekey = item.changekey
    sub(el, t("ItemId"), Id=occurrence_id or item.id, ChangeKey=changekey)
    f = shape.fields
    start = instance.start if instance else item.start
    end = instance.end if instance else item.end
    subject = instance.subject if instance else item.subject
    free_busy = instance.free_busy if instance else item.free_busy
    if "item:ItemClass" in f:
        sub(el, t("ItemClass"), "IPM.Appointment")
    if "item:Subject" in f:
        sub(el, t("Subject"), subject)
    if "item:Sensitivity" in f:
        sub(el, t("Sensitivity"), item.sensitivity)
    if "item:ReminderIsSet" in f:
        sub(el, t("ReminderIsSet"), "true" if item.reminder_is_set else "false")
    if "item:ReminderMinutesBeforeStart" in f:
        sub(el, t("ReminderMinutesBeforeStart"), str(item.reminder_minutes))
    if "item:Body" in f:
        sub(el, t("Body"), item.body, BodyType="Text")
    if "item:Categories" in f and item.categories:
        cats = sub(el, t("Categories"))
        for c in item.categories:
            sub(cats, t("String"), c)
    for uri in shape.ext:
        key = ext_key(uri)
        value = computed_property(item, key)
        if value is None:
            continue
        prop = sub(el, t("ExtendedProperty"))
        prop.append(_copy_uri(uri))
        sub(prop, t("Value"), value)
    if "calendar:UID" in f:
        sub(el, t("UID"), item.uid)
    if "calendar:RecurrenceId" in f and instance and instance.original_start:
        sub(el, t("RecurrenceId"), fmt_dt(instance.original_start))
    if "calendar:Start" in f:
        sub(el, t("Start"), fmt_dt(start))
    if "calendar:End" in f:
        sub(el, t("End"), fmt_dt(end))
    if "calendar:OriginalStart" in f and instance and instance.original_start:
        sub(el, t("OriginalStart"), fmt_dt(instance.original_start))
    if "calendar:IsAllDayEvent" in f:
        sub(el, t("IsAllDayEvent"), _b(item.all_day))
    if "calendar:LegacyFreeBusyStatus" in f:
        sub(el, t("LegacyFreeBusyStatus"), free_busy)
    if "calendar:Location" in f:
        sub(el, t("Location"), item.location)
    if "calendar:IsMeeting" in f:
        sub(el, t("IsMeeting"), _b(item.is_meeting))
    if "calendar:IsCancelled" in f:
        sub(el, t("IsCancelled"), _b(item.is_cancelled))
    if "calendar:IsRecurring" in f:
        sub(el, t("IsRecurring"), _b(item.recurrence is not None and instance is not None))
    if "calendar:CalendarItemType" in f:
        kind = instance.kind if instance else ("RecurringMaster" if item.recurrence else "Single")
        sub(el, t("CalendarItemType"), kind)
    if "calendar:Organizer" in f and item.organizer:
        _mailbox(sub(el, t("Organizer")), store, item.organizer)
    for name, people in (
        ("RequiredAttendees", item.required),
        ("OptionalAttendees", item.optional),
        ("Resources", item.resources),
    ):
        if f"calendar:{name}" in f and people:
            _attendees(sub(el, t(name)), store, people)
    if item.recurrence is not None and instance is None:
        if "calendar:Recurrence" in f:
            _recurrence(sub(el, t("Recurrence")), item.recurrence, item.zone)
        if "calendar:ModifiedOccurrences" in f and item.overrides:
            mods = sub(el, t("ModifiedOccurrences"))
            for orig, change in sorted(item.overrides.items()):
                occ = sub(mods, t("Occurrence"))
                sub(occ, t("ItemId"), Id=occurrence_item_id(item, orig), ChangeKey=changekey)
                sub(occ, t("Start"), fmt_dt(change.get("start", orig)))
                sub(occ, t("End"), fmt_dt(change.get("end", orig + (item.end - item.start))))
                sub(occ, t("OriginalStart"), fmt_dt(orig))
        if "calendar:DeletedOccurrences" in f and item.exdates:
            dels = sub(el, t("DeletedOccurrences"))
            for orig in sorted(item.exdates):
                sub(sub(dels, t("DeletedOccurrence")), t("Start"), fmt_dt(orig))
    for name in ("StartTimeZone", "EndTimeZone"):
        if f"calendar:{name}" in f:
            sub(el, t(name), Id=item.tz_id, Name=item.tz_name)
    return el


def occurrence_item_id(item: Item, original_start: datetime) -> str:
    return f"{item.id}.OCC.{fmt_dt(original_start)}"


def split_occurrence_id(item_id: str) -> tuple[str, datetime | None]:
    if ".OCC." in item_id:
        master, when = item_id.split(".OCC.", 1)
        return master, parse_dt(when)
    return item_id, None


def _b(value: bool) -> str:
    return "true" if value else "false"


def _copy_uri(uri: ET.Element) -> ET.Element:
    out = ET.Element(t("ExtendedFieldURI"))
    for k, v in uri.attrib.items():
        out.set(k, v)
    return out


def _mailbox(parent: ET.Element, store: Store, email: str, name: str = "") -> None:
    mbx = store.mailboxes.get(email.lower())
    box = sub(parent, t("Mailbox"))
    sub(box, t("Name"), name or (mbx.name if mbx else email))
    sub(box, t("EmailAddress"), email)
    sub(box, t("RoutingType"), "SMTP")
    sub(box, t("MailboxType"), "Mailbox")


def _attendees(parent: ET.Element, store: Store, people: list[Attendee]) -> None:
    for a in people:
        att = sub(parent, t("Attendee"))
        _mailbox(att, store, a.email, a.name)
        sub(att, t("ResponseType"), a.response)


def _recurrence(parent: ET.Element, rec: Recurrence, zone: ZoneInfo) -> None:
    pat = sub(parent, t(f"{rec.kind}Recurrence"))
    if rec.kind in ("RelativeYearly",):
        sub(pat, t("DaysOfWeek"), " ".join(rec.days))
        sub(pat, t("DayOfWeekIndex"), rec.week_index)
        sub(pat, t("Month"), rec.month)
    elif rec.kind == "AbsoluteYearly":
        sub(pat, t("DayOfMonth"), str(rec.day_of_month))
        sub(pat, t("Month"), rec.month)
    else:
        sub(pat, t("Interval"), str(rec.interval))
        if rec.kind == "Weekly":
            sub(pat, t("DaysOfWeek"), " ".join(rec.days))
            sub(pat, t("FirstDayOfWeek"), rec.first_day)
        elif rec.kind == "RelativeMonthly":
            sub(pat, t("DaysOfWeek"), " ".join(rec.days))
            sub(pat, t("DayOfWeekIndex"), rec.week_index)
        elif rec.kind == "AbsoluteMonthly":
            sub(pat, t("DayOfMonth"), str(rec.day_of_month))
    rng = sub(parent, t(f"{rec.range_kind}Recurrence"))
    sub(rng, t("StartDate"), fmt_date(rec.range_start, zone))
    if rec.range_kind == "EndDate":
        sub(rng, t("EndDate"), fmt_date(rec.range_end, zone))
    elif rec.range_kind == "Numbered":
        sub(rng, t("NumberOfOccurrences"), str(rec.count))


# -- parsing --------------------------------------------------------------------------------------
def parse_recurrence(el: ET.Element) -> Recurrence:
    pattern, rng = el[0], el[1]
    kind = pattern.tag.split("}")[1].removesuffix("Recurrence")
    rec = Recurrence(kind)
    rec.interval = int(pattern.findtext(t("Interval")) or "1")
    days = pattern.findtext(t("DaysOfWeek"))
    if days:
        rec.days = tuple(days.split())
    if pattern.findtext(t("DayOfMonth")):
        rec.day_of_month = int(pattern.findtext(t("DayOfMonth")))
    rec.week_index = pattern.findtext(t("DayOfWeekIndex"))
    month = pattern.findtext(t("Month"))
    if month:
        rec.month = month if month in MONTHS else MONTHS[int(month) - 1]
    rec.first_day = pattern.findtext(t("FirstDayOfWeek")) or "Monday"
    rec.range_kind = rng.tag.split("}")[1].removesuffix("Recurrence")
    rec.range_start = parse_date(rng.findtext(t("StartDate")))
    if rng.findtext(t("EndDate")):
        rec.range_end = parse_date(rng.findtext(t("EndDate")))
    if rng.findtext(t("NumberOfOccurrences")):
        rec.count = int(rng.findtext(t("NumberOfOccurrences")))
    return rec


def parse_attendees(el: ET.Element | None) -> list[Attendee]:
    if el is None:
        return []
    out = []
    for att in el.findall(t("Attendee")):
        box = att.find(t("Mailbox"))
        email = (box.findtext(t("EmailAddress")) or "").strip()
        out.append(Attendee(email=email, name=box.findtext(t("Name")) or ""))
    return out


def apply_item_xml(item: Item, el: ET.Element) -> set[str]:
    """Copy the properties present in a CalendarItem element onto ``item``; returns what changed."""
    seen: set[str] = set()
    for child in el:
        tag = child.tag.split("}")[1]
        seen.add(tag)
        if tag == "Subject":
            item.subject = child.text or ""
        elif tag == "Sensitivity":
            item.sensitivity = child.text or "Normal"
        elif tag == "ReminderIsSet":
            item.reminder_is_set = (child.text or "").strip() in ("true", "1")  # xs:boolean
        elif tag == "ReminderMinutesBeforeStart":
            item.reminder_minutes = int((child.text or "15").strip())
        elif tag == "Body":
            item.body = child.text or ""
        elif tag == "Categories":
            item.categories = [s.text or "" for s in child.findall(t("String"))]
        elif tag == "ExtendedProperty":
            key = ext_key(child.find(t("ExtendedFieldURI")))
            item.ext[key] = child.findtext(t("Value")) or ""
        elif tag == "UID":
            item.uid = child.text or item.uid
        elif tag == "Start":
            item.start = parse_dt(child.text)
        elif tag == "End":
            item.end = parse_dt(child.text)
        elif tag == "IsAllDayEvent":
            item.all_day = (child.text or "").strip() == "true"
        elif tag == "LegacyFreeBusyStatus":
            item.free_busy = child.text or "Busy"
        elif tag == "Location":
            item.location = child.text or ""
        elif tag == "RequiredAttendees":
            item.required = parse_attendees(child)
        elif tag == "OptionalAttendees":
            item.optional = parse_attendees(child)
        elif tag == "Resources":
            item.resources = parse_attendees(child)
        elif tag == "Recurrence":
            item.recurrence = parse_recurrence(child)
        elif tag in ("StartTimeZone", "MeetingTimeZone"):
            item.zone, item.tz_id, item.tz_name = zone_from_id(child.get("Id"))
    return seen


def new_item(store: Store, mailbox: str, el: ET.Element) -> Item:
    """A calendar item built from a CreateItem CalendarItem element."""
    now = datetime.now(UTC).replace(microsecond=0)
    zone, tz_id, tz_name = zone_from_id("Romance Standard Time")
    item = Item(
        id=store.new_id(mailbox),
        mailbox=mailbox,
        uid="",
        subject="",
        start=now,
        end=now,
        zone=zone,
        tz_id=tz_id,
        tz_name=tz_name,
    )
    apply_item_xml(item, el)
    if not item.uid:
        item.uid = "040000008200E00074C5B7101A82E008" + item.id[-24:].encode().hex()[:32].upper()
    if item.recurrence is not None and item.recurrence.range_start is None:
        item.recurrence.range_start = item.start.astimezone(item.zone).date()
    return item

"""What the Graph simulator stores: mailboxes, their events, delta rounds and room bookings.

Shapes follow Microsoft Graph v1.0 (event, dateTimeTimeZone, scheduleInformation, room). The
simulator deliberately reproduces the Graph behaviours the connector must cope with, each with
its source beside the code that does it:

- calendarView/delta returns a recurring series as its ``seriesMaster`` (full, with the series'
  first start/end) plus one *stub* per occurrence in the window: ``@odata.type``,
  ``@odata.etag``, ``id``, ``type``, ``seriesMasterId``, ``start``, ``end`` and nothing else
  (microsoft-graph-docs issues #1716, #7632, #22197; microsoft-graph-docs-contrib #34). A
  series is never split over two delta pages, and a deleted occurrence is not reported at all
  (microsoft-graph-docs PR #4501, "Event Series Behavior in Calendar View Delta Function").
- Full reads (calendarView, ``/events/{id}``, ``/events/{id}/instances``) return whole
  occurrences, each with its own ``iCalUId``: the series' Global Object ID with the instance
  date in bytes 16-19 ([MS-OXOCAL] 2.2.1.27 PidLidGlobalObjectId; contrib #34 notes that
  ``/calendarView`` and ``/events/{id}`` return full events).
- delta cannot $expand extended properties; ``@removed`` also lists events that changed
  outside the window.
- a room mailbox's booking assistant answers by its Set-CalendarProcessing policy (booking
  window, conflicts, automatic or not), at once or later (``tests.sims.rba``).
"""

from __future__ import annotations

import base64
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from tests.sims import rba

# Graph accepts Windows zone names and IANA names in dateTimeTimeZone ("dateTimeTimeZone
# resource type": timeZone is one of the supported time zones, Windows or IANA; see also
# "outlookUser: supportedTimeZones"). The simulator's own small table, never production's.
# Windows -> IANA per CLDR's windowsZones.xml (territory 001).
WINDOWS_ZONES = {
    "utc": "UTC",
    "romance standard time": "Europe/Paris",
    "w. europe standard time": "Europe/Berlin",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik",
    "fle standard time": "Europe/Kiev",
    "e. europe standard time": "Europe/Chisinau",
    "eastern standard time": "America/New_York",
    "pacific standard time": "America/Los_Angeles",
}


class GraphError(Exception):
    """An error response in Graph's shape: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "innerError": {}}}


def new_id(prefix: str = "AAMkAG") -> str:
    return prefix + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")


def zone(name: str | None) -> ZoneInfo:
    text = (name or "UTC").strip()
    key = WINDOWS_ZONES.get(text.lower(), text)
    try:
        return ZoneInfo(key)
    except (ValueError, KeyError, OSError):
        raise GraphError(400, "ErrorInvalidTimeZone", f"Time zone '{name}' is not valid.") from None


GOID_CLASS = "040000008200E00074C5B7101A82E008"  # [MS-OXOCAL] 2.2.1.27: the GOID's class id


def occurrence_uid(series_uid: str, day: date) -> str:
    """The iCalUId Graph gives one occurrence: the series' Global Object ID with the instance
    date (year as two bytes, month, day) in bytes 16-19 ([MS-OXOCAL] 2.2.1.27). A series whose
    UID is not a GOID (made from an iCalendar file) is wrapped in one first."""
    stamp = f"{day.year:04X}{day.month:02X}{day.day:02X}"
    text = series_uid.upper()
    if not (text.startswith(GOID_CLASS) and len(text) >= 40):
        text = GOID_CLASS + "00000000" + series_uid.encode().hex().upper()
    return text[:32] + stamp + text[40:]


def parse_dtz(value: Any) -> datetime:
    """A dateTimeTimeZone object as an aware UTC datetime."""
    if not isinstance(value, dict) or "dateTime" not in value:
        raise GraphError(400, "ErrorInvalidRequest", "dateTimeTimeZone expected.")
    text = str(value["dateTime"]).rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        naive = datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise GraphError(400, "ErrorInvalidRequest", f"Bad dateTime {value!r}.") from None
    return naive.replace(tzinfo=zone(value.get("timeZone"))).astimezone(UTC)


def format_dtz(moment: datetime, tz_name: str) -> dict:
    local = moment.astimezone(zone(tz_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prop_key(prop_id: str) -> str:
    return " ".join(prop_id.lower().split())


@dataclass
class SimEvent:
    id: str
    ical_uid: str
    start: datetime
    end: datetime
    subject: str = ""
    body: str = ""
    body_type: str = "text"
    tz: str = "UTC"
    is_all_day: bool = False
    location: str = ""
    sensitivity: str = "normal"
    categories: list[str] = field(default_factory=list)
    show_as: str = "busy"
    # Graph's defaults for a new event (https://learn.microsoft.com/graph/api/resources/event)
    is_reminder_on: bool = True
    reminder_minutes: int = 15
    attendees: list[dict] = field(default_factory=list)
    organizer: str = ""
    is_organizer: bool = True
    extended: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (id, value)
    transaction_id: str | None = None
    rrule: str | None = None
    exdates: set[datetime] = field(default_factory=set)  # UTC starts of removed occurrences
    moved: dict[datetime, tuple[datetime, datetime]] = field(default_factory=dict)  # exceptions
    is_cancelled: bool = False
    response: str = "organizer"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    change_key: int = 1
    seq: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # raw fields forced into render()

    def instances(self, lo: datetime, hi: datetime) -> list[tuple]:
        """(instance id, start, end, is_occurrence, original start, type) of this event
        overlapping [lo, hi); type is "occurrence", or "exception" for a moved one."""
        if not self.rrule:
            if _overlaps(self.start, self.end, lo, hi):
                return [(self.id, self.start, self.end, False, self.start, "singleInstance")]
            return []
        local_zone = zone(self.tz)
        duration = self.end - self.start
        dtstart = self.start.astimezone(local_zone).replace(tzinfo=None)
        rule = rrulestr(self.rrule.removeprefix("RRULE:"), dtstart=dtstart, ignoretz=True)
        lo_local = (lo - duration).astimezone(local_zone).replace(tzinfo=None) - timedelta(days=1)
        hi_local = hi.astimezone(local_zone).replace(tzinfo=None) + timedelta(days=1)
        found = []
        for occurrence in rule.between(lo_local, hi_local, inc=True):
            original = occurrence.replace(tzinfo=local_zone).astimezone(UTC)
            if original in self.exdates:
                continue
            start, end = self.moved.get(original, (original, original + duration))
            kind = "exception" if original in self.moved else "occurrence"
            if _overlaps(start, end, lo, hi):
                instance_id = f"{self.id}_{original.strftime('%Y%m%dT%H%M%SZ')}"
                found.append((instance_id, start, end, True, original, kind))
        return found

    def bump(self, seq: int) -> None:
        self.seq = seq
        self.change_key += 1
        self.modified = datetime.now(UTC)

    def render(self, tz_name: str = "UTC", *, instance: tuple | None = None) -> dict:
        """The event (or one occurrence of it) as Graph returns it."""
        event_type = "seriesMaster" if self.rrule else "singleInstance"
        start, end, event_id = self.start, self.end, self.id
        extra: dict[str, Any] = {}
        ical_uid = self.ical_uid
        if instance is not None and instance[3]:
            event_id, start, end, original = instance[0], instance[1], instance[2], instance[4]
            event_type = instance[5]
            extra = {"seriesMasterId": self.id, "originalStart": iso_z(original)}
            ical_uid = occurrence_uid(self.ical_uid, original.astimezone(zone(self.tz)).date())
        change_key = base64.b64encode(f"{self.id[-8:]}{self.change_key}".encode()).decode()
        data = {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": f'W/"{change_key}"',
            "id": event_id,
            "createdDateTime": iso_z(self.created),
            "lastModifiedDateTime": iso_z(self.modified),
            "changeKey": change_key,
            "categories": list(self.categories),
            "transactionId": self.transaction_id,
            "originalStartTimeZone": self.tz,
            "originalEndTimeZone": self.tz,
            "iCalUId": ical_uid,
            "reminderMinutesBeforeStart": self.reminder_minutes,
            "isReminderOn": self.is_reminder_on,
            "subject": self.subject,
            "bodyPreview": self.body[:255],
            "body": {"contentType": self.body_type, "content": self.body},
            "importance": "normal",
            "sensitivity": self.sensitivity,
            "isAllDay": self.is_all_day,
            "isCancelled": self.is_cancelled,
            "isOrganizer": self.is_organizer,
            "responseRequested": True,
            "seriesMasterId": None,
            "showAs": self.show_as,
            "type": event_type,
            "responseStatus": {"response": self.response, "time": "0001-01-01T00:00:00Z"},
            "start": self._when(start, tz_name),
            "end": self._when(end, tz_name),
            "location": {"displayName": self.location, "locationType": "default"},
            "locations": [{"displayName": self.location}] if self.location else [],
            "recurrence": _recurrence(self) if event_type == "seriesMaster" else None,
            "attendees": [dict(a) for a in self.attendees],
            "organizer": {"emailAddress": {"name": self.organizer, "address": self.organizer}},
        }
        data.update(extra)
        data.update(self.overrides)
        return data

    def stub(self, tz_name: str, instance: tuple) -> dict:
        """An occurrence as calendarView/delta reports it: these seven keys and nothing else
        (microsoft-graph-docs #1716 and #7632, -contrib #34 show exactly this shape). A moved
        occurrence (an exception) is assumed to come the same way, with type "exception"."""
        change_key = base64.b64encode(f"{self.id[-8:]}{self.change_key}".encode()).decode()
        return {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": f'W/"{change_key}"',
            "id": instance[0],
            "seriesMasterId": self.id,
            "type": instance[5],
            "start": self._when(instance[1], tz_name),
            "end": self._when(instance[2], tz_name),
        }

    def _when(self, moment: datetime, tz_name: str) -> dict:
        """All-day events are floating dates: Graph returns midnight of the event's own date
        under whatever zone was asked for, never a converted instant."""
        if not self.is_all_day:
            return format_dtz(moment, tz_name)
        day = moment.astimezone(zone(self.tz)).date()
        return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": tz_name}

    def extended_json(self, key: str | None = None) -> list[dict]:
        return [
            {"id": pid, "value": value}
            for k, (pid, value) in self.extended.items()
            if key is None or k == key
        ]


def _series_of(event_id: str) -> str:
    """The master id inside a simulator occurrence id (real ids are opaque to clients)."""
    match = _OCCURRENCE_ID.match(event_id)
    return match.group(1) if match else event_id


_OCCURRENCE_ID = re.compile(r"^(.+)_(\d{8}T\d{6}Z)$")


def _overlaps(start: datetime, end: datetime, lo: datetime, hi: datetime) -> bool:
    if start == end:
        return lo <= start < hi
    return start < hi and end > lo


def _recurrence(event: SimEvent) -> dict:
    parts = dict(p.split("=", 1) for p in event.rrule.removeprefix("RRULE:").split(";"))
    kind = {"DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "absoluteMonthly"}.get(
        parts.get("FREQ", ""), "daily"
    )
    local = event.start.astimezone(zone(event.tz))
    return {
        "pattern": {"type": kind, "interval": int(parts.get("INTERVAL", "1"))},
        "range": {
            "type": "numbered" if "COUNT" in parts else "noEnd",
            "startDate": local.date().isoformat(),
            "numberOfOccurrences": int(parts.get("COUNT", "0")),
        },
    }


@dataclass
class Mailbox:
    address: str
    name: str
    kind: str = "user"  # user | room
    access: str = "readwrite"  # readwrite | read | none (RBAC for Applications scope)
    events: dict[str, SimEvent] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)  # deleted event id -> seq
    seq: int = 0
    place: dict | None = None
    policy: rba.RoomPolicy = field(default_factory=rba.RoomPolicy)  # rooms' booking assistant
    declines: list[tuple[str, str]] = field(default_factory=list)  # (iCalUId, why)

    @property
    def user_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.address.lower()))

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass(frozen=True)
class DeltaState:
    """What a delta token stands for: a window, a watermark and the instances already reported."""

    mailbox: str
    start: datetime
    end: datetime
    watermark: int
    known: frozenset[str]


@dataclass
class PendingPages:
    entries: list[list[dict]]  # groups: a page never splits one
    final: DeltaState
    page_size: int


DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000


class GraphState:
    """All simulator state behind one lock; the HTTP layer and the test backdoor share it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.by_user_id: dict[str, Mailbox] = {}  # Graph links name users by id, not address
        self.room_lists: dict[str, dict] = {}  # address -> {"displayName", "rooms": [addr]}
        self.delta_tokens: dict[str, DeltaState] = {}
        self.pages: dict[str, PendingPages] = {}
        self.transactions: dict[tuple[str, str], str] = {}  # (mailbox, transactionId) -> id
        # Microsoft documents transactionId only as letting the server "avoid redundant POST
        # operations in case of client retries" ("event resource type"), not that it always
        # does: switched off, a repeated POST makes a second event.
        self.dedupe_transactions = True
        self.waiting: set[tuple[str, str, str]] = set()  # (organizer, event id, room) unanswered
        self.clock = lambda: datetime.now(UTC)  # the booking assistants' "now"

    # ----- mailboxes and places ---------------------------------------------------------------
    def add_mailbox(self, address: str, name: str | None = None, *, access: str = "readwrite"):
        with self.lock:
            mailbox = Mailbox(address=address, name=name or address.split("@")[0], access=access)
            self.mailboxes[address.lower()] = mailbox
            self.by_user_id[mailbox.user_id] = mailbox
            return mailbox

    def add_room(
        self,
        address: str,
        name: str,
        *,
        capacity: int | None = None,
        building: str | None = None,
        floor: int | None = None,
        wheelchair: bool = False,
        room_list: str | None = None,
        access: str = "readwrite",
    ) -> Mailbox:
        with self.lock:
            mailbox = self.add_mailbox(address, name, access=access)
            mailbox.kind = "room"
            mailbox.place = {
                "id": new_id("")[:36],
                "emailAddress": address,
                "displayName": name,
                "capacity": capacity,
                "building": building,
                "floorNumber": floor,
                "floorLabel": None if floor is None else str(floor),
                "isWheelChairAccessible": wheelchair,
                "bookingType": "standard",
                "tags": [],
            }
            if room_list:
                entry = self.room_lists.setdefault(
                    room_list.lower(),
                    {"emailAddress": room_list, "displayName": room_list.split("@")[0]},
                )
                entry.setdefault("rooms", []).append(address.lower())
            return mailbox

    def mailbox(self, address: str) -> Mailbox:
        mailbox = self.mailboxes.get(address.lower())
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{address}' is invalid.")
        return mailbox

    # ----- events -----------------------------------------------------------------------------
    def find_uid(self, address: str, uid: str) -> SimEvent:
        with self.lock:
            for event in self.mailbox(address).events.values():
                if event.ical_uid == uid:
                    return event
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    def get_event(self, mailbox: Mailbox, event_id: str) -> SimEvent:
        event = mailbox.events.get(event_id)
        if event is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return event

    def occurrence(self, mailbox: Mailbox, event_id: str) -> tuple[SimEvent, tuple]:
        """(series master, instance) for an occurrence id (``<master id>_<UTC start>``)."""
        master = mailbox.events.get(_series_of(event_id))
        if master is not None and master.rrule and event_id != master.id:
            stamp = event_id.rsplit("_", 1)[1]
            try:
                original = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            except ValueError:
                original = None
            if original is not None:
                moved_to = master.moved.get(original, (original, original))[0]
                lo = min(original, moved_to) - timedelta(days=1)
                for instance in master.instances(lo, max(original, moved_to) + timedelta(days=1)):
                    if instance[0] == event_id:
                        return master, instance
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    def delete_occurrence(self, address: str, event_id: str) -> None:
        """DELETE on an occurrence id: the series gets an exception (the occurrence is gone)
        and its master changes; delta says nothing about the occurrence itself (PR #4501)."""
        with self.lock:
            mailbox = self.mailbox(address)
            master, instance = self.occurrence(mailbox, event_id)
            master.exdates.add(instance[4])
            master.moved.pop(instance[4], None)
            master.bump(mailbox.next_seq())

    def move_occurrence(self, address: str, event_id: str, start: datetime, end: datetime) -> None:
        """One occurrence moved in Outlook: it becomes an exception of the series (type
        "exception", originalStart kept), and the master changes."""
        with self.lock:
            mailbox = self.mailbox(address)
            master, instance = self.occurrence(mailbox, event_id)
            master.moved[instance[4]] = (start.astimezone(UTC), end.astimezone(UTC))
            master.bump(mailbox.next_seq())

    def create_event(
        self,
        address: str,
        body: dict,
        *,
        ical_uid: str | None = None,
        rrule: str | None = None,
        exdates: tuple[datetime, ...] = (),
    ) -> tuple[SimEvent, bool]:
        """POST /users/{id}/events. Returns (event, created). A POST repeating the
        ``transactionId`` of an event that still exists returns that event: the "event resource
        type" page documents transactionId only as letting the server "avoid redundant POST
        operations in case of client retries"; it documents no error, so none is made up here."""
        with self.lock:
            mailbox = self.mailbox(address)
            txid = body.get("transactionId")
            if txid and self.dedupe_transactions:
                seen = self.transactions.get((mailbox.address.lower(), txid))
                existing = mailbox.events.get(seen) if seen else None
                if existing is not None:
                    return existing, False
            if "start" not in body or "end" not in body:
                raise GraphError(400, "ErrorInvalidRequest", "start and end are required.")
            event = SimEvent(
                id=new_id(),
                ical_uid=ical_uid or "040000008200E00074C5B7101A82E008" + os.urandom(16).hex(),
                start=parse_dtz(body["start"]),
                end=parse_dtz(body["end"]),
                organizer=mailbox.address,
                transaction_id=txid,
                rrule=rrule,
                exdates={x.astimezone(UTC) for x in exdates},
            )
            self._apply(event, body)
            event.seq = mailbox.next_seq()
            mailbox.events[event.id] = event
            if txid:
                self.transactions[(mailbox.address.lower(), txid)] = event.id
            self._book_rooms(mailbox, event, previous=None)
            return event, True

    def update_event(self, address: str, event_id: str, body: dict) -> SimEvent:
        with self.lock:
            mailbox = self.mailbox(address)
            event = self.get_event(mailbox, event_id)
            if "transactionId" in body and body["transactionId"] != event.transaction_id:
                raise GraphError(400, "ErrorInvalidProperty", "transactionId cannot be changed.")
            previous = (event.start, event.end, [dict(a) for a in event.attendees])
            self._apply(event, body)
            if "start" in body:
                event.start = parse_dtz(body["start"])
            if "end" in body:
                event.end = parse_dtz(body["end"])
            event.bump(mailbox.next_seq())
            self._book_rooms(mailbox, event, previous=previous)
            return event

    def delete_event(self, address: str, event_id: str) -> None:
        with self.lock:
            mailbox = self.mailbox(address)
            event = self.get_event(mailbox, event_id)
            del mailbox.events[event_id]
            mailbox.tombstones[event_id] = mailbox.next_seq()
            if event.is_organizer:
                for room in self._rooms_of(event.attendees):
                    self._drop_copy(room, event.ical_uid)

    def _apply(self, event: SimEvent, body: dict) -> None:
        if "subject" in body:
            event.subject = body["subject"] or ""
        if "body" in body:
            event.body = (body["body"] or {}).get("content", "")
            event.body_type = (body["body"] or {}).get("contentType", "text").lower()
        if "start" in body:
            event.tz = body["start"].get("timeZone") or "UTC"
        if "isAllDay" in body:
            event.is_all_day = bool(body["isAllDay"])
        if "location" in body:
            event.location = (body["location"] or {}).get("displayName", "")
        if "sensitivity" in body:
            event.sensitivity = body["sensitivity"]
        if "categories" in body:
            event.categories = list(body["categories"] or [])
        if "showAs" in body:
            event.show_as = body["showAs"]
        if "isReminderOn" in body:
            event.is_reminder_on = bool(body["isReminderOn"])
        if "reminderMinutesBeforeStart" in body:
            event.reminder_minutes = int(body["reminderMinutesBeforeStart"])
        if "isCancelled" in body:
            event.is_cancelled = bool(body["isCancelled"])
        if "attendees" in body:
            old = {a["emailAddress"]["address"].lower(): a for a in event.attendees}
            attendees = []
            for attendee in body["attendees"] or []:
                address = attendee["emailAddress"]["address"]
                status = old.get(address.lower(), {}).get("status") or {
                    "response": "none",
                    "time": "0001-01-01T00:00:00Z",
                }
                attendees.append(
                    {
                        "type": attendee.get("type", "required"),
                        "status": dict(status),
                        "emailAddress": {
                            "name": attendee["emailAddress"].get("name", address),
                            "address": address,
                        },
                    }
                )
            event.attendees = attendees
        for prop in body.get("singleValueExtendedProperties") or []:
            event.extended[prop_key(prop["id"])] = (prop["id"], prop.get("value"))

    # ----- the resource booking assistant of room mailboxes -----------------------------------
    def _rooms_of(self, attendees: list[dict]) -> list[Mailbox]:
        rooms = []
        for attendee in attendees:
            if attendee.get("type") != "resource":
                continue
            room = self.mailboxes.get(attendee["emailAddress"]["address"].lower())
            if room is not None and room.kind == "room":
                rooms.append(room)
        return rooms

    def _drop_copy(self, room: Mailbox, uid: str) -> None:
        for copy in [e for e in room.events.values() if e.ical_uid == uid]:
            del room.events[copy.id]
            room.tombstones[copy.id] = room.next_seq()

    def _book_rooms(self, organizer: Mailbox, event: SimEvent, previous: tuple | None) -> None:
        """Each invited room's booking assistant answers by its policy (``tests.sims.rba``):
        now, or later for a room whose assistant ``answers_later``. The organizer's event then
        carries the responses (and so shows up in delta again)."""
        if not event.is_organizer:
            return
        moved = previous is None or previous[0] != event.start or previous[1] != event.end
        if previous is not None:
            now = {a["emailAddress"]["address"].lower() for a in event.attendees}
            for room in self._rooms_of(previous[2]):
                if room.address.lower() not in now:
                    self._drop_copy(room, event.ical_uid)
                    self.waiting.discard((organizer.address.lower(), event.id, room.address))
        answered = False
        for attendee in event.attendees:
            room = self._room_of(attendee)
            if room is None:
                continue
            if not moved and attendee["status"]["response"] in ("accepted", "declined"):
                continue
            if room.policy.answers_later:
                attendee["status"] = {"response": "none", "time": "0001-01-01T00:00:00Z"}
                self.waiting.add((organizer.address.lower(), event.id, room.address))
                continue
            answered = self._answer(room, organizer, event, attendee) or answered
        if answered:
            event.bump(organizer.next_seq())

    def _room_of(self, attendee: dict) -> Mailbox | None:
        if attendee.get("type") != "resource":
            return None
        room = self.mailboxes.get(attendee["emailAddress"]["address"].lower())
        return room if room is not None and room.kind == "room" else None

    def _answer(self, room: Mailbox, organizer: Mailbox, event: SimEvent, attendee: dict) -> bool:
        """One room's assistant answers one invitation; False when it leaves it to a delegate."""
        copies = [e for e in room.events.values() if e.ical_uid == event.ical_uid]
        copy_ids = {c.id for c in copies}
        clash = any(
            other.show_as != "free"
            and not other.is_cancelled
            and other.instances(event.start, event.end)
            for other in room.events.values()
            if other.id not in copy_ids
        )
        answer = rba.decide(
            room.policy, event.end, self.clock(), conflict=clash, cancelled=event.is_cancelled
        )
        if answer is None:
            return False
        stamp = iso_z(datetime.now(UTC))
        if answer.response == "decline":
            self._drop_copy(room, event.ical_uid)
            attendee["status"] = {"response": "declined", "time": stamp}
            room.declines.append((event.ical_uid, answer.reason))
            return True
        if copies:
            copy = copies[0]
            copy.start, copy.end = event.start, event.end
            copy.subject = rba.copy_subject(room.policy, event.subject, organizer.name)
            copy.bump(room.next_seq())
        else:
            copy = SimEvent(
                id=new_id(),
                ical_uid=event.ical_uid,
                start=event.start,
                end=event.end,
                subject=rba.copy_subject(room.policy, event.subject, organizer.name),
                tz=event.tz,
                location=event.location,
                sensitivity=event.sensitivity,
                organizer=organizer.address,
                is_organizer=False,
                response="accepted",
                attendees=[dict(a) for a in event.attendees],
            )
            copy.seq = room.next_seq()
            room.events[copy.id] = copy
        attendee["status"] = {"response": "accepted", "time": stamp}
        return True

    def run_booking_assistants(self) -> int:
        """The assistants of rooms that answer later process their inboxes now; returns how
        many invitations were answered."""
        with self.lock:
            answered = 0
            for organizer_address, event_id, room_address in sorted(self.waiting):
                self.waiting.discard((organizer_address, event_id, room_address))
                organizer = self.mailboxes.get(organizer_address)
                event = organizer.events.get(event_id) if organizer else None
                room = self.mailboxes.get(room_address.lower())
                if event is None or room is None:
                    continue
                for attendee in event.attendees:
                    mine = attendee["emailAddress"]["address"].lower() == room.address.lower()
                    if mine and self._answer(room, organizer, event, attendee):
                        event.bump(organizer.next_seq())
                        answered += 1
            return answered

    def room_answers(self, room: str, organizer: str, ical_uid: str, response: str) -> None:
        """The room's delegate answers a meeting by hand (e.g. declines after all): the answer
        lands on the organizer's event, and a declined meeting leaves the room's calendar."""
        with self.lock:
            room_mailbox = self.mailbox(room)
            owner = self.mailbox(organizer)
            event = self.find_uid(organizer, ical_uid)
            for attendee in event.attendees:
                if attendee["emailAddress"]["address"].lower() == room_mailbox.address.lower():
                    attendee["status"] = {"response": response, "time": iso_z(datetime.now(UTC))}
            if response == "declined":
                self._drop_copy(room_mailbox, ical_uid)
            event.bump(owner.next_seq())

    # ----- calendarView and delta --------------------------------------------------------------
    def view(self, mailbox: Mailbox, lo: datetime, hi: datetime) -> list[tuple[SimEvent, tuple]]:
        found = []
        for event in mailbox.events.values():
            for instance in event.instances(lo, hi):
                found.append((event, instance))
        found.sort(key=lambda pair: (pair[1][1], pair[1][0]))
        return found

    def delta_round(
        self, mailbox: Mailbox, lo: datetime, hi: datetime, since: DeltaState | None, tz: str
    ) -> tuple[list[list[dict]], DeltaState]:
        """Entries of one delta round, grouped so that a page never splits a series, and the
        state its deltaLink will stand for.

        A series comes as its master (full) plus a stub per occurrence in the window (issues
        #1716, #7632, #22197, -contrib #34), again as a whole whenever the series changed. An
        occurrence deleted from a series that still exists is not reported at all (PR #4501:
        "No indication is given for a deleted occurrence")."""
        current = self.view(mailbox, lo, hi)
        series: dict[str, tuple[SimEvent, list[tuple]]] = {}
        singles: list[tuple[SimEvent, tuple]] = []
        for event, instance in current:
            if event.rrule:
                series.setdefault(event.id, (event, []))[1].append(instance)
            else:
                singles.append((event, instance))
        current_ids = {instance[0] for _, instance in current} | set(series)
        groups: list[tuple[datetime, list[dict]]] = []
        for event, instance in singles:
            if since is None or instance[0] not in since.known or event.seq > since.watermark:
                groups.append((instance[1], [event.render(tz, instance=instance)]))
        for event, instances in series.values():
            fresh = since is None or event.seq > since.watermark
            fresh = fresh or any(i[0] not in since.known for i in [(event.id,), *instances])
            if fresh:
                entries = [event.render(tz)] + [event.stub(tz, i) for i in instances]
                groups.append((instances[0][1], entries))
        groups.sort(key=lambda g: g[0])
        result = [entries for _, entries in groups]
        if since is not None:
            living = {e.id for e in mailbox.events.values()}
            removed = [
                i
                for i in since.known
                if i not in current_ids
                and (_series_of(i) == i or _series_of(i) not in living)  # PR #4501
            ]
            # Graph also reports events that changed outside the window as removed.
            removed += [
                e.id
                for e in mailbox.events.values()
                if e.seq > since.watermark
                and e.id not in current_ids
                and e.id not in since.known
                and not e.rrule
            ]
            removed += [
                i
                for i, seq in mailbox.tombstones.items()
                if seq > since.watermark and i not in since.known
            ]
            for event_id in dict.fromkeys(removed):
                result.append(
                    [
                        {
                            "@odata.type": "#microsoft.graph.event",
                            "id": event_id,
                            "@removed": {"reason": "deleted"},
                        }
                    ]
                )
        final = DeltaState(mailbox.address.lower(), lo, hi, mailbox.seq, frozenset(current_ids))
        return result, final

    def invalidate_delta_tokens(self, address: str | None = None) -> None:
        with self.lock:
            for token, state in list(self.delta_tokens.items()):
                if address is None or state.mailbox == address.lower():
                    del self.delta_tokens[token]

    # ----- free/busy ---------------------------------------------------------------------------
    def schedule(self, address: str, lo: datetime, hi: datetime, tz: str) -> dict:
        mailbox = self.mailboxes.get(address.lower())
        if mailbox is None:
            return {
                "scheduleId": address,
                "error": {
                    "message": f"The recipient '{address}' was not found.",
                    "responseCode": "ErrorMailRecipientNotFound",
                },
            }
        if mailbox.access == "none":
            return {
                "scheduleId": address,
                "error": {
                    "message": "Access is denied. Check credentials and try again.",
                    "responseCode": "ErrorAccessDenied",
                },
            }
        items = []
        for event, instance in self.view(mailbox, lo, hi):
            if event.show_as == "free" or event.is_cancelled:
                continue
            private = event.sensitivity == "private"
            items.append(
                {
                    "isPrivate": private,
                    "status": event.show_as,
                    "subject": "" if private else event.subject,
                    "location": "" if private else event.location,
                    "start": format_dtz(instance[1], tz),
                    "end": format_dtz(instance[2], tz),
                }
            )
        return {"scheduleId": address, "availabilityView": "", "scheduleItems": items}

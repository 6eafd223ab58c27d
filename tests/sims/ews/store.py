"""The simulated Exchange organisation: mailboxes, calendar items, sync states, room booking.

Plain Python state behind one lock. The SOAP layer (``ops``) reads and writes it; the backdoor
(tests) changes it directly, as a person in Outlook would. Every change bumps a per-mailbox
sequence number, which is what sync states encode.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.sims import rba
from tests.sims.ews.recurrence import Recurrence, horizon, occurrences

# The zones this simulated server knows by Windows id (the server keeps the full definition;
# these are what it reports). Anything else is a "Customized Time Zone" with a display name.
WINDOWS_ZONES = {
    "Romance Standard Time": "Europe/Copenhagen",
    "W. Europe Standard Time": "Europe/Berlin",
    "GMT Standard Time": "Europe/London",
    "UTC": "UTC",
    "Pacific Standard Time": "America/Los_Angeles",
    "FLE Standard Time": "Europe/Helsinki",
}
ZONE_TO_WINDOWS = {v: k for k, v in WINDOWS_ZONES.items()}
ZONE_TO_WINDOWS["Europe/Paris"] = "Romance Standard Time"
ZONE_TO_WINDOWS["Europe/Stockholm"] = "W. Europe Standard Time"
ZONE_TO_WINDOWS["Europe/Oslo"] = "W. Europe Standard Time"
ZONE_TO_WINDOWS["Europe/Amsterdam"] = "W. Europe Standard Time"
DISPLAY_NAMES = {
    "Romance Standard Time": "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris",
    "W. Europe Standard Time": "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
    "GMT Standard Time": "(UTC+00:00) Dublin, Edinburgh, Lisbon, London",
    "UTC": "(UTC) Coordinated Universal Time",
    "Pacific Standard Time": "(UTC-08:00) Pacific Time (US & Canada)",
    "FLE Standard Time": "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius",
}
CUSTOM_ZONE_ID = "Customized Time Zone"
# MS-OXOCAL: the fixed first 16 bytes of every GlobalObjectId.
GOID_PREFIX = bytes.fromhex("040000008200E00074C5B7101A82E008")


def clean_global_object_id(uid: str) -> bytes:
    """PidLidCleanGlobalObjectId as Exchange derives it from an iCalendar UID (MS-OXOCAL 2.2.1.27).

    Outlook's own UIDs are the hex of the GlobalObjectId; any other UID is wrapped as "vCal-Uid".
    "Clean" means the instance date bytes are zero.
    """
    if uid.upper().startswith(GOID_PREFIX.hex().upper()):
        try:
            raw = bytearray(bytes.fromhex(uid))
            raw[16:20] = b"\0\0\0\0"
            return bytes(raw)
        except ValueError:
            pass
    data = b"vCal-Uid" + (1).to_bytes(4, "little") + uid.encode() + b"\0"
    return GOID_PREFIX + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + len(data).to_bytes(4, "little") + data


class StoreError(Exception):
    """An EWS response code with its message text, raised by store operations."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


@dataclass
class Attendee:
    email: str
    name: str = ""
    response: str = (
        "Unknown"  # Unknown | Organizer | Tentative | Accept | Decline | NoResponseReceived
    )


@dataclass
class Item:
    id: str
    mailbox: str
    uid: str
    subject: str
    start: datetime  # aware, UTC
    end: datetime
    zone: ZoneInfo
    tz_id: str
    tz_name: str
    version: int = 1
    all_day: bool = False
    free_busy: str = "Busy"
    sensitivity: str = "Normal"
    # ReminderIsSet / ReminderMinutesBeforeStart (EWS reference: "ReminderIsSet", Exchange
    # sets a 15-minute reminder when CreateItem does not say).
    reminder_is_set: bool = True
    reminder_minutes: int = 15
    categories: list[str] = field(default_factory=list)
    location: str = ""
    body: str = ""
    organizer: str | None = None
    required: list[Attendee] = field(default_factory=list)
    optional: list[Attendee] = field(default_factory=list)
    resources: list[Attendee] = field(default_factory=list)
    ext: dict[tuple[str, str, str], str] = field(default_factory=dict)
    recurrence: Recurrence | None = None
    exdates: set[datetime] = field(default_factory=set)  # original starts (UTC)
    overrides: dict[datetime, dict] = field(default_factory=dict)  # original start -> changes
    is_cancelled: bool = False
    created_seq: int = 0
    changed_seq: int = 0

    @property
    def changekey(self) -> str:
        return base64.b64encode(f"CK{self.version}:{self.id}".encode()).decode()

    @property
    def is_meeting(self) -> bool:
        return bool(self.required or self.optional or self.resources)

    def attendees(self) -> Iterable[Attendee]:
        return itertools.chain(self.required, self.optional, self.resources)


@dataclass(frozen=True)
class Instance:
    """One concrete occurrence (or a single item) within a time range."""

    item: Item
    start: datetime
    end: datetime
    original_start: datetime | None  # None for single items
    subject: str
    free_busy: str

    @property
    def kind(self) -> str:
        if self.original_start is None:
            return "Single"
        return "Exception" if self.original_start in self.item.overrides else "Occurrence"


@dataclass
class Mailbox:
    email: str
    name: str
    kind: str = "user"  # user | room
    access: str = "full"  # full | read | none | deny_impersonation
    exists: bool = True
    auto_accept: bool = True  # rooms: the Resource Booking Assistant answers invitations
    policy: rba.RoomPolicy = field(default_factory=rba.RoomPolicy)  # ... by this policy
    declines: list[tuple[str, str]] = field(default_factory=list)  # (UID, why)
    capacity: int | None = None
    room_list: str | None = None
    items: dict[str, Item] = field(default_factory=dict)
    seq: int = 0
    tombstones: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (created, deleted)
    epoch: int = 0  # bumped to invalidate every sync state of this mailbox


class Store:
    """All mailboxes of the simulated organisation."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.room_lists: dict[str, str] = {}  # list address -> display name
        # distribution groups: address -> {"name", "members": [addresses]} (ExpandDL)
        self.groups: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._secret = b"sim-sync-state"
        self.listeners: list = []  # callables(mailbox_email) for streaming notifications
        self.waiting: set[tuple[str, str, str]] = set()  # (organizer, item id, room) unanswered
        self.clock = lambda: datetime.now(UTC)  # the booking assistants' "now"

    # -- mailboxes -----------------------------------------------------------------------------
    def add_mailbox(self, email: str, name: str | None = None, **kwargs) -> Mailbox:
        with self.lock:
            mbx = Mailbox(email=email.lower(), name=name or email.split("@")[0], **kwargs)
            self.mailboxes[mbx.email] = mbx
            if mbx.room_list:
                self.room_lists.setdefault(mbx.room_list, mbx.room_list.split("@")[0])
            return mbx

    def mailbox(self, email: str) -> Mailbox:
        mbx = self.mailboxes.get(email.lower())
        if mbx is None or not mbx.exists:
            raise StoreError(
                "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
            )
        return mbx

    # -- items -----------------------------------------------------------------------------------
    def new_id(self, mailbox: str) -> str:
        raw = f"{mailbox}|{next(self._ids)}".encode()
        return "AAMk" + base64.b64encode(hashlib.sha1(raw).digest() + raw).decode()

    def insert(self, item: Item, *, notify: bool = True) -> Item:
        with self.lock:
            mbx = self.mailbox(item.mailbox)
            mbx.seq += 1
            item.created_seq = item.changed_seq = mbx.seq
            mbx.items[item.id] = item
        if notify:
            self._notify(item.mailbox)
        return item

    def touch(self, item: Item) -> None:
        """Record a change of ``item`` (new change key, visible to SyncFolderItems)."""
        with self.lock:
            mbx = self.mailbox(item.mailbox)
            mbx.seq += 1
            item.version += 1
            item.changed_seq = mbx.seq
        self._notify(item.mailbox)

    def remove(self, item: Item) -> None:
        with self.lock:
            mbx = self.mailbox(item.mailbox)
            if mbx.items.pop(item.id, None) is None:
                return
            mbx.seq += 1
            mbx.tombstones[item.id] = (item.created_seq, mbx.seq)
        self._notify(item.mailbox)

    def find(self, mailbox: str, item_id: str) -> Item:
        item = self.mailbox(mailbox).items.get(item_id)
        if item is None:
            raise StoreError(
                "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return item

    def locate(self, item_id: str) -> Item:
        for mbx in self.mailboxes.values():
            if item_id in mbx.items:
                return mbx.items[item_id]
        raise StoreError("ErrorItemNotFound", "The specified object was not found in the store.")

    def by_uid(self, mailbox: str, uid: str) -> Item | None:
        for item in self.mailbox(mailbox).items.values():
            if item.uid == uid:
                return item
        return None

    # -- expansion --------------------------------------------------------------------------------
    def instances(self, item: Item, start: datetime, end: datetime) -> list[Instance]:
        """Occurrences of ``item`` overlapping [start, end)."""
        if item.recurrence is None:
            if item.start < end and item.end > start:
                return [Instance(item, item.start, item.end, None, item.subject, item.free_busy)]
            return []
        out = []
        duration = item.end - item.start
        for orig in occurrences(item.recurrence, item.start, item.zone, max(end, item.start)):
            if orig in item.exdates:
                continue
            change = item.overrides.get(orig, {})
            occ_start = change.get("start", orig)
            occ_end = change.get("end", orig + duration)
            if occ_start < end and occ_end > start:
                out.append(
                    Instance(
                        item,
                        occ_start,
                        occ_end,
                        orig,
                        change.get("subject", item.subject),
                        change.get("free_busy", item.free_busy),
                    )
                )
        return out

    def busy_instances(self, mailbox: str, start: datetime, end: datetime) -> list[Instance]:
        out = []
        for item in list(self.mailbox(mailbox).items.values()):
            if item.is_cancelled:
                continue
            out.extend(self.instances(item, start, end))
        return sorted(out, key=lambda i: i.start)

    # -- sync states --------------------------------------------------------------------------------
    def sync_state(self, mbx: Mailbox, seq: int) -> str:
        raw = f"{mbx.email}|{mbx.epoch}|{seq}"
        sig = hashlib.sha256(self._secret + raw.encode()).hexdigest()[:16]
        return base64.b64encode(f"{raw}|{sig}".encode()).decode()

    def parse_sync_state(self, mbx: Mailbox, state: str) -> int:
        bad = StoreError(
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
        )
        try:
            email, epoch, seq, sig = base64.b64decode(state, validate=True).decode().split("|")
        except (ValueError, UnicodeDecodeError):
            raise bad from None
        raw = f"{email}|{epoch}|{seq}"
        if sig != hashlib.sha256(self._secret + raw.encode()).hexdigest()[:16]:
            raise bad
        if email != mbx.email or int(epoch) != mbx.epoch:
            raise bad
        return int(seq)

    def changes_since(self, mbx: Mailbox, since: int | None) -> list[tuple[int, str, str]]:
        """Net changes (seq, kind, item id) since ``since`` (None: everything as Create)."""
        out: list[tuple[int, str, str]] = []
        for item in mbx.items.values():
            if since is None or item.created_seq > since:
                out.append((item.changed_seq, "Create", item.id))
            elif item.changed_seq > since:
                out.append((item.changed_seq, "Update", item.id))
        if since is not None:
            for item_id, (created, deleted) in mbx.tombstones.items():
                if created <= since < deleted:
                    out.append((deleted, "Delete", item_id))
        return sorted(out)

    # -- room booking (Resource Booking Assistant) ------------------------------------------------
    def room_conflict(self, room: Mailbox, meeting: Item, ignore_uid: str | None) -> bool:
        """True when ``meeting`` overlaps an accepted busy item in ``room``'s calendar."""
        now = datetime.now(UTC)
        probe_end = horizon(now) if meeting.recurrence else meeting.end + timedelta(seconds=1)
        wanted = self.instances(meeting, meeting.start - timedelta(days=1), probe_end)
        for other in room.items.values():
            if other.is_cancelled or other.uid == ignore_uid or other.free_busy == "Free":
                continue
            for w in wanted:
                if self.instances(other, w.start, w.end):
                    return True
        return False

    def book_rooms(self, organizer_item: Item, previous_rooms: set[str] = frozenset()) -> None:
        """Each invited room's Resource Booking Assistant answers by its policy
        (``tests.sims.rba``): now, or later for a room whose assistant ``answers_later``."""
        with self.lock:
            wanted = {a.email.lower() for a in organizer_item.attendees()}
            for email in previous_rooms - wanted:
                self._drop_room_copy(email, organizer_item.uid)
            for att in organizer_item.attendees():
                room = self.mailboxes.get(att.email.lower())
                if room is None or room.kind != "room" or not room.auto_accept:
                    continue
                if room.policy.answers_later:
                    att.response = "Unknown"
                    self.waiting.add((organizer_item.mailbox, organizer_item.id, room.email))
                    continue
                self._answer(room, organizer_item, att)

    def _answer(self, room: Mailbox, meeting: Item, att: Any) -> bool:
        conflict = self.room_conflict(room, meeting, ignore_uid=meeting.uid)
        answer = rba.decide(
            room.policy,
            meeting.end,
            self.clock(),
            conflict=conflict,
            cancelled=meeting.is_cancelled,
        )
        if answer is None:
            return False
        if answer.response == "decline":
            self._drop_room_copy(room.email, meeting.uid)
            att.response = "Decline"
            room.declines.append((meeting.uid, answer.reason))
        else:
            self._put_room_copy(room, meeting)
            att.response = "Accept"
        return True

    def run_booking_assistants(self) -> int:
        """Rooms whose assistants answer later process their inboxes now; returns how many
        invitations were answered (each answer changes the organizer's item)."""
        answered = 0
        with self.lock:
            for organizer, item_id, email in sorted(self.waiting):
                self.waiting.discard((organizer, item_id, email))
                mbx = self.mailboxes.get(organizer)
                item = mbx.items.get(item_id) if mbx else None
                room = self.mailboxes.get(email)
                if item is None or room is None:
                    continue
                for att in item.attendees():
                    if att.email.lower() == email and self._answer(room, item, att):
                        self.touch(item)
                        answered += 1
        return answered

    def cancel_rooms(self, organizer_item: Item) -> None:
        self.cancel_rooms_for(organizer_item, {a.email.lower() for a in organizer_item.attendees()})

    def cancel_rooms_for(self, organizer_item: Item, rooms: set[str]) -> None:
        with self.lock:
            for email in rooms:
                self._drop_room_copy(email, organizer_item.uid)

    def _put_room_copy(self, room: Mailbox, meeting: Item) -> None:
        copy = self.by_uid(room.email, meeting.uid)
        fields = dict(
            subject=rba.copy_subject(
                room.policy, meeting.subject, self.mailboxes[meeting.mailbox].name
            ),
            start=meeting.start,
            end=meeting.end,
            zone=meeting.zone,
            tz_id=meeting.tz_id,
            tz_name=meeting.tz_name,
            all_day=meeting.all_day,
            sensitivity=meeting.sensitivity,
            location=meeting.location,
            organizer=meeting.mailbox,
            recurrence=meeting.recurrence,
            exdates=set(meeting.exdates),
            overrides=dict(meeting.overrides),
            free_busy="Busy",
        )
        if copy is None:
            self.insert(
                Item(id=self.new_id(room.email), mailbox=room.email, uid=meeting.uid, **fields)
            )
        else:
            for k, v in fields.items():
                setattr(copy, k, v)
            self.touch(copy)

    def _drop_room_copy(self, email: str, uid: str) -> None:
        mbx = self.mailboxes.get(email.lower())
        if mbx is None or mbx.kind != "room":
            return
        copy = self.by_uid(mbx.email, uid)
        if copy is not None:
            self.remove(copy)

    # -- notifications --------------------------------------------------------------------------------
    def _notify(self, mailbox: str) -> None:
        for listener in list(self.listeners):
            listener(mailbox)


def clone(item: Item, **changes) -> Item:
    return replace(item, **changes)

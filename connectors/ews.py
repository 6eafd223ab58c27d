"""Exchange Server (on premises, or Exchange Online while EWS lasts) over EWS with exchangelib.

Design choices (why):
- One service account reaches every mailbox by ExchangeImpersonation; ``calendar_id`` is the
  mailbox's SMTP address and means its primary calendar. The calendar folder is addressed as a
  DistinguishedFolderId with the mailbox, so no GetFolder round trip precedes the real work.
- ``fetch_changes`` is SyncFolderItems (IdOnly, the documented sync best practice) with the sync
  state as token, then one batched GetItem for the changed items with just the needed fields.
  An idle calendar costs one request. Recurring masters come back whole (rrule, exdates,
  overrides; see ``ews_items``).
- ``change_markers`` returns ``{}``: EWS has no cheap per-calendar ctag reachable for many
  impersonated mailboxes in one request, and SyncFolderItems with an unchanged state is itself
  the cheap check (bench/ews_idle.py measures it).
- Our external id is an extended property (own property set); the event's iCalendar UID is set
  to the external id too, so the room's copy (made by the Resource Booking Assistant) carries it.
- Throttling and concurrency: see ``ews_throttle`` (never earlier than the server said).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Attendee,
    Build,
    Configuration,
    EWSDateTime,
    EWSTimeZone,
    Mailbox,
    Q,
    Version,
)
from exchangelib import CalendarItem as EwsCalendarItem
from exchangelib.errors import UnauthorizedError
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Root
from exchangelib.items import ID_ONLY, NEVER_OVERWRITE, SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE
from exchangelib.properties import (
    DistinguishedFolderId,
    FreeBusyViewOptions,
    MailboxData,
    TimeWindow,
)
from exchangelib.protocol import Protocol
from exchangelib.services import GetFolder, GetUserAvailability
from exchangelib.transport import NOAUTH

from connectors.base import (
    BusyInterval,
    CalendarInfo,
    CalendarItem,
    ChangeSet,
    ConnectorError,
    EventDraft,
    NotOwned,
    PermissionDenied,
    ProbeResult,
    Throttled,
    WriteResult,
)
from connectors.ews_auth import build_credentials, login_refused
from connectors.ews_availability import availability_timezone, windows
from connectors.ews_config import EWSConfig
from connectors.ews_items import (
    OCCURRENCE_FIELDS,
    READ_FIELDS,
    UnsupportedItem,
    clean_global_object_id,
    differs,
    draft_fields,
    owned_id,
    reminder_fields,
    to_calendar_item,
    to_override,
)
from connectors.ews_throttle import TRANSLATED, Gate, HintingFailFast, call_with_backoff, translate
from mappings.privacy import contains_cpr

log = logging.getLogger(__name__)
T = TypeVar("T")

_AUTH_TYPES = {"ntlm": NTLM, "basic": BASIC, "oauth": OAUTH2, "none": NOAUTH}
_VERSIONS = {
    "Exchange2016": Version(build=Build(15, 1), api_version="Exchange2016"),
    "Exchange2019": Version(build=Build(15, 2), api_version="Exchange2016"),
}
_BUSY = {"Busy": "BUSY", "Tentative": "TENTATIVE", "OOF": "OOF"}
_HREF_CACHE_SIZE = 10_000
AVAILABILITY_MAILBOXES = 100  # GetUserAvailability: ErrorMailboxDataArrayTooBig above this
_WRITE_LOCK_STRIPES = 64


class EWSConnector:
    """The EWS backend of ``connectors.base.Connector`` (streaming push is not implemented yet,
    so it deliberately does not offer ``PushSource.watch``: polling is the only path)."""

    name = "ews"

    def __init__(self, config: EWSConfig | Mapping[str, Any] | None = None, **options: Any) -> None:
        if config is None:
            config = EWSConfig.from_mapping(options)
        elif isinstance(config, Mapping):
            config = EWSConfig.from_mapping({**config, **options})
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._ews_zone = EWSTimeZone(config.timezone)
        self._gate = Gate(config.max_concurrency, config.max_per_mailbox)
        self._stop = threading.Event()
        anchor = config.mailboxes[0] if config.mailboxes else None
        if anchor is None and config.rooms:
            anchor = config.rooms[0].email
        self._ex_config = Configuration(
            service_endpoint=config.endpoint,
            credentials=build_credentials(config, anchor),
            auth_type=_AUTH_TYPES[config.auth],
            retry_policy=HintingFailFast(),
            version=_VERSIONS.get(config.version or ""),
            max_connections=config.max_concurrency,
        )
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()
        self._hrefs: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._write_locks = [threading.Lock() for _ in range(_WRITE_LOCK_STRIPES)]
        self._rooms = {r.email for r in config.rooms}

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def protocol(self) -> Protocol:
        protocol = Protocol(config=self._ex_config)
        protocol.TIMEOUT = self.config.timeout
        return protocol

    @property
    def credentials(self) -> Any:
        return self._ex_config.credentials

    def _account(self, mailbox: str) -> Account:
        with self._lock:
            acc = self._accounts.get(mailbox)
            if acc is None:
                acc = Account(
                    primary_smtp_address=mailbox,
                    config=self._ex_config,
                    autodiscover=False,
                    access_type=IMPERSONATION if self.config.impersonation else DELEGATE,
                    default_timezone=self._ews_zone,
                    locale="da_DK",
                )
                acc.protocol.TIMEOUT = self.config.timeout
                self._accounts[mailbox] = acc
            return acc

    def _calendar(self, mailbox: str) -> tuple[Account, Calendar]:
        """The mailbox's primary calendar as a distinguished folder id (no GetFolder needed)."""
        acc = self._account(mailbox)
        folder = Calendar(
            _distinguished_id=DistinguishedFolderId(
                id=Calendar.DISTINGUISHED_FOLDER_ID, mailbox=Mailbox(email_address=mailbox)
            ),
            root=Root(account=acc),
        )
        return acc, folder

    def _call(self, key: str | None, fn: Callable[[], T]) -> T:
        try:
            return call_with_backoff(
                self._gate,
                key,
                fn,
                max_inline=self.config.max_inline_backoff,
                max_retries=self.config.max_busy_retries,
                stop=self._stop,
            )
        except Throttled:
            raise
        except UnauthorizedError as exc:
            raise PermissionDenied(login_refused(self.config), calendar_id=key) from exc
        except TRANSLATED as exc:
            raise translate(exc, key) from exc

    # -- calendars -----------------------------------------------------------------------------
    def list_calendars(self) -> list[CalendarInfo]:
        found: dict[str, CalendarInfo] = {}
        for mbx in self.config.mailboxes:
            found[mbx] = CalendarInfo(calendar_id=mbx, name=mbx, kind="caseworker", email=mbx)
        for room in self.config.rooms:
            found[room.email] = CalendarInfo(
                calendar_id=room.email,
                name=room.name or room.email,
                kind="room",
                email=room.email,
                capacity=room.capacity,
            )
        if self.config.discover_rooms:
            try:
                for info in self._call(None, self._discover_rooms):
                    found.setdefault(info.calendar_id, info)
            except ConnectorError as exc:
                # Discovery only adds to the configured rooms; say so, keep the configured ones.
                log.warning("EWS room discovery failed: %s", exc)
        self._rooms.update(c.calendar_id for c in found.values() if c.kind == "room")
        return list(found.values())

    def _discover_rooms(self) -> list[CalendarInfo]:
        out = []
        protocol = self.protocol
        for room_list in protocol.get_roomlists():
            for room in protocol.get_rooms(room_list.email_address):
                email = room.email_address.lower()
                out.append(
                    CalendarInfo(
                        calendar_id=email,
                        name=room.name or email,
                        kind="room",
                        email=email,
                        extra={"room_list": room_list.email_address.lower()},
                    )
                )
        return out

    def change_markers(self, calendar_ids: Sequence[str]) -> dict[str, str]:
        """None: an unchanged SyncFolderItems state is the cheapest check EWS offers (1 request)."""
        return {}

    # -- reading -------------------------------------------------------------------------------
    def fetch_changes(
        self, calendar_id: str, token: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        mailbox = calendar_id.lower()
        return self._call(mailbox, lambda: self._fetch_changes(mailbox, token or None))

    def _fetch_changes(self, mailbox: str, token: str | None) -> ChangeSet:
        acc, folder = self._calendar(mailbox)
        changed: dict[str, str] = {}
        deleted: list[str] = []
        for change, item in folder.sync_items(
            sync_state=token, only_fields=[], max_changes_returned=512
        ):
            if change in ("create", "update"):
                changed[item.id] = item.changekey
            elif change == "delete":
                changed.pop(item.id, None)
                deleted.append(item.id)
        new_token = folder.item_sync_state
        items, quarantined, vanished = self._read_items(acc, folder, mailbox, changed)
        return ChangeSet(
            changed=items,
            deleted=deleted + vanished,
            token=new_token,
            full=token is None,
            quarantined=quarantined,
        )

    def _read_items(
        self, acc: Account, folder: Calendar, mailbox: str, ids: dict[str, str]
    ) -> tuple[list[CalendarItem], list[tuple[str, str]], list[str]]:
        items: list[CalendarItem] = []
        quarantined: list[tuple[str, str]] = []
        vanished: list[str] = []
        if not ids:
            return items, quarantined, vanished
        fetched = list(acc.fetch(ids=list(ids.items()), folder=folder, only_fields=READ_FIELDS))
        occurrence_ids = []
        for href, got in zip(ids, fetched, strict=True):
            if isinstance(got, Exception):
                if type(got).__name__ == "ErrorItemNotFound":
                    vanished.append(href)  # deleted between SyncFolderItems and GetItem
                else:
                    quarantined.append((href, f"{type(got).__name__}: {got}"))
                continue
            for occ in got.modified_occurrences or ():
                if occ.id:
                    occurrence_ids.append((occ.id, occ.changekey))
        occurrences = self._read_occurrences(acc, folder, occurrence_ids)
        for href, got in zip(ids, fetched, strict=True):
            if isinstance(got, Exception):
                continue
            try:
                master = to_calendar_item(
                    got, default_zone=self.zone, territory=self.config.territory, rooms=self._rooms
                )
                mods = tuple(
                    to_override(occurrences[o.id], master, self.zone, self.config.territory)
                    for o in (got.modified_occurrences or ())
                    if o.id in occurrences
                )
                if mods:
                    master = _with_overrides(master, mods)
                items.append(master)
            except (UnsupportedItem, ValueError, TypeError, AttributeError) as exc:
                log.warning("EWS item %s in %s quarantined: %s", href[-12:], mailbox, exc)
                quarantined.append((href, f"{type(exc).__name__}: {exc}"))
        return items, quarantined, vanished

    def _read_occurrences(
        self, acc: Account, folder: Calendar, ids: list[tuple[str, str]]
    ) -> dict[str, Any]:
        if not ids:
            return {}
        got = acc.fetch(ids=ids, folder=folder, only_fields=OCCURRENCE_FIELDS)
        return {i: o for (i, _), o in zip(ids, got, strict=True) if not isinstance(o, Exception)}

    # -- writing -------------------------------------------------------------------------------
    def upsert_event(self, calendar_id: str, draft: EventDraft) -> WriteResult:
        if any(contains_cpr(v) for v in (draft.summary, draft.description, draft.location)):
            raise ConnectorError("refused: the event text contains a CPR-shaped number")
        mailbox = calendar_id.lower()
        with self._write_lock(mailbox, draft.external_id):
            return self._call(mailbox, lambda: self._upsert(mailbox, draft))

    def _upsert(self, mailbox: str, draft: EventDraft) -> WriteResult:
        acc, folder = self._calendar(mailbox)
        existing, foreign = self._lookup(acc, folder, mailbox, draft.external_id, full=True)
        if not existing and foreign:
            raise NotOwned(
                f"an item with UID {draft.external_id!r} exists but is not ours",
                calendar_id=mailbox,
            )
        if not existing:
            fields = {k: v for k, v in draft_fields(draft).items() if v is not None}
            fields |= reminder_fields(draft)  # on create only: the caseworker may change it
            item = EwsCalendarItem(
                account=acc,
                folder=folder,
                uid=draft.external_id,
                resources=_attendees(draft.resources),
                **fields,
            )
            item.save(send_meeting_invitations=_invitations(draft.resources))
            self._remember(mailbox, draft.external_id, item.id)
            log.info("EWS created event in %s", mailbox)
            return WriteResult(href=item.id, etag=item.changekey, created=True)
        keep, duplicates = existing[0], existing[1:]
        for dup in duplicates:  # a crash between CreateItem and its answer may leave a twin
            # No cancellation: the twin shares its UID with the event we keep, so a cancellation
            # would take the room's one copy of the meeting away from the kept event too.
            dup.delete(send_meeting_cancellations=SEND_TO_NONE)
            log.warning("EWS removed a duplicate of our event in %s", mailbox)
        if not differs(keep, draft):
            return WriteResult(href=keep.id, etag=keep.changekey, created=False)
        had_rooms = bool(keep.resources)
        update = draft_fields(draft)
        for key, value in update.items():
            setattr(keep, key, value)
        keep.resources = _attendees(draft.resources)
        keep.save(
            update_fields=[*update, "resources"],
            conflict_resolution=NEVER_OVERWRITE,
            send_meeting_invitations=_invitations(draft.resources or had_rooms),
        )
        self._remember(mailbox, draft.external_id, keep.id)
        return WriteResult(href=keep.id, etag=keep.changekey, created=False)

    def delete_event(self, calendar_id: str, external_id: str) -> bool:
        mailbox = calendar_id.lower()
        with self._write_lock(mailbox, external_id):
            return self._call(mailbox, lambda: self._delete(mailbox, external_id))

    def _delete(self, mailbox: str, external_id: str) -> bool:
        acc, folder = self._calendar(mailbox)
        ours, foreign = self._lookup(acc, folder, mailbox, external_id, full=False)
        if not ours and foreign:
            raise NotOwned(
                f"the item with UID {external_id!r} is not ours; refusing to delete it",
                calendar_id=mailbox,
            )
        for item in ours:
            # Cancellations release the room's copy; Exchange ignores them for plain appointments.
            item.delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)
        with self._lock:
            self._hrefs.pop((mailbox, external_id), None)
        return bool(ours)

    def _lookup(
        self, acc: Account, folder: Calendar, mailbox: str, external_id: str, *, full: bool
    ) -> tuple[list[Any], bool]:
        """(our items carrying ``external_id``, whether a foreign item has it as its UID).

        One FindItem matches our property or the UID (as CleanGlobalObjectId, since calendar:UID
        is not searchable); a cached href skips it for repeated upserts of the same event.
        """
        fields = (*READ_FIELDS, "sensitivity") if full else ("selvbook_id", "uid")
        with self._lock:
            cached = self._hrefs.get((mailbox, external_id))
        if cached and full:
            got = next(iter(acc.fetch(ids=[(cached, None)], folder=folder, only_fields=fields)))
            if not isinstance(got, Exception) and owned_id(got) == external_id:
                return [got], False
        query = Q(selvbook_id=external_id) | Q(clean_goid=clean_global_object_id(external_id))
        ids = list(folder.filter(query).values_list("id", "changekey"))
        if not ids:
            return [], False
        got = [
            g
            for g in acc.fetch(ids=ids, folder=folder, only_fields=fields)
            if not isinstance(g, Exception)
        ]
        # Ours: our property and our UID (``owned_id``). An Outlook copy (our property, its
        # own UID) is left alone and does not stop us; an item with our UID that is not ours
        # is someone else's, and is.
        mine = [g for g in got if owned_id(g) == external_id]
        foreign = any(owned_id(g) != external_id and g.uid == external_id for g in got)
        return mine, foreign

    def _remember(self, mailbox: str, external_id: str, href: str) -> None:
        with self._lock:
            self._hrefs[(mailbox, external_id)] = href
            self._hrefs.move_to_end((mailbox, external_id))
            while len(self._hrefs) > _HREF_CACHE_SIZE:
                self._hrefs.popitem(last=False)

    def _write_lock(self, mailbox: str, external_id: str) -> threading.Lock:
        return self._write_locks[hash((mailbox, external_id)) % _WRITE_LOCK_STRIPES]

    # -- availability --------------------------------------------------------------------------
    def free_busy(
        self, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[BusyInterval]]:
        """GetUserAvailability in calls of at most 100 mailboxes (ErrorMailboxDataArrayTooBig
        above that) and 42 days. A mailbox Exchange answers with an error (no such mailbox, no
        rights) is logged and left out; the others keep their free/busy."""
        ids = list(dict.fromkeys(calendar_ids))
        result: dict[str, set[BusyInterval]] = {c: set() for c in ids}
        failed: set[str] = set()
        lo, hi = start.astimezone(self.zone), end.astimezone(self.zone)
        groups = [
            ids[i : i + AVAILABILITY_MAILBOXES] for i in range(0, len(ids), AVAILABILITY_MAILBOXES)
        ]
        for group in groups:
            for w_start, w_end in windows(lo, hi):
                views = self._call(
                    None,
                    lambda g=group, s=w_start, e=w_end: self._availability(
                        [c.lower() for c in g], s, e
                    ),
                )
                for cid, view in zip(group, views, strict=True):
                    if isinstance(view, Exception):
                        if cid not in failed:
                            log.warning("EWS: no free/busy for %s: %s", cid, translate(view, cid))
                        failed.add(cid)
                        continue
                    for ev in view.calendar_events or ():
                        status = _BUSY.get(ev.busy_type)
                        if status is None or ev.start is None or ev.end is None:
                            continue
                        s = max(_as_zone(ev.start, self.zone), lo)
                        e = min(_as_zone(ev.end, self.zone), hi)
                        if s < e:
                            result[cid].add(BusyInterval(start=s, end=e, status=status))
        return {
            c: sorted(v, key=lambda b: (b.start, b.end))
            for c, v in result.items()
            if c not in failed
        }

    def _availability(self, ids: list[str], start: datetime, end: datetime) -> list[Any]:
        data = [
            MailboxData(
                email=c,
                attendee_type="Room" if c in self._rooms else "Required",
                exclude_conflicts=False,
            )
            for c in ids
        ]
        options = FreeBusyViewOptions(
            time_window=TimeWindow(
                start=EWSDateTime.from_datetime(start).astimezone(self._ews_zone),
                end=EWSDateTime.from_datetime(end).astimezone(self._ews_zone),
            ),
            merged_free_busy_interval=30,
            requested_view="FreeBusy",
        )
        return list(
            GetUserAvailability(self.protocol).call(
                tzinfo=self._ews_zone,
                mailbox_data=data,
                timezone=availability_timezone(self.zone, start.year),
                free_busy_view_options=options,
            )
        )

    # -- checks --------------------------------------------------------------------------------
    def probe(self, calendar_id: str) -> ProbeResult:
        """GetFolder with EffectiveRights: read access and write rights, without writing."""
        mailbox = calendar_id.lower()
        try:
            rights = self._call(mailbox, lambda: self._rights(mailbox))
        except ConnectorError as exc:
            return ProbeResult(mailbox, reachable=False, writable=False, error=str(exc))
        writable = bool(rights and rights.create_contents and rights.modify and rights.delete)
        error = None if writable else "ErrorAccessDenied: no CreateContents/Modify/Delete rights"
        return ProbeResult(mailbox, reachable=True, writable=writable, error=error)

    def _rights(self, mailbox: str) -> Any:
        acc, folder = self._calendar(mailbox)
        field = FieldPath(field=Calendar.get_field_by_fieldname("effective_rights"))
        got = list(
            GetFolder(account=acc).call(folders=[folder], additional_fields=[field], shape=ID_ONLY)
        )
        if isinstance(got[0], Exception):
            raise got[0]
        return got[0].effective_rights

    def close(self) -> None:
        self._stop.set()
        try:
            self.protocol.close()
        except Exception as exc:  # closing must never fail the caller
            log.debug("EWS close: %s", exc)


def _attendees(emails: Sequence[str]) -> list[Attendee] | None:
    if not emails:
        return None
    return [Attendee(mailbox=Mailbox(email_address=e), response_type="Unknown") for e in emails]


def _invitations(rooms: Any) -> str:
    return SEND_TO_ALL_AND_SAVE_COPY if rooms else SEND_TO_NONE


def _with_overrides(item: CalendarItem, overrides: tuple[CalendarItem, ...]) -> CalendarItem:
    from dataclasses import replace

    return replace(item, overrides=overrides)


def _as_zone(value: datetime, zone: ZoneInfo) -> datetime:
    from connectors.ews_items import _plain

    return _plain(value, zone)

"""Syncing one calendar: fetch what changed, keep a status per item, and bring the store in
line (windows -> slots for a caseworker, occupancy for a room, read-back of our own events).

The new sync token is saved in the same transaction as the data it describes, so a crash at
any point means the next run fetches the same changes again instead of losing them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from connectors.base import CalendarItem, ChangeSet, Connector, SyncTokenInvalid, Unreadable
from mappings.errors import ItemParseError
from mappings.privacy import redact_cpr
from mappings.rules import Rules
from mappings.salvage import blocked as salvage_blocked
from mappings.salvage import salvage_item
from syncd.domain.model import BookingStatus
from syncd.domain.slots import Interval, WindowOccurrence
from syncd.engine.crashpoints import crash_point
from syncd.engine.items import interpret, item_from_json, item_to_json
from syncd.engine.leases import Leases
from syncd.engine.ownership import booking_for_external_id, our_id
from syncd.engine.targets import Target
from syncd.logs import get_logger
from syncd.runtime import Runtime
from syncd.store import readback
from syncd.store.journal import audit, enqueue_calendar_sync
from syncd.store.publishing import publish_caseworker
from syncd.store.rooms import active_room
from syncd.store.tables import (
    BookingRow,
    BusyRow,
    CalendarEventRow,
    CalendarItemRow,
    QuarantineRow,
    SyncStateRow,
)

log = get_logger("syncd.sync")


@dataclass
class SyncReport:
    calendar_id: str
    changed: int = 0
    deleted: int = 0
    full: bool = False
    quarantined: int = 0
    published: int | None = None
    conflicts: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    rooms_lost: list[str] = field(default_factory=list)


def horizon(rt: Runtime) -> tuple[datetime, datetime]:
    now = rt.clock()
    return now, now + timedelta(days=rt.config.publishing.horizon_days)


class CalendarSync:
    def __init__(
        self, rt: Runtime, connector: Connector, rules: Rules, leases: Leases | None = None
    ) -> None:
        self.rt = rt
        self.connector = connector
        self.rules = rules
        self.leases = leases
        # Exchange keeps a room's copy of our meeting itself; only CalDAV rooms hold our events.
        self.owns_room_events = connector.name not in ("ews", "graph")
        self._checked: set[str] = set()  # calendars whose owned items this process has matched
        self._checked_lock = threading.Lock()

    def checked(self, calendar_id: str) -> bool:
        """Has this process matched every item of ours in this calendar with the store?"""
        with self._checked_lock:
            return calendar_id in self._checked

    def sync(self, target: Target, *, marker: str | None = None) -> SyncReport:
        """Fetch and apply one calendar's changes. Connector errors propagate to the caller,
        which owns back-off; bad items are quarantined here and never stop the others."""
        with self.rt.db.read() as s:
            state = s.get(SyncStateRow, target.calendar_id)
            token = None if state is None or state.force_full else state.token
        h = horizon(self.rt)
        try:
            changes = self.connector.fetch_changes(target.calendar_id, token, *h)
        except SyncTokenInvalid:
            changes = self.connector.fetch_changes(target.calendar_id, None, *h)
        return self.apply(target, changes, marker=marker)

    # -- applying ----------------------------------------------------------------------------

    def apply(
        self, target: Target, changes: ChangeSet, *, marker: str | None, republish: bool = False
    ) -> SyncReport:
        rt = self.rt
        now = rt.clock()
        h = horizon(rt)
        report = SyncReport(target.calendar_id, full=changes.full)
        crash_point("sync.before_apply", target.calendar_id)
        match_all = changes.full or not self.checked(target.calendar_id)
        if not (
            changes.changed
            or changes.deleted
            or changes.full
            or changes.quarantined
            or republish
            or match_all
        ):
            # Nothing changed: only the token moves on. This is most syncs on servers without a
            # cheap change marker (EWS, Graph without $batch markers), so it must stay cheap.
            with rt.db.write() as s:
                if self.leases is not None:
                    self.leases.check(s, target.calendar_id)
                self._save_state(s, target, changes.token, marker, now)
            return report
        with rt.db.read() as s:
            known = {
                row.href: row
                for row in s.scalars(
                    select(CalendarItemRow).where(CalendarItemRow.calendar_id == target.calendar_id)
                )
            }
        changed = {item.href: item for item in changes.changed}
        if changes.full:
            removed = set(known) - set(changed)
        else:
            removed = {href for href in changes.deleted if href in known} - set(changed)
        report.changed, report.deleted = len(changed), len(removed)
        items: dict[str, CalendarItem] = {}
        for href, row in known.items():
            if href not in removed and href not in changed:
                items[href] = item_from_json(row.payload)
        items.update(changed)
        windows, busy, bad = self._meaning(target, items, h)
        for entry in changes.quarantined:
            found = entry if isinstance(entry, Unreadable) else Unreadable(*entry)
            bad[found.href] = found
        # Quarantine entries end only when the server shows the item readable or gone.
        resolved = (set(items) | removed | set(changes.deleted)) - set(bad)
        strays: list[str] = []

        with rt.db.write() as s:
            if self.leases is not None:
                self.leases.check(s, target.calendar_id)
            self._store_items(s, target, changed, removed, known)
            blocked = self._store_quarantine(s, target, bad, resolved, changes.full, h, now)
            report.quarantined = len(bad)
            busy.extend(blocked)
            if target.kind == "caseworker":
                result = publish_caseworker(
                    s, rt.index, target.owner_id, windows, busy, horizon=h, zone=rt.zone,
                    closing_days=rt.closing_days,
                    strakstid_share=rt.config.publishing.strakstid_share, now=now,
                )  # fmt: skip
                report.published = result.published
                report.conflicts = result.new_conflicts
                self._read_back_caseworker(s, target, changed, removed, known, report, now)
            else:
                self._store_room_busy(s, target, busy, h)
                self._read_back_room(s, target, removed, known, now)
                s.flush()
                report.rooms_lost = readback.rooms_taken(s, rt.index, target.owner_id, now, rt.zone)
            if target.kind == "caseworker" or self.owns_room_events:
                mine = items if match_all else changed
                strays = self._match_owned(s, target, mine, now)
            self._save_state(s, target, changes.token, marker, now)
            crash_point("sync.before_commit", target.calendar_id)
        crash_point("sync.after_commit", target.calendar_id)
        if strays:
            # Our form, but a booking this store has never known. A crash cannot leave one (the
            # booking is committed before any calendar write), so the events come from another
            # store: a mistyped database path, a restored backup, a test install on production
            # calendars. Deleting them would take real bookings out of the calendars (and make
            # the right store read them as the caseworker's deletions), so they are left alone.
            log.warning(
                "events of bookings this store does not know; left untouched",
                calendar=target.calendar_id,
                count=len(strays),
                examples=sorted(strays)[:3],
            )
        with self._checked_lock:
            self._checked.add(target.calendar_id)
        return report

    def _match_owned(
        self, s: Any, target: Target, items: dict[str, CalendarItem], now: datetime
    ) -> list[str]:
        """Ownership decides, not records: each item carrying our external id is matched with
        the store. Where our record of it is missing (the process died between the calendar
        write and recording it) or says it is gone, the record is put right and the outbox asked
        to look again; the outbox then keeps it for a live booking in this calendar (updating
        it to the booking's time) and deletes anything else. Returns the external ids of items
        whose booking the store does not know (another store's: never deleted)."""
        role = target.kind
        owned: dict[str, CalendarItem] = {}
        for item in items.values():
            ext = our_id(item)
            if ext and booking_for_external_id(ext) and isinstance(item.start, datetime):
                owned[ext] = item
        if not owned:
            return []
        events = self._events_by_external_id(s, target.calendar_id, set(owned))
        strays: list[str] = []
        for ext, item in owned.items():
            event = events.get(ext)
            if event is not None and not event.deleted and event.role == role:
                continue  # known: the read-back follows what people do with it
            booking_id = booking_for_external_id(ext)
            assert booking_id is not None
            if s.get(BookingRow, booking_id) is None:
                strays.append(ext)
                continue
            if event is None:
                event = CalendarEventRow(
                    booking_id=booking_id,
                    calendar_id=target.calendar_id,
                    role=role,
                    external_id=ext,
                )
                s.add(event)
            end = item.end if isinstance(item.end, datetime) else item.start
            event.href = item.href
            event.etag = item.etag
            event.written_start, event.written_end = item.start, end
            event.written_hash = None  # unknown content: the outbox writes the booking's own
            event.deleted = False
            event.updated_at = now
            enqueue_calendar_sync(s, booking_id, "owned_item_found", now)
        return strays

    def republish(self, target: Target) -> None:
        """Recompute from the stored items without asking the server (the horizon moved)."""
        with self.rt.db.read() as s:
            marker = s.scalar(
                select(SyncStateRow.marker).where(SyncStateRow.calendar_id == target.calendar_id)
            )
            token = s.scalar(
                select(SyncStateRow.token).where(SyncStateRow.calendar_id == target.calendar_id)
            )
        if token is None:
            return
        self.apply(
            target, ChangeSet(changed=[], deleted=[], token=token), marker=marker, republish=True
        )

    def _meaning(
        self, target: Target, items: dict[str, CalendarItem], h: tuple[datetime, datetime]
    ) -> tuple[list[WindowOccurrence], list[Interval], dict[str, Unreadable]]:
        titles = {t.code: t.title for t in self.rt.index.directory.conversation_types}
        windows: list[WindowOccurrence] = []
        busy: list[Interval] = []
        bad: dict[str, Unreadable] = {}
        for href, item in items.items():
            try:
                meaning = interpret(item, target.owner_id, self.rules, titles, h, self.rt.zone)
            except (ItemParseError, ValueError, OverflowError) as exc:
                found = salvage_item(item)
                bad[href] = Unreadable(
                    href, redact_cpr(str(exc))[:1000], found.uid, found.summary, found.spans
                )
                continue
            if target.kind == "room":
                # In a room's calendar every foreign meeting occupies the room.
                busy.extend((w.start, w.end) for w in meaning.windows)
            else:
                windows.extend(meaning.windows)
            busy.extend(meaning.busy)
        return windows, busy, bad

    def _store_items(
        self,
        s: Any,
        target: Target,
        changed: dict[str, CalendarItem],
        removed: set[str],
        known: dict[str, CalendarItemRow],
    ) -> None:
        if removed:
            s.execute(
                delete(CalendarItemRow).where(
                    CalendarItemRow.calendar_id == target.calendar_id,
                    CalendarItemRow.href.in_(list(removed)),
                )
            )
        for href, item in changed.items():
            row = s.get(CalendarItemRow, (target.calendar_id, href))
            if row is None:
                row = CalendarItemRow(calendar_id=target.calendar_id, href=href)
                s.add(row)
            row.uid = item.uid[:500]
            row.etag = item.etag
            ours = our_id(item)
            row.kind = "own" if ours else "item"
            row.external_id = ours
            row.payload = item_to_json(item)

    def _store_quarantine(
        self,
        s: Any,
        target: Target,
        bad: dict[str, Unreadable],
        resolved: set[str],
        full: bool,
        h: tuple[datetime, datetime],
        now: datetime,
    ) -> list[Interval]:
        """Record what could not be read; drop entries only for items the server now shows
        readable or deleted (or, after a full listing, absent). Returns the time every entry
        still in quarantine may occupy in the horizon, which stays busy (invariant 9)."""
        existing = {
            q.href: q
            for q in s.scalars(
                select(QuarantineRow).where(QuarantineRow.calendar_id == target.calendar_id)
            )
        }
        for href, q in list(existing.items()):
            if href not in bad and (href in resolved or full):
                s.delete(q)
                del existing[href]
        for href, found in bad.items():
            q = existing.get(href)
            if q is None:
                q = QuarantineRow(calendar_id=target.calendar_id, href=href, first_seen=now)
                s.add(q)
                existing[href] = q
            q.reason, q.last_seen = found.reason, now
            q.uid, q.summary, q.spans = found.uid, found.summary, list(found.spans)
        blocked: list[Interval] = []
        for q in existing.values():
            blocked.extend(
                salvage_blocked(q.spans or [], h[0], h[1], zone=self.rt.zone)  # type: ignore[arg-type]
            )
        return blocked

    def _store_room_busy(
        self, s: Any, target: Target, busy: list[Interval], h: tuple[datetime, datetime]
    ) -> None:
        s.execute(
            delete(BusyRow).where(BusyRow.owner_kind == "room", BusyRow.owner_id == target.owner_id)
        )
        for start, end in busy:
            if end > h[0] and start < h[1]:
                s.add(BusyRow(owner_kind="room", owner_id=target.owner_id, start=start, end=end))

    def _events_by_external_id(
        self, s: Any, calendar_id: str, ids: set[str]
    ) -> dict[str, CalendarEventRow]:
        if not ids:
            return {}
        return {
            e.external_id: e
            for e in s.scalars(
                select(CalendarEventRow).where(
                    CalendarEventRow.calendar_id == calendar_id,
                    CalendarEventRow.external_id.in_(list(ids)),
                )
            )
        }

    def _read_back_caseworker(
        self,
        s: Any,
        target: Target,
        changed: dict[str, CalendarItem],
        removed: set[str],
        known: dict[str, CalendarItemRow],
        report: SyncReport,
        now: datetime,
    ) -> None:
        rt = self.rt
        own_changed = {our_id(i): i for i in changed.values() if our_id(i)}
        # Ours gone under one href but present under another (a backend's ids changed, e.g.
        # Graph ids after a move or a switch to immutable ids) is not deleted.
        own_removed = {known[h].external_id for h in removed if known[h].external_id} - set(
            own_changed
        )
        events = self._events_by_external_id(
            s, target.calendar_id, set(own_changed) | {x for x in own_removed if x}
        )
        pending = readback.writes_pending(s, {e.booking_id for e in events.values()})
        for ext, item in own_changed.items():
            event = events.get(ext)
            if event is None or event.deleted or not isinstance(item.start, datetime):
                continue
            booking = s.get(BookingRow, event.booking_id)
            if booking is None or booking.status != BookingStatus.CONFIRMED.value:
                continue
            start = item.start
            end = item.end if isinstance(item.end, datetime) else start
            if (start, end) != (event.written_start, event.written_end) and (booking.id in pending):
                # Our own write may be landing: never read it as her move. The outbox writes
                # the booking's time once more after the write in flight.
                event.written_hash = None
                enqueue_calendar_sync(s, booking.id, "readback_deferred", now)
            elif (start, end) != (event.written_start, event.written_end):
                readback.caseworker_moved(s, rt.index, booking, start, end, now, rt.zone)
                event.written_start, event.written_end = start, end
                report.moved.append(booking.id)
            declined = readback.room_declined(s, rt.index, booking, item.attendee_status)
            if declined is not None:
                why = self._decline_reason(booking, declined, now)
                audit(s, readback.ACTOR, "room.declined", now, booking_id=booking.id,
                      room_id=declined, reason=why)  # fmt: skip
                report.rooms_lost += readback.displace(
                    s, rt.index, [booking], now, rt.zone, reason=why,
                    refused={booking.id: declined},
                )  # fmt: skip
        for ext in own_removed:
            if not ext:
                continue
            event = events.get(ext)
            if event is None or event.deleted:
                continue
            if event.booking_id in pending:
                # Our own write may have removed it (a rebooking, a cancellation) and not be
                # recorded yet: outbox state decides, not timing. The outbox settles it, and
                # writes it again if the booking still wants it here.
                event.written_hash = None
                enqueue_calendar_sync(s, event.booking_id, "readback_deferred", now)
                continue
            booking = s.get(BookingRow, event.booking_id)
            event.deleted = True
            event.written_hash = None
            room = active_room(s, booking.id) if booking is not None else None
            if booking is not None and readback.caseworker_deleted(s, booking, now):
                report.cancelled.append(booking.id)
                if room is not None:  # like any cancellation: a waiting conversation may take it
                    self.rt.bookings.room_freed(s, room, booking.busy_start, booking.busy_end, now)

    def _decline_reason(self, booking: Any, room_id: str, now: datetime) -> str:
        room = self.rt.index.rooms.get(room_id)
        config = next((r for r in self.rt.config.rooms if r.id == room_id), None)
        window = config.booking_window_days if config is not None else None
        return readback.decline_reason(booking.start, now, window, room.name if room else room_id)

    def _read_back_room(
        self,
        s: Any,
        target: Target,
        removed: set[str],
        known: dict[str, CalendarItemRow],
        now: datetime,
    ) -> None:
        """Our room reservation was deleted in the room's calendar while the booking still holds
        the room: write it again (allocations are steered in the dashboard, not there)."""
        own_removed = {known[h].external_id for h in removed if known[h].external_id}
        events = self._events_by_external_id(s, target.calendar_id, {x for x in own_removed if x})
        for event in events.values():
            if event.deleted:
                continue
            event.deleted = True
            event.written_hash = None
            booking_id = booking_for_external_id(event.external_id)
            if booking_id:
                enqueue_calendar_sync(s, booking_id, "room_event_restored", now)

    def _save_state(
        self, s: Any, target: Target, token: str, marker: str | None, now: datetime
    ) -> None:
        state = s.get(SyncStateRow, target.calendar_id)
        if state is None:
            state = SyncStateRow(
                calendar_id=target.calendar_id, kind=target.kind, owner_id=target.owner_id
            )
            s.add(state)
        state.token = token
        if marker is not None:
            state.marker = marker
        state.last_sync_at = now
        state.last_success_at = now
        state.last_error = None
        state.failures = 0
        state.backoff_until = None
        state.force_full = False

"""What people do in Outlook, applied straight to the simulator's store (no EWS, no connector).

Implements the contract suite's ``Backdoor`` plus EWS-only actions: occurrence edits, odd
localised time zone names, booking a room through an invitation (first come, first served),
and invalidating sync states (e.g. after a mailbox move).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.sims.ews.recurrence import from_rrule
from tests.sims.ews.store import (
    CUSTOM_ZONE_ID,
    DISPLAY_NAMES,
    ZONE_TO_WINDOWS,
    Attendee,
    Item,
    Store,
)


class SimBackdoor:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the contract suite's Backdoor ------------------------------------------------------------
    def put_foreign_event(
        self,
        calendar_id: str,
        uid: str,
        summary: str,
        start: datetime,
        end: datetime,
        *,
        categories: tuple[str, ...] = (),
        transparent: bool = False,
        rrule: str | None = None,
        exdates: tuple[datetime, ...] = (),
        tz_name: str | None = None,
        all_day: bool = False,
        private: bool = False,
    ) -> None:
        """A person creates an appointment in Outlook (a delegate may write into a room directly)."""
        zone = _zone_of(start)
        tz_id = ZONE_TO_WINDOWS.get(zone.key, CUSTOM_ZONE_ID)
        display = tz_name or DISPLAY_NAMES.get(tz_id, zone.key)
        if tz_name is not None:
            tz_id = CUSTOM_ZONE_ID  # Exchange reports odd definitions as customised zones
        with self.store.lock:
            mbx = self.store.mailbox(calendar_id)
            item = Item(
                id=self.store.new_id(mbx.email),
                mailbox=mbx.email,
                uid=uid,
                subject=summary,
                start=_utc(start, zone),
                end=_utc(end, zone),
                zone=zone,
                tz_id=tz_id,
                tz_name=display,
                all_day=all_day,
                free_busy="Free" if transparent else "Busy",
                sensitivity="Private" if private else "Normal",
                categories=list(categories),
            )
            if rrule:
                item.recurrence = from_rrule(
                    rrule, start if start.tzinfo else start.replace(tzinfo=zone)
                )
                item.exdates = {_utc(x, zone) for x in exdates}
            self.store.insert(item)

    def move_event(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        with self.store.lock:
            item = self._item(calendar_id, uid)
            item.start, item.end = _utc(start, item.zone), _utc(end, item.zone)
            if item.is_meeting and item.organizer == item.mailbox:
                self.store.book_rooms(item, {a.email.lower() for a in item.attendees()})
            self.store.touch(item)

    def delete_event(self, calendar_id: str, uid: str) -> None:
        with self.store.lock:
            item = self._item(calendar_id, uid)
            if item.is_meeting and item.organizer == item.mailbox:
                self.store.cancel_rooms(item)
            self.store.remove(item)

    def list_events(self, calendar_id: str) -> list[dict]:
        with self.store.lock:
            items = list(self.store.mailbox(calendar_id).items.values())
            return [
                {
                    "uid": i.uid,
                    "summary": i.subject,
                    "start": i.start.astimezone(i.zone),
                    "end": i.end.astimezone(i.zone),
                    "location": i.location,
                    "private": i.sensitivity in ("Private", "Confidential"),
                    "categories": tuple(i.categories),
                    "description": i.body,
                    "transparent": i.free_busy == "Free",
                    "resources": {a.email: a.response for a in i.resources},
                    "organizer": i.organizer,
                    "id": i.id,
                }
                for i in sorted(items, key=lambda x: x.start)
            ]

    # -- EWS-only actions -----------------------------------------------------------------------
    def delete_occurrence(self, calendar_id: str, uid: str, original_start: datetime) -> None:
        with self.store.lock:
            item = self._item(calendar_id, uid)
            item.exdates.add(original_start.astimezone(UTC))
            self.store.touch(item)

    def move_occurrence(
        self, calendar_id: str, uid: str, original_start: datetime, start: datetime, end: datetime
    ) -> None:
        with self.store.lock:
            item = self._item(calendar_id, uid)
            item.overrides[original_start.astimezone(UTC)] = {
                "start": start.astimezone(UTC),
                "end": end.astimezone(UTC),
            }
            self.store.touch(item)

    def invite_room(
        self, organizer: str, room: str, uid: str, summary: str, start: datetime, end: datetime
    ) -> str:
        """A colleague books ``room`` by inviting it; returns the room's answer (Accept/Decline)."""
        zone = _zone_of(start)
        with self.store.lock:
            mbx = self.store.mailbox(organizer)
            item = Item(
                id=self.store.new_id(mbx.email),
                mailbox=mbx.email,
                uid=uid,
                subject=summary,
                start=_utc(start, zone),
                end=_utc(end, zone),
                zone=zone,
                tz_id=ZONE_TO_WINDOWS.get(zone.key, "UTC"),
                tz_name=DISPLAY_NAMES.get(ZONE_TO_WINDOWS.get(zone.key, "UTC"), zone.key),
                organizer=mbx.email,
                resources=[Attendee(room)],
            )
            self.store.book_rooms(item)
            self.store.insert(item)
            return item.resources[0].response

    def set_response(self, calendar_id: str, uid: str, room: str, response: str) -> None:
        """The room (or its delegate) answers differently later, e.g. declines after all."""
        with self.store.lock:
            item = self._item(calendar_id, uid)
            for att in item.attendees():
                if att.email.lower() == room.lower():
                    att.response = response
            self.store.touch(item)

    def room_declines(self, room: str, organizer: str, uid: str) -> None:
        """The room's delegate declines the meeting after all: the organizer's item records the
        decline and the meeting leaves the room's calendar."""
        with self.store.lock:
            self.set_response(organizer, uid, room, "Decline")
            self.store.cancel_rooms_for(self._item(organizer, uid), {room.lower()})

    def invalidate_sync_states(self, calendar_id: str) -> None:
        with self.store.lock:
            self.store.mailbox(calendar_id).epoch += 1

    def item(self, calendar_id: str, uid: str) -> Item:
        return self._item(calendar_id, uid)

    def _item(self, calendar_id: str, uid: str) -> Item:
        item = self.store.by_uid(calendar_id, uid)
        if item is None:
            raise KeyError(f"no item {uid!r} in {calendar_id}")
        return item


def _zone_of(value: datetime) -> ZoneInfo:
    if isinstance(value.tzinfo, ZoneInfo):
        return value.tzinfo
    return ZoneInfo("Europe/Copenhagen")


def _utc(value: datetime, zone: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def day_after(value: datetime) -> datetime:
    return value + timedelta(days=1)

"""A person's hands on each backend: what caseworkers, colleagues and room delegates do in
Outlook or a CalDAV client, applied straight to the server (never through the connector), and
what they see when they look at a calendar.

One small interface (``Hands``) over Radicale, the EWS simulator and the Graph simulator, so the
engine's end-to-end scenarios run unchanged on every backend (as vdirsyncer runs one suite
against every storage). Calendars are named by their calendar id (CalDAV collection URL, or
mailbox address on Exchange).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from tests.contract.backends.caldav import CalDAVBackdoor
from tests.sims.ews import EwsSimulator, SimBackdoor
from tests.sims.graph.harness import OutlookBackdoor
from tests.sims.graph.server import GraphSimulator
from tests.sims.graph.state import SimEvent
from tests.sims.rba import RoomPolicy

CPH = ZoneInfo("Europe/Copenhagen")
EWS_RESPONSES = {"Accept": "ACCEPTED", "Decline": "DECLINED", "Tentative": "TENTATIVE"}
GRAPH_RESPONSES = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentativelyaccepted": "TENTATIVE",
}


@dataclass(frozen=True)
class Event:
    """An event as a person sees it in a calendar."""

    uid: str
    summary: str
    start: datetime | date
    end: datetime | date
    location: str = ""
    private: bool = False
    ours: bool = False  # carries our external id, or is a room's copy of a meeting that does
    text: str = ""  # everything a person can read in it (the raw iCalendar on CalDAV)
    rooms: dict[str, str] = field(default_factory=dict)  # resource attendee -> its answer


class Hands(Protocol):
    def put(
        self,
        calendar_id: str,
        uid: str,
        summary: str,
        start: datetime | date,
        end: datetime | date,
        *,
        categories: tuple[str, ...] = (),
    ) -> None:
        """A person (or a room's delegate) writes an appointment straight into a calendar;
        ``date`` values make it an all-day item."""
        ...

    def move(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None: ...

    def delete(self, calendar_id: str, uid: str) -> None: ...

    def events(self, calendar_id: str) -> list[Event]: ...

    def close(self) -> None: ...


class ExchangeHands(Hands, Protocol):
    """What only Exchange has: rooms booked by invitation and answering it, and mailbox rights."""

    def put_series(
        self,
        calendar_id: str,
        uid: str,
        summary: str,
        start: datetime,
        end: datetime,
        *,
        weeks: int,
        categories: tuple[str, ...] = (),
    ) -> None:
        """A weekly series in Outlook, ``weeks`` occurrences from ``start``."""
        ...

    def delete_occurrence(self, calendar_id: str, uid: str, start: datetime) -> None:
        """Outlook deletes one occurrence of a series; the series stays."""
        ...

    def move_occurrence(
        self, calendar_id: str, uid: str, original_start: datetime, start: datetime, end: datetime
    ) -> None:
        """Outlook moves one occurrence of a series."""
        ...

    def room_policy(self, calendar_id: str, **policy: object) -> None:
        """Set-CalendarProcessing on a room mailbox (see ``tests.sims.rba.RoomPolicy``)."""
        ...

    def run_booking_assistants(self) -> int:
        """Rooms that answer later process their invitations now."""
        ...

    def invite_room(
        self, organizer: str, room: str, uid: str, summary: str, start: datetime, end: datetime
    ) -> str:
        """A colleague invites the room to her meeting; returns the room's answer."""
        ...

    def room_declines(self, room: str, organizer: str, uid: str) -> None:
        """The room's delegate declines the meeting ``uid`` of ``organizer`` after all."""
        ...

    def deny(self, calendar_id: str) -> None:
        """The service account loses its rights on this mailbox."""
        ...


def _midnight(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), CPH)


# -- CalDAV (Radicale) ----------------------------------------------------------------------------
class CalDAVHands:
    """A CalDAV client: plain PUT/DELETE with its own file names, REPORT to look."""

    def __init__(self) -> None:
        self.client = CalDAVBackdoor()

    def put(self, calendar_id, uid, summary, start, end, *, categories=()) -> None:  # type: ignore[no-untyped-def]
        self.client.put_foreign_event(calendar_id, uid, summary, start, end, categories=categories)

    def move(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        self.client.move_event(calendar_id, uid, start, end)

    def delete(self, calendar_id: str, uid: str) -> None:
        self.client.delete_event(calendar_id, uid)

    def events(self, calendar_id: str) -> list[Event]:
        out = []
        for _href, cal, _etag in self.client._all(calendar_id):
            for ev in cal.walk("VEVENT"):
                if ev.get("RECURRENCE-ID") is not None:
                    continue
                out.append(
                    Event(
                        uid=str(ev.get("UID")),
                        summary=str(ev.get("SUMMARY", "")),
                        start=ev.decoded("DTSTART"),
                        end=ev.decoded("DTEND"),
                        location=str(ev.get("LOCATION", "")),
                        private=str(ev.get("CLASS", "PUBLIC")).upper()
                        in ("PRIVATE", "CONFIDENTIAL"),
                        ours=ev.get("X-SELVBOOK-ID") is not None,
                        text=cal.to_ical().decode(),
                    )
                )
        return out

    def close(self) -> None:
        self.client.close()


# -- Exchange over EWS (simulator) ------------------------------------------------------------------
class EWSHands:
    """Outlook against the EWS simulator's store."""

    def __init__(self, sim: EwsSimulator) -> None:
        self.sim = sim
        self.outlook = SimBackdoor(sim.store)

    def put(self, calendar_id, uid, summary, start, end, *, categories=()) -> None:  # type: ignore[no-untyped-def]
        all_day = not isinstance(start, datetime)
        self.outlook.put_foreign_event(
            calendar_id, uid, summary, _midnight(start), _midnight(end),
            categories=categories, all_day=all_day,
        )  # fmt: skip

    def move(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        self.outlook.move_event(calendar_id, uid, start, end)

    def delete(self, calendar_id: str, uid: str) -> None:
        self.outlook.delete_event(calendar_id, uid)

    def events(self, calendar_id: str) -> list[Event]:
        store = self.sim.store
        with store.lock:
            items = sorted(store.mailbox(calendar_id).items.values(), key=lambda i: i.start)

            def marked(item) -> bool:  # type: ignore[no-untyped-def]
                return any(key[1] == "SelvbookId" for key in item.ext)

            def ours(item) -> bool:  # type: ignore[no-untyped-def]
                if marked(item):
                    return True
                if not item.organizer or item.organizer == item.mailbox:
                    return False
                original = store.by_uid(item.organizer, item.uid)
                return original is not None and marked(original)

            return [
                Event(
                    uid=i.uid,
                    summary=i.subject,
                    start=i.start.astimezone(i.zone),
                    end=i.end.astimezone(i.zone),
                    location=i.location,
                    private=i.sensitivity in ("Private", "Confidential"),
                    ours=ours(i),
                    text="\n".join((i.subject, i.location, i.body)),
                    rooms={
                        a.email.lower(): EWS_RESPONSES.get(a.response, "NEEDS-ACTION")
                        for a in i.resources
                    },
                )
                for i in items
            ]

    def put_series(self, calendar_id, uid, summary, start, end, *, weeks, categories=()) -> None:  # type: ignore[no-untyped-def]
        self.outlook.put_foreign_event(
            calendar_id, uid, summary, start, end,
            categories=categories, rrule=f"FREQ=WEEKLY;COUNT={weeks}",
        )  # fmt: skip

    def delete_occurrence(self, calendar_id: str, uid: str, start: datetime) -> None:
        self.outlook.delete_occurrence(calendar_id, uid, start)

    def move_occurrence(self, calendar_id, uid, original_start, start, end) -> None:  # type: ignore[no-untyped-def]
        self.outlook.move_occurrence(calendar_id, uid, original_start, start, end)

    def room_policy(self, calendar_id: str, **policy: object) -> None:
        with self.sim.store.lock:
            self.sim.store.mailbox(calendar_id).policy = RoomPolicy(**policy)  # type: ignore[arg-type]

    def run_booking_assistants(self) -> int:
        return self.sim.store.run_booking_assistants()

    def invite_room(self, organizer, room, uid, summary, start, end) -> str:  # type: ignore[no-untyped-def]
        return EWS_RESPONSES[self.outlook.invite_room(organizer, room, uid, summary, start, end)]

    def room_declines(self, room: str, organizer: str, uid: str) -> None:
        self.outlook.room_declines(room, organizer, uid)

    def deny(self, calendar_id: str) -> None:
        with self.sim.store.lock:
            self.sim.store.mailbox(calendar_id).access = "deny_impersonation"

    def close(self) -> None:
        pass


# -- Exchange Online over Graph (simulator) -------------------------------------------------------
class GraphHands:
    """Outlook against the Graph simulator's state."""

    def __init__(self, sim: GraphSimulator) -> None:
        self.sim = sim
        self.outlook = OutlookBackdoor(sim)

    def put(self, calendar_id, uid, summary, start, end, *, categories=()) -> None:  # type: ignore[no-untyped-def]
        if isinstance(start, datetime):
            self.outlook.put_foreign_event(
                calendar_id, uid, summary, start, end, categories=categories
            )
            return
        body = {
            "subject": summary,
            "isAllDay": True,
            "showAs": "oof",
            "categories": list(categories),
            "start": {
                "dateTime": f"{start.isoformat()}T00:00:00",
                "timeZone": "Romance Standard Time",
            },
            "end": {"dateTime": f"{end.isoformat()}T00:00:00", "timeZone": "Romance Standard Time"},
        }
        self.sim.state.create_event(calendar_id, body, ical_uid=uid)

    def move(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        self.outlook.move_event(calendar_id, uid, start, end)

    def delete(self, calendar_id: str, uid: str) -> None:
        self.outlook.delete_event(calendar_id, uid)

    def events(self, calendar_id: str) -> list[Event]:
        state = self.sim.state
        with state.lock:
            events = sorted(state.mailbox(calendar_id).events.values(), key=lambda e: e.start)

            def marked(event: SimEvent) -> bool:
                return any(key.endswith("name selvbookid") for key in event.extended)

            def ours(event: SimEvent) -> bool:
                if marked(event):
                    return True
                if event.is_organizer or event.organizer.lower() not in state.mailboxes:
                    return False
                return any(
                    e.ical_uid == event.ical_uid and marked(e)
                    for e in state.mailbox(event.organizer).events.values()
                )

            zone = CPH
            return [
                Event(
                    uid=e.ical_uid,
                    summary=e.subject,
                    start=e.start.astimezone(zone),
                    end=e.end.astimezone(zone),
                    location=e.location,
                    private=e.sensitivity == "private",
                    ours=ours(e),
                    text="\n".join((e.subject, e.location, e.body)),
                    rooms={
                        a["emailAddress"]["address"].lower(): GRAPH_RESPONSES.get(
                            a["status"]["response"], "NEEDS-ACTION"
                        )
                        for a in e.attendees
                        if a.get("type") == "resource"
                    },
                )
                for e in events
            ]

    def put_series(self, calendar_id, uid, summary, start, end, *, weeks, categories=()) -> None:  # type: ignore[no-untyped-def]
        self.outlook.put_foreign_event(
            calendar_id, uid, summary, start, end,
            categories=categories, rrule=f"FREQ=WEEKLY;COUNT={weeks}",
        )  # fmt: skip

    def delete_occurrence(self, calendar_id: str, uid: str, start: datetime) -> None:
        self.outlook.delete_occurrence(calendar_id, uid, start)

    def move_occurrence(self, calendar_id, uid, original_start, start, end) -> None:  # type: ignore[no-untyped-def]
        self.outlook.move_occurrence(calendar_id, uid, original_start, start, end)

    def room_policy(self, calendar_id: str, **policy: object) -> None:
        with self.sim.state.lock:
            self.sim.state.mailbox(calendar_id).policy = RoomPolicy(**policy)  # type: ignore[arg-type]

    def run_booking_assistants(self) -> int:
        return self.sim.state.run_booking_assistants()

    def invite_room(self, organizer, room, uid, summary, start, end) -> str:  # type: ignore[no-untyped-def]
        return GRAPH_RESPONSES[self.outlook.invite_room(organizer, room, uid, summary, start, end)]

    def room_declines(self, room: str, organizer: str, uid: str) -> None:
        self.outlook.room_declines(room, organizer, uid)

    def deny(self, calendar_id: str) -> None:
        with self.sim.state.lock:
            self.sim.state.mailbox(calendar_id).access = "none"

    def close(self) -> None:
        pass

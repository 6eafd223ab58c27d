"""Several backends at once: one ``Connector`` that hands each calendar to its own backend.

A municipality in the middle of a move has some mailboxes on Exchange Server (EWS) and others
already in Exchange Online (Graph), or one department on CalDAV. Each caseworker and room names
its backend in configuration; this router sends every call for a calendar to that backend and
splits the many-calendar calls (change markers, free/busy) by backend. Nothing here knows a
backend's details: it speaks only the ``Connector`` protocol.

Rooms are booked by invitation only when the organizer's mailbox and the room's are on the
same Exchange backend; otherwise the booking is written into the room's calendar as its own
event, which works across any two backends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from connectors.base import (
    BusyInterval,
    CalendarInfo,
    ChangeSet,
    Connector,
    EventDraft,
    ProbeResult,
    WriteResult,
)

EXCHANGE = ("ews", "graph")


class RoutingConnector:
    """Routes by calendar id (compared case-insensitively) to a named backend's connector;
    calendars not in ``routes`` go to ``default``."""

    def __init__(
        self, backends: Mapping[str, Connector], routes: Mapping[str, str], default: str
    ) -> None:
        if default not in backends:
            raise ValueError(f"default backend {default!r} is not among {sorted(backends)}")
        unknown = sorted(set(routes.values()) - set(backends))
        if unknown:
            raise ValueError(f"calendars routed to unknown backends: {unknown}")
        self.backends = dict(backends)
        self.routes = {k.strip().lower(): v for k, v in routes.items()}
        self.default = default
        self.name = "+".join(sorted({c.name for c in self.backends.values()}))

    def backend_of(self, calendar_id: str) -> str:
        return self.routes.get(calendar_id.strip().lower(), self.default)

    def connector_for(self, calendar_id: str) -> Connector:
        return self.backends[self.backend_of(calendar_id)]

    def _split(self, calendar_ids: Sequence[str]) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for calendar_id in calendar_ids:
            groups.setdefault(self.backend_of(calendar_id), []).append(calendar_id)
        return groups

    def invites_rooms(self, organizer_calendar: str, room_calendar: str) -> bool:
        """Whether a room is booked by inviting its mailbox (same Exchange backend only)."""
        backend = self.backend_of(organizer_calendar)
        return backend == self.backend_of(room_calendar) and self.backends[backend].name in EXCHANGE

    # -- the Connector protocol ----------------------------------------------------------------
    def list_calendars(self) -> list[CalendarInfo]:
        found: dict[str, CalendarInfo] = {}
        for name, connector in self.backends.items():
            for info in connector.list_calendars():
                key = info.calendar_id.strip().lower()
                if self.backend_of(info.calendar_id) == name:
                    found.setdefault(key, info)
        return list(found.values())

    def change_markers(self, calendar_ids: Sequence[str]) -> dict[str, str]:
        markers: dict[str, str] = {}
        for name, ids in self._split(calendar_ids).items():
            markers.update(self.backends[name].change_markers(ids))
        return markers

    def fetch_changes(
        self, calendar_id: str, token: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        return self.connector_for(calendar_id).fetch_changes(calendar_id, token, start, end)

    def upsert_event(self, calendar_id: str, draft: EventDraft) -> WriteResult:
        return self.connector_for(calendar_id).upsert_event(calendar_id, draft)

    def delete_event(self, calendar_id: str, external_id: str) -> bool:
        return self.connector_for(calendar_id).delete_event(calendar_id, external_id)

    def free_busy(
        self, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[BusyInterval]]:
        result: dict[str, list[BusyInterval]] = {}
        for name, ids in self._split(calendar_ids).items():
            result.update(self.backends[name].free_busy(ids, start, end))
        return result

    def probe(self, calendar_id: str) -> ProbeResult:
        return self.connector_for(calendar_id).probe(calendar_id)

    def close(self) -> None:
        for connector in self.backends.values():
            connector.close()

    @property
    def requests_made(self) -> int:
        return sum(int(getattr(c, "requests_made", 0) or 0) for c in self.backends.values())

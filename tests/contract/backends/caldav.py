"""The CalDAV backend of the contract suite: CalDAVConnector against a real Radicale.

Caseworkers and rooms live in separate calendar homes (as in a real municipality), configured
with their kinds. The backdoor is a person with a plain CalDAV client: it PUTs and DELETEs .ics
resources over HTTP with ETag preconditions, names files its own way (not after the UID, as
many clients do), and never goes through the connector.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from icalendar import Calendar, Event, vRecur

from connectors.caldav import CalDAVConnector
from tests.contract.harness import ContractEnv
from tests.support.radicale import shared_radicale

NAME = "caldav"

_DAV = "{DAV:}"
_CALDAV = "{urn:ietf:params:xml:ns:caldav}"
_ALL_EVENTS = b"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>
  </C:filter>
</C:calendar-query>"""


class CalDAVBackdoor:
    """Acts as a person's CalDAV client (Thunderbird, an iPhone): raw HTTP, own file names."""

    def __init__(self, user: str = "mette") -> None:
        self.http = httpx.Client(auth=(user, "x"), timeout=30.0)

    def close(self) -> None:
        self.http.close()

    # -- the protocol

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
    ) -> None:
        cal = Calendar()
        cal.add("PRODID", "-//Person's calendar app//EN")
        cal.add("VERSION", "2.0")
        event = Event()
        event.add("UID", uid)
        event.add("DTSTAMP", datetime.now(UTC))
        event.add("DTSTART", start)
        event.add("DTEND", end)
        event.add("SUMMARY", summary)
        if categories:
            event.add("CATEGORIES", list(categories))
        event.add("TRANSP", "TRANSPARENT" if transparent else "OPAQUE")
        if rrule:
            event.add("RRULE", _recur(rrule))
        for exdate in exdates:
            event.add("EXDATE", exdate.astimezone(start.tzinfo))
        cal.add_component(event)
        cal.add_missing_timezones()
        name = "person-" + hashlib.sha1(uid.encode()).hexdigest()[:16] + ".ics"
        self._put(calendar_id + name, cal, {"If-None-Match": "*"})

    def move_event(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        url, cal, etag = self._find(calendar_id, uid)
        for event in cal.walk("VEVENT"):
            old = event.decoded("DTSTART")
            zone = old.tzinfo if isinstance(old, datetime) and old.tzinfo else start.tzinfo
            for name, value in (("DTSTART", start), ("DTEND", end)):
                event.pop(name, None)
                event.add(name, value.astimezone(zone))
            event.pop("DURATION", None)
            sequence = int(event.get("SEQUENCE", 0)) + 1
            event.pop("SEQUENCE", None)
            event.add("SEQUENCE", sequence)
            break
        cal.add_missing_timezones()
        self._put(url, cal, {"If-Match": etag})

    def delete_event(self, calendar_id: str, uid: str) -> None:
        url, _cal, etag = self._find(calendar_id, uid)
        response = self.http.delete(url, headers={"If-Match": etag})
        response.raise_for_status()

    def list_events(self, calendar_id: str) -> list[dict]:
        events = []
        for href, cal, _etag in self._all(calendar_id):
            for event in cal.walk("VEVENT"):
                if event.get("RECURRENCE-ID") is not None:
                    continue
                events.append(
                    {
                        "uid": str(event.get("UID")),
                        "summary": str(event.get("SUMMARY", "")),
                        "start": event.decoded("DTSTART"),
                        "end": event.decoded("DTEND"),
                        "location": str(event.get("LOCATION", "")),
                        "private": str(event.get("CLASS", "PUBLIC")).upper()
                        in ("PRIVATE", "CONFIDENTIAL"),
                        "href": href,
                        "external_id": str(event["X-SELVBOOK-ID"])
                        if "X-SELVBOOK-ID" in event
                        else None,
                    }
                )
        return events

    # -- raw HTTP

    def _put(self, url: str, cal: Calendar, headers: dict[str, str]) -> None:
        response = self.http.put(
            url,
            content=cal.to_ical(),
            headers={"Content-Type": "text/calendar; charset=utf-8", **headers},
        )
        response.raise_for_status()

    def _all(self, calendar_id: str) -> list[tuple[str, Calendar, str]]:
        response = self.http.request(
            "REPORT",
            calendar_id,
            content=_ALL_EVENTS,
            headers={"Depth": "1", "Content-Type": "application/xml"},
        )
        response.raise_for_status()
        found = []
        for resp in ET.fromstring(response.content).iter(f"{_DAV}response"):
            href = resp.findtext(f"{_DAV}href") or ""
            data = resp.findtext(f".//{_CALDAV}calendar-data")
            etag = resp.findtext(f".//{_DAV}getetag")
            if data and etag:
                found.append((href, Calendar.from_ical(data), etag))
        return found

    def _find(self, calendar_id: str, uid: str) -> tuple[str, Calendar, str]:
        for href, cal, etag in self._all(calendar_id):
            if any(str(e.get("UID")) == uid for e in cal.walk("VEVENT")):
                return str(httpx.URL(calendar_id).join(href)), cal, etag
        raise LookupError(f"no event with UID {uid!r} in {calendar_id}")


def _recur(rrule: str) -> vRecur:
    return vRecur.from_ical(rrule.removeprefix("RRULE:"))


@contextlib.contextmanager
def backend(server: Any = None) -> Iterator[ContractEnv]:
    """Fresh homes ``/<uuid>-caseworkers/`` and ``/<uuid>-rooms/`` on the process-wide
    Radicale (or the given server, e.g. Xandikos), so no test waits for a server start."""
    server = server or shared_radicale()
    space = uuid.uuid4().hex[:12]
    caseworkers, rooms = f"{space}-caseworkers", f"{space}-rooms"
    mette = server.make_calendar(caseworkers, "mette", name="Mette Jensen")
    jonas = server.make_calendar(caseworkers, "jonas", name="Jonas Holm")
    room = server.make_calendar(rooms, "l2", name="Mødelokale L2")
    connector = CalDAVConnector(
        server.url,
        "syncd",
        "not-a-real-secret-" + uuid.uuid4().hex,
        calendar_homes={
            server.collection_url(caseworkers): "caseworker",
            server.collection_url(rooms): "room",
        },
        max_connections=4,
        timeout=20.0,
    )
    backdoor = CalDAVBackdoor()
    try:
        yield ContractEnv(
            connector=connector,
            caseworker_calendar=mette,
            room_calendar=room,
            second_caseworker_calendar=jonas,
            backdoor=backdoor,
        )
    finally:
        backdoor.close()
        connector.close()
        with server.client() as http:
            for home in (caseworkers, rooms):
                http.delete(server.collection_url(home))

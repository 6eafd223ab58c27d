"""A small jobcentre on a real Radicale: calendars for caseworkers and rooms, the daemon's
runtime and engine against it, and a person's hands (plain CalDAV PUT/DELETE) on the side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

import httpx
from icalendar import Calendar

from connectors.caldav import CalDAVConnector
from mappings.rules import default_rules
from syncd.config import parse_config
from syncd.engine.loop import Engine
from syncd.runtime import Runtime, open_runtime
from tests.support import jobcentre
from tests.support.radicale import RadicaleServer

CALDAV = "urn:ietf:params:xml:ns:caldav"
CASEWORKERS = ("mette", "lars", "pia")
ROOMS = ("L1", "L2", "L9")


def ics(uid: str, summary: str, start: datetime, end: datetime, *, extra: str = "") -> str:
    def fmt(d: datetime) -> str:
        return d.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//person//DA\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{fmt(start)}\r\nDTEND:{fmt(end)}\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@dataclass
class World:
    server: RadicaleServer
    rt: Runtime
    engine: Engine
    connector: CalDAVConnector

    def cal(self, kind: str, name: str) -> str:
        return f"{self.server.url}{kind}/{name}/"

    def put(self, kind: str, name: str, uid: str, text: str) -> None:
        self.server.put_ics(self.cal(kind, name) + f"{uid}.ics", text, user=kind)

    def delete(self, kind: str, name: str, filename: str) -> None:
        with self.server.client(kind) as http:
            http.delete(self.cal(kind, name) + filename).raise_for_status()

    def events(self, kind: str, name: str) -> list[dict]:
        """Every VEVENT in a calendar, as a person's client would see it."""
        body = (
            '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
            '<C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>'
        )
        with self.server.client(kind) as http:
            r = http.request(
                "REPORT", self.cal(kind, name), content=body.encode(), headers={"Depth": "1"}
            )
        r.raise_for_status()
        out = []
        root = ElementTree.fromstring(r.content)
        for response in root.iter("{DAV:}response"):
            href = response.findtext("{DAV:}href") or ""
            text = next((el.text for el in response.iter(f"{{{CALDAV}}}calendar-data")), None)
            if not text:
                continue
            ev = Calendar.from_ical(text).walk("VEVENT")[0]
            out.append(
                {
                    "href": href,
                    "raw": text,
                    "uid": str(ev.get("UID")),
                    "summary": str(ev.get("SUMMARY", "")),
                    "location": str(ev.get("LOCATION", "")),
                    "class": str(ev.get("CLASS", "")),
                    "start": ev.decoded("DTSTART"),
                    "end": ev.decoded("DTEND"),
                    "ours": ev.get("X-SELVBOOK-ID") is not None,
                }
            )
        return out

    def move_own_event(
        self, kind: str, name: str, uid: str, start: datetime, end: datetime
    ) -> None:
        """Drag our event in a client: same resource, new times, everything else kept."""
        event = next(e for e in self.events(kind, name) if e["uid"] == uid)
        cal = Calendar.from_ical(event["raw"])
        ev = cal.walk("VEVENT")[0]
        for prop in ("DTSTART", "DTEND"):
            del ev[prop]
        ev.add("dtstart", start)
        ev.add("dtend", end)
        url = self.server.url.rstrip("/") + event["href"]
        with self.server.client(kind) as http:
            http.put(
                url, content=cal.to_ical(), headers={"Content-Type": "text/calendar"}
            ).raise_for_status()

    def settle(self, rounds: int = 4) -> None:
        """Run sync cycles and the outbox until nothing is left to do."""
        for _ in range(rounds):
            self.engine.cycle()
            while self.engine.outbox.run_due():
                pass

    def restart(self) -> World:
        """A new process on the same store and calendars."""
        self.rt.db.dispose()
        return make_world(self.server, self.rt.config.database_url, self.rt.clock)


def make_world(server: RadicaleServer, database_url: str, clock, owner: str | None = None) -> World:
    for cw in CASEWORKERS:
        _ensure(server, "caseworkers", cw, "caseworker")
    for room in ROOMS:
        _ensure(server, "rooms", room, "room")
    base = jobcentre.config(database_url)
    data = base.model_dump(mode="json", exclude_none=True)
    data["backend"] = {
        "kind": "caldav",
        "url": server.url,
        "homes": {f"{server.url}caseworkers/": "caseworker", f"{server.url}rooms/": "room"},
    }
    data["sync"] = {
        "caseworker_calendar": server.url + "caseworkers/{id}/",
        "room_calendar": server.url + "rooms/{id}/",
        "workers": 4,
    }
    config = parse_config(data)
    rt = open_runtime(config, clock=clock)
    connector = CalDAVConnector(server.url, calendar_homes=dict(config.backend.homes))  # type: ignore[union-attr]
    engine = Engine(rt, connector, default_rules(), owner=owner)
    return World(server, rt, engine, connector)


def _ensure(server: RadicaleServer, home: str, name: str, kind: str) -> None:
    url = f"{server.url}{home}/{name}/"
    with httpx.Client(auth=(home, "x")) as http:
        if http.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 404:
            server.make_calendar(home, name, kind=kind, user=home)

"""A small jobcentre on a calendar backend: calendars for caseworkers mette/lars/pia and rooms
L1/L2/L9, the daemon's runtime and engine against them (on SQLite), and a person's hands.

``open_world(backend, ...)`` builds it over CalDAV (a real Radicale, or a real Xandikos as
"xandikos": the same connector on a second server), EWS (the local EWS
simulator) or Graph (the local Graph simulator). The connector is made by the daemon's own
factory from a configuration like an administrator's, so mailboxes and rooms come from the
directory exactly as in production. Tests speak of calendars by owner ("mette", "L2").

``make_world`` below is the older Radicale-only world that the replica, lease and privacy tests
use (raw iCalendar in, raw iCalendar out).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from xml.etree import ElementTree

import httpx
from icalendar import Calendar

from connectors.base import Connector
from connectors.caldav import CalDAVConnector
from mappings.rules import default_rules
from syncd.config import parse_config
from syncd.engine.factory import make_connector
from syncd.engine.loop import Engine
from syncd.runtime import Runtime, open_runtime
from tests.engine.hands import CalDAVHands, Event, EWSHands, ExchangeHands, GraphHands, Hands
from tests.sims.ews.harness import auth_settings as ews_auth
from tests.sims.ews.harness import simulator as ews_simulator
from tests.sims.graph.certs import app_certificate
from tests.sims.graph.server import GraphSimulator
from tests.support import jobcentre
from tests.support.radicale import RadicaleServer
from tests.support.xandikos import XandikosServer, shared_xandikos

CALDAV = "urn:ietf:params:xml:ns:caldav"
CASEWORKERS = ("mette", "lars", "pia")
ROOMS = ("L1", "L2", "L9")
BACKENDS = ("caldav", "xandikos", "ews", "graph")
CALDAV_SERVERS = ("caldav", "xandikos")  # Radicale and Xandikos: one CalDAV connector
EMAILS = {
    "mette": "mette.hansen@lilleby.dk",
    "lars": "lars.jensen@lilleby.dk",
    "pia": "pia.olsen@lilleby.dk",
    "L1": "moedelokale.l1@lilleby.dk",
    "L2": "moedelokale.l2@lilleby.dk",
    "L9": "moedelokale.l9@lilleby.dk",
}
ROOM_LIST = "lokaler.jobcenter@lilleby.dk"


@dataclass
class World:
    """The jobcentre on one backend. ``server`` is the Radicale or simulator behind it."""

    backend: str
    server: Any
    database_url: str
    clock: Any
    rt: Runtime
    engine: Engine
    connector: Connector
    hands: Hands
    calendars: dict[str, str]  # owner id -> calendar id
    room_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- where things are -------------------------------------------------------------------
    def calendar(self, name: str) -> str:
        return self.calendars[name]

    def email(self, name: str) -> str:
        return EMAILS[name]

    @property
    def rooms_by_invitation(self) -> bool:
        """Exchange books a room by inviting its mailbox; CalDAV gets a separate room event."""
        return self.backend in ("ews", "graph")

    @property
    def exchange(self) -> ExchangeHands:
        assert self.rooms_by_invitation, f"{self.backend} has no room mailboxes"
        return cast(ExchangeHands, self.hands)

    # -- a person's hands ---------------------------------------------------------------------
    def put(
        self,
        name: str,
        uid: str,
        summary: str,
        start: datetime | date,
        end: datetime | date,
        *,
        categories: tuple[str, ...] = (),
    ) -> None:
        self.hands.put(self.calendar(name), uid, summary, start, end, categories=categories)

    def move(self, name: str, uid: str, start: datetime, end: datetime) -> None:
        self.hands.move(self.calendar(name), uid, start, end)

    def delete(self, name: str, uid: str) -> None:
        self.hands.delete(self.calendar(name), uid)

    def events(self, name: str) -> list[Event]:
        return self.hands.events(self.calendar(name))

    def ours(self, name: str) -> list[Event]:
        return [e for e in self.events(name) if e.ours]

    def invite_room(
        self, organizer: str, room: str, uid: str, summary: str, start: datetime, end: datetime
    ) -> str:
        return self.exchange.invite_room(
            self.calendar(organizer), self.calendar(room), uid, summary, start, end
        )

    def room_declines(self, room: str, organizer: str, uid: str) -> None:
        self.exchange.room_declines(self.calendar(room), self.calendar(organizer), uid)

    def deny(self, name: str) -> None:
        self.exchange.deny(self.calendar(name))

    def server_requests(self) -> int:
        """Requests the calendar server has answered so far (from its own log)."""
        if self.backend == "ews":
            return len(self.server.requests())
        if self.backend == "graph":
            return len(self.server.http_requests())
        return int(self.connector.requests_made)  # type: ignore[attr-defined]

    # -- the daemon ---------------------------------------------------------------------------
    def settle(self, rounds: int = 4) -> None:
        """Run sync cycles and the outbox until nothing is left to do."""
        for _ in range(rounds):
            self.engine.cycle()
            self.write()

    def write(self) -> None:
        """The outbox, as it runs right after a booking is confirmed."""
        while self.engine.outbox.run_due():
            pass

    def restart(self, owner: str | None = None) -> None:
        """A new process on the same store and calendars (the old one is gone). ``owner``
        names the new process (its outbox leases); default: this test process's id."""
        self.close_daemon()
        fresh = _build(
            self.backend,
            self.server,
            self.database_url,
            self.clock,
            self.hands,
            self.room_settings,
            owner=owner,
        )
        self.rt, self.engine, self.connector = fresh.rt, fresh.engine, fresh.connector

    def close_daemon(self) -> None:
        self.connector.close()
        self.rt.db.dispose()


@contextmanager
def open_world(
    backend: str,
    tmp_path: Path,
    clock: Any,
    radicale: RadicaleServer | None = None,
    *,
    rooms: dict[str, dict[str, Any]] | None = None,
    database_url: str | None = None,
    owner: str | None = None,
) -> Iterator[World]:
    """The jobcentre on ``backend`` ("caldav" needs ``radicale``), closed afterwards; on SQLite
    in ``tmp_path`` unless ``database_url`` names another store. ``rooms`` adds settings to
    rooms' configuration (e.g. ``{"L9": {"booking_window_days": 7}}``). The simulators' room
    mailboxes live on the test's clock."""
    database_url = database_url or f"sqlite:///{tmp_path / 'syncd.db'}"
    if backend in CALDAV_SERVERS:
        if backend == "xandikos":  # one server per process, a fresh path per world
            radicale = shared_xandikos().within(uuid.uuid4().hex[:12])  # type: ignore[assignment]
        assert radicale is not None
        for cw in CASEWORKERS:
            _ensure(radicale, "caseworkers", cw, "caseworker")
        for room in ROOMS:
            _ensure(radicale, "rooms", room, "room")
        server: Any = radicale
        hands: Hands = CalDAVHands()
    elif backend == "ews":
        server = ews_simulator().start()
        for name in CASEWORKERS:
            server.store.add_mailbox(EMAILS[name], name.title())
        for room in ROOMS:
            server.store.add_mailbox(
                EMAILS[room], f"Mødelokale {room}", kind="room", room_list=ROOM_LIST
            )
        server.store.clock = clock
        hands = EWSHands(server)
    elif backend == "graph":
        server = GraphSimulator(certificate=app_certificate()).start()
        for name in CASEWORKERS:
            server.state.add_mailbox(EMAILS[name], name.title())
        for room in ROOMS:
            server.state.add_room(EMAILS[room], f"Mødelokale {room}", room_list=ROOM_LIST)
        server.state.clock = clock
        hands = GraphHands(server)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    world = _build(backend, server, database_url, clock, hands, rooms or {}, owner=owner)
    try:
        yield world
    finally:
        world.close_daemon()
        world.hands.close()
        if backend not in CALDAV_SERVERS:
            server.stop()


def backend_settings(backend: str, server: Any) -> dict[str, Any]:
    """The ``[backend]`` table an administrator would write for this server."""
    if backend in CALDAV_SERVERS:
        url = server.url
        return {
            "kind": "caldav",
            "url": url,
            "homes": {f"{url}caseworkers/": "caseworker", f"{url}rooms/": "room"},
        }
    if backend == "ews":
        return {
            "kind": "ews",
            "endpoint": server.endpoint,
            **ews_auth(server),
            "max_inline_backoff": 2.0,
        }
    cert = server.certificate
    return {
        "kind": "graph",
        "tenant_id": server.tenant,
        "client_id": server.client_id,
        "private_key_pem": cert.private_key_pem,
        "public_certificate_pem": cert.certificate_pem,
        "authority_host": server.authority_host,
        "graph_url": server.graph_url,
        "ca_bundle": server.ca_bundle,
        "max_retry_wait": 2.0,
        "timeout": 10.0,
    }


def config_data(
    backend: str, server: Any, database_url: str, rooms: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    data = jobcentre.config(database_url).model_dump(mode="json", exclude_none=True)
    for entry in data["caseworkers"] + data["rooms"]:
        entry["email"] = EMAILS[entry["id"]]
    for entry in data["rooms"]:
        entry.update((rooms or {}).get(entry["id"], {}))
    data["backend"] = backend_settings(backend, server)
    if backend in CALDAV_SERVERS:
        data["sync"] = {
            "caseworker_calendar": server.url + "caseworkers/{id}/",
            "room_calendar": server.url + "rooms/{id}/",
            "workers": 4,
        }
    else:
        data["sync"] = {"caseworker_calendar": "{email}", "room_calendar": "{email}", "workers": 4}
    return data


def _build(
    backend: str,
    server: Any,
    database_url: str,
    clock: Any,
    hands: Hands,
    rooms: dict[str, dict[str, Any]] | None = None,
    *,
    owner: str | None = None,
) -> World:
    config = parse_config(config_data(backend, server, database_url, rooms))
    rt = open_runtime(config, clock=clock)
    connector = make_connector(config, rt.index)
    assert connector is not None
    engine = Engine(rt, connector, default_rules(), owner=owner)
    calendars = {c.id: c.calendar_id for c in rt.index.directory.caseworkers if c.calendar_id}
    calendars.update({r.id: r.calendar_id for r in rt.index.directory.rooms if r.calendar_id})
    return World(
        backend, server, database_url, clock, rt, engine, connector, hands, calendars, rooms or {}
    )


# -- the Radicale-only world of the replica, lease and privacy tests -------------------------------
def ics(uid: str, summary: str, start: datetime, end: datetime, *, extra: str = "") -> str:
    def fmt(d: datetime) -> str:
        return d.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//person//DA\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{fmt(start)}\r\nDTEND:{fmt(end)}\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@dataclass
class RadicaleWorld:
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


def make_world(
    server: RadicaleServer, database_url: str, clock: Any, owner: str | None = None
) -> RadicaleWorld:
    for cw in CASEWORKERS:
        _ensure(server, "caseworkers", cw, "caseworker")
    for room in ROOMS:
        _ensure(server, "rooms", room, "room")
    config = parse_config(config_data("caldav", server, database_url))
    rt = open_runtime(config, clock=clock)
    connector = CalDAVConnector(server.url, calendar_homes=dict(config.backend.homes))  # type: ignore[union-attr]
    engine = Engine(rt, connector, default_rules(), owner=owner)
    return RadicaleWorld(server, rt, engine, connector)


def _ensure(server: RadicaleServer | XandikosServer, home: str, name: str, kind: str) -> None:
    url = f"{server.url}{home}/{name}/"
    if isinstance(server, XandikosServer):  # 207 for a missing path: it looks inside
        if not server.exists(url):
            server.make_calendar(home, name, user=home)
        return
    with httpx.Client(auth=(home, "x")) as http:
        if http.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 404:
            server.make_calendar(home, name, kind=kind, user=home)

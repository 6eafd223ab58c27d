"""Several backends at once, as in a municipality halfway through its move to Exchange Online:
Mette and rooms L1 and L9 are still on Exchange Server (EWS), Lars, Pia and room L2 are already in
Exchange Online (Graph). One daemon, one engine, one configuration: each caseworker and room
names its backend, and every calendar is served by its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import pytest

from connectors.routing import RoutingConnector
from mappings.rules import default_rules
from syncd.config import ConfigError, parse_config
from syncd.domain.model import Mode
from syncd.engine.factory import make_connector
from syncd.engine.loop import Engine
from syncd.runtime import open_runtime
from tests.connectors.test_graph_mailbox_move import move_mailbox
from tests.engine.hands import Event, EWSHands, GraphHands
from tests.engine.world import CASEWORKERS, EMAILS, ROOM_LIST, ROOMS, World, backend_settings
from tests.engine.world import config_data as single_backend_config
from tests.sims.ews.harness import simulator as ews_simulator
from tests.sims.graph.certs import app_certificate
from tests.sims.graph.server import GraphSimulator
from tests.store.test_bookings import offers
from tests.support.jobcentre import CPH, at

ONLINE = {"lars", "pia", "L2"}  # moved to Exchange Online already


class RoutedHands:
    """A person's hands on whichever server holds the calendar."""

    def __init__(self, onprem: EWSHands, online: GraphHands, online_calendars: set[str]):
        self.onprem, self.online, self.online_calendars = onprem, online, online_calendars

    def _on(self, calendar_id: str):  # type: ignore[no-untyped-def]
        return self.online if calendar_id in self.online_calendars else self.onprem

    def put(self, calendar_id, uid, summary, start, end, *, categories=()) -> None:  # type: ignore[no-untyped-def]
        self._on(calendar_id).put(calendar_id, uid, summary, start, end, categories=categories)

    def move(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        self._on(calendar_id).move(calendar_id, uid, start, end)

    def delete(self, calendar_id: str, uid: str) -> None:
        self._on(calendar_id).delete(calendar_id, uid)

    def events(self, calendar_id: str) -> list[Event]:
        return self._on(calendar_id).events(calendar_id)

    def close(self) -> None:
        pass


def hybrid_config(database_url: str, onprem, online) -> dict:  # type: ignore[no-untyped-def]
    data = single_backend_config("ews", onprem, database_url)
    data["backends"] = {"online": backend_settings("graph", online)}
    for entry in data["caseworkers"] + data["rooms"]:
        if entry["id"] in ONLINE:
            entry["backend"] = "online"
    return data


@contextmanager
def hybrid_world(tmp_path, clock) -> Iterator[World]:  # type: ignore[no-untyped-def]
    onprem = ews_simulator().start()
    online = GraphSimulator(certificate=app_certificate()).start()
    try:
        for name in (*CASEWORKERS, *ROOMS):
            room = name in ROOMS
            if name in ONLINE:
                if room:
                    online.state.add_room(EMAILS[name], f"Mødelokale {name}", room_list=ROOM_LIST)
                else:
                    online.state.add_mailbox(EMAILS[name], name.title())
            else:
                onprem.store.add_mailbox(
                    EMAILS[name],
                    f"Mødelokale {name}" if room else name.title(),
                    **({"kind": "room", "room_list": ROOM_LIST} if room else {}),
                )
        onprem.store.clock = online.state.clock = clock
        database_url = f"sqlite:///{tmp_path / 'syncd.db'}"
        config = parse_config(hybrid_config(database_url, onprem, online))
        rt = open_runtime(config, clock=clock)
        connector = make_connector(config, rt.index)
        assert isinstance(connector, RoutingConnector)
        engine = Engine(rt, connector, default_rules())
        calendars = {c.id: c.calendar_id for c in rt.index.directory.caseworkers}
        calendars.update({r.id: r.calendar_id for r in rt.index.directory.rooms})
        hands = RoutedHands(EWSHands(onprem), GraphHands(online), {EMAILS[n] for n in ONLINE})
        world = World("ews", onprem, database_url, clock, rt, engine, connector, hands, calendars)
        try:
            yield world
        finally:
            world.close_daemon()
    finally:
        onprem.stop()
        online.stop()


def book(rt, caseworker: str, day: date):  # type: ignore[no-untyped-def]
    found = [
        o
        for o in offers(
            rt, caseworker_id=caseworker, modes=(Mode.IN_PERSON,), type_code="jobsamtale"
        )
        if o.start.astimezone(CPH).date() == day
    ]
    return rt.bookings.confirm(rt.bookings.reserve(found[0].offer_id, f"ref-{caseworker}").id)


def test_one_daemon_serves_mailboxes_on_exchange_server_and_exchange_online(tmp_path, clock):
    with hybrid_world(tmp_path, clock) as world:
        assert world.connector.backend_of(world.calendar("mette")) == "default"
        assert world.connector.backend_of(world.calendar("lars")) == "online"
        world.put("mette", "w-mette", "Selvbook", at(0, 9), at(0, 12))  # on EWS
        world.put("lars", "w-lars", "Selvbook", at(0, 9), at(0, 12))  # on Graph
        world.put("lars", "busy", "Teammøde", at(0, 9), at(0, 10))
        for room in ("L1", "L9"):  # taken on Exchange Server: Mette's room will be online
            world.put(room, f"kursus-{room}", "Kursus", at(0, 8), at(0, 12))
        world.settle()
        days = {
            cw: sorted(
                {
                    o.start.astimezone(CPH).strftime("%H:%M")
                    for o in offers(world.rt, caseworker_id=cw)
                }
            )
            for cw in ("mette", "lars")
        }
        assert days["mette"][0] == "09:00" and days["lars"][0] == "10:00"
        bookings = [book(world.rt, cw, at(0, 9).date()) for cw in ("mette", "lars")]
        world.settle()
        for booking in bookings:
            booking = world.rt.bookings.get(booking.id)
            assert booking.status == "confirmed" and booking.room_id and booking.conflict is None
            [event] = world.ours(booking.caseworker_id)
            assert event.start == booking.start
            # The room holds the conversation: its copy of the invitation when it shares the
            # caseworker's backend, else our own event written into the room's calendar.
            assert booking.start in [e.start for e in world.ours(booking.room_id)]
            same = (booking.caseworker_id in ONLINE) == (booking.room_id in ONLINE)
            assert bool(event.rooms) == same
        rooms = {world.rt.bookings.get(b.id).room_id for b in bookings}
        assert rooms == {"L2"}  # one invited (Lars, online), one written directly (Mette)
        onprem_ops = {e.op for e in world.server.requests()}
        assert "SyncFolderItems" in onprem_ops


def test_a_caseworker_naming_an_unknown_backend_is_refused(tmp_path):
    with ews_simulator() as onprem, GraphSimulator(certificate=app_certificate()) as online:
        data = hybrid_config(f"sqlite:///{tmp_path / 'x.db'}", onprem, online)
    data["caseworkers"][0]["backend"] = "skyen"
    with pytest.raises((ConfigError, ValueError), match="unknown backend 'skyen'"):
        parse_config(data)


def test_syncd_check_names_each_calendars_backend(tmp_path, clock):
    from syncd.checks import check_calendars

    with hybrid_world(tmp_path, clock) as world:
        lines: list[str] = []
        assert check_calendars(world.rt.config, lines.append) == 0
        by_owner = {line.split()[1]: line for line in lines if line.startswith(("case", "room"))}
        assert "[online]" in by_owner["lars"] and "[online]" in by_owner["L2"]
        assert "[default]" in by_owner["mette"] and "[default]" in by_owner["L9"]


def test_a_mailbox_moved_to_exchange_online_keeps_its_bookings_events(tmp_path, clock):
    """Mette's mailbox moves from Exchange Server to Exchange Online (admin guide 4.6: set its
    backend and restart). The move keeps the events' named properties and GlobalObjectIds, so
    syncd finds its own events in the new home by its property: no second event, no NotOwned,
    and a cancellation deletes the moved event."""
    with hybrid_world(tmp_path, clock) as world:
        world.put("mette", "w-mette", "Selvbook", at(0, 9), at(0, 12))
        world.settle()
        booking = book(world.rt, "mette", at(0, 9).date())
        world.settle()
        [before] = world.ours("mette")
        assert before.start == booking.start

        # The move: every item of Mette's, as it is, into Exchange Online.
        onprem, online = world.server, world.hands.online.sim
        mailbox = world.calendar("mette")
        online.state.add_mailbox(mailbox, "Mette")
        for item in list(onprem.store.mailbox(mailbox).items.values()):
            move_mailbox(item, online.state, mailbox, plain_uid=False)
        onprem.store.mailbox(mailbox).items.clear()
        world.hands.online_calendars.add(mailbox)

        world.close_daemon()
        data = hybrid_config(world.database_url, onprem, online)
        for entry in data["caseworkers"]:
            if entry["id"] == "mette":
                entry["backend"] = "online"
        config = parse_config(data)
        world.rt = open_runtime(config, clock=clock)
        world.connector = make_connector(config, world.rt.index)
        world.engine = Engine(world.rt, world.connector, default_rules())
        world.settle()

        booking = world.rt.bookings.get(booking.id)
        assert booking.status == "confirmed" and booking.conflict is None
        [after] = world.ours("mette")  # found, not written twice
        assert after.start == booking.start
        assert len([e for e in world.events("mette") if e.summary == before.summary]) == 1

        world.rt.bookings.cancel(booking.id)
        world.settle()
        assert world.ours("mette") == []

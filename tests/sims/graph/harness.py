"""Wiring shared by the contract backend, the Graph connector tests and the benchmark.

Every backend's harness (``tests/sims/<backend>/harness.py``) has the same shape: ``simulator()``
(the server), ``populate(server)`` (two caseworkers and a room: ``CASEWORKER``,
``SECOND_CASEWORKER``, ``ROOM``), ``connector(server, **settings)`` and ``hands(server)``, a
person changing calendars the way Outlook (or a CalDAV client) would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.graph import GraphConnector, GraphSettings
from tests.sims.graph.certs import app_certificate
from tests.sims.graph.server import GraphSimulator
from tests.sims.graph.state import SimEvent, new_id

CASEWORKER = "mette.jensen@lilleby.dk"
SECOND_CASEWORKER = "jonas.holm@lilleby.dk"
ROOM = "lokale.l2@lilleby.dk"
ROOM_LIST = "lokaler.torvet@lilleby.dk"


def populate(sim: GraphSimulator) -> None:
    """Two caseworkers and one room in a room list, as in the small scenario."""
    sim.state.add_mailbox(CASEWORKER, "Mette Jensen")
    sim.state.add_mailbox(SECOND_CASEWORKER, "Jonas Holm")
    sim.state.add_room(
        ROOM, "Mødelokale L2", capacity=2, building="Torvet 1", floor=1, room_list=ROOM_LIST
    )


def simulator() -> GraphSimulator:
    return GraphSimulator(certificate=app_certificate())


def connector_for(sim: GraphSimulator, **overrides: Any) -> GraphConnector:
    """A connector that authenticates with the app certificate, against the simulator."""
    cert = sim.certificate or app_certificate()
    settings: dict[str, Any] = {
        "tenant_id": sim.tenant,
        "client_id": sim.client_id,
        "private_key_pem": cert.private_key_pem,
        "public_certificate_pem": cert.certificate_pem,  # SHA-256 (x5t#S256), as recommended
        "authority_host": sim.authority_host,
        "graph_url": sim.graph_url,
        "ca_bundle": sim.ca_bundle,
        "mailboxes": (CASEWORKER, SECOND_CASEWORKER),
        "max_retry_wait": 10.0,
        "timeout": 10.0,
    }
    settings.update(overrides)
    return GraphConnector(GraphSettings(**settings))


connector = connector_for  # the name every backend's harness uses


def hands(sim: GraphSimulator) -> OutlookBackdoor:
    """A person in Outlook, straight on the simulator's state (never through the connector)."""
    return OutlookBackdoor(sim)


def _dtz(moment: datetime) -> dict[str, str]:
    zone = moment.tzinfo
    name = zone.key if isinstance(zone, ZoneInfo) else "UTC"
    local = moment if isinstance(zone, ZoneInfo) else moment.astimezone(UTC)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": name}


class OutlookBackdoor:
    """Changes mailboxes the way a caseworker in Outlook (or a delegate writing straight into a
    room calendar) would, bypassing the connector."""

    def __init__(self, sim: GraphSimulator) -> None:
        self.sim = sim

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
        body = {
            "subject": summary,
            "start": _dtz(start),
            "end": _dtz(end),
            "categories": list(categories),
            "showAs": "free" if transparent else "busy",
        }
        self.sim.state.create_event(calendar_id, body, ical_uid=uid, rrule=rrule, exdates=exdates)

    def move_event(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        event = self.sim.state.find_uid(calendar_id, uid)
        self.sim.state.update_event(calendar_id, event.id, {"start": _dtz(start), "end": _dtz(end)})

    def delete_event(self, calendar_id: str, uid: str) -> None:
        event = self.sim.state.find_uid(calendar_id, uid)
        self.sim.state.delete_event(calendar_id, event.id)

    def delete_occurrence(self, calendar_id: str, uid: str, start: datetime) -> None:
        """Outlook deletes one occurrence of a series (the series stays)."""
        with self.sim.state.lock:
            series = self.sim.state.find_uid(calendar_id, uid)
            mailbox = self.sim.state.mailbox(calendar_id)
            lo = start.astimezone(UTC)
            [instance] = series.instances(lo, lo + timedelta(minutes=1))
        self.sim.state.delete_occurrence(mailbox.address, instance[0])

    def move_occurrence(
        self, calendar_id: str, uid: str, original_start: datetime, start: datetime, end: datetime
    ) -> None:
        """Outlook moves one occurrence of a series (it becomes an exception)."""
        with self.sim.state.lock:
            series = self.sim.state.find_uid(calendar_id, uid)
            lo = original_start.astimezone(UTC)
            [instance] = [i for i in series.instances(lo, lo + timedelta(minutes=1)) if i[4] == lo]
            address = self.sim.state.mailbox(calendar_id).address
        self.sim.state.move_occurrence(address, instance[0], start, end)

    def change_id(self, calendar_id: str, uid: str) -> None:
        """The event gets a new id, as Graph's default (mutable) ids do when an item moves to
        another folder and back; delta reports the old id removed and the new one new."""
        state = self.sim.state
        with state.lock:
            event = state.find_uid(calendar_id, uid)
            mailbox = state.mailbox(calendar_id)
            del mailbox.events[event.id]
            mailbox.tombstones[event.id] = mailbox.next_seq()
            event.id = new_id()
            event.bump(mailbox.next_seq())
            mailbox.events[event.id] = event

    def invite_room(
        self, organizer: str, room: str, uid: str, summary: str, start: datetime, end: datetime
    ) -> str:
        """A colleague invites ``room`` to her meeting; returns the room's answer."""
        body = {
            "subject": summary,
            "start": _dtz(start),
            "end": _dtz(end),
            "attendees": [{"type": "resource", "emailAddress": {"address": room}}],
        }
        event, _ = self.sim.state.create_event(organizer, body, ical_uid=uid)
        return str(event.attendees[0]["status"]["response"])

    def room_declines(self, room: str, organizer: str, uid: str) -> None:
        """The room's delegate declines the meeting after all."""
        self.sim.state.room_answers(room, organizer, uid, "declined")

    def list_events(self, calendar_id: str) -> list[dict]:
        with self.sim.state.lock:
            events = list(self.sim.state.mailbox(calendar_id).events.values())
        return [_listed(e) for e in sorted(events, key=lambda e: (e.start, e.id))]


def _listed(event: SimEvent) -> dict:
    return {
        "uid": event.ical_uid,
        "summary": event.subject,
        "start": event.start,
        "end": event.end,
        "location": event.location,
        "private": event.sensitivity == "private",
        "description": event.body,
        "categories": tuple(event.categories),
        "transparent": event.show_as == "free",
        "external_id": next(
            (v for pid, v in event.extended.values() if pid.lower().endswith("name selvbookid")),
            None,
        ),
        "attendees": {
            a["emailAddress"]["address"].lower(): a["status"]["response"] for a in event.attendees
        },
        "rrule": event.rrule,
        "id": event.id,
    }

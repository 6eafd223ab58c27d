"""CalDAV's harness, in the shape every backend's has (tests/sims/<backend>/harness.py):
``simulator()`` (here the real server: the process-wide Radicale), ``populate(server)``,
``connector(server, **settings)`` and ``hands(server)``, a person with a plain CalDAV client.

The person's client itself (``CalDAVBackdoor``) lives with the contract backend; this module
only gives it the common names, so a test can be written once for every backend."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from connectors.caldav import CalDAVConnector
from tests.contract.backends.caldav import CalDAVBackdoor
from tests.support.radicale import RadicaleServer, shared_radicale


@dataclass(frozen=True)
class Calendars:
    """Where ``populate`` put the two caseworkers and the room (fresh homes per call)."""

    caseworker_home: str
    room_home: str
    caseworker: str
    second_caseworker: str
    room: str


def simulator() -> RadicaleServer:
    return shared_radicale()


def populate(server: RadicaleServer) -> Calendars:
    space = uuid.uuid4().hex[:12]
    caseworkers, rooms = f"{space}-caseworkers", f"{space}-rooms"
    return Calendars(
        server.collection_url(caseworkers),
        server.collection_url(rooms),
        server.make_calendar(caseworkers, "mette", name="Mette Jensen"),
        server.make_calendar(caseworkers, "jonas", name="Jonas Holm"),
        server.make_calendar(rooms, "l2", name="Mødelokale L2"),
    )


def connector(server: RadicaleServer, calendars: Calendars, **settings: Any) -> CalDAVConnector:
    options: dict[str, Any] = {"max_connections": 4, "timeout": 20.0}
    options.update(settings)
    return CalDAVConnector(
        server.url,
        "syncd",
        "not-a-real-secret-" + uuid.uuid4().hex,
        calendar_homes={calendars.caseworker_home: "caseworker", calendars.room_home: "room"},
        **options,
    )


def hands(server: RadicaleServer) -> CalDAVBackdoor:
    """A person's CalDAV client on the server (never through the connector)."""
    return CalDAVBackdoor()

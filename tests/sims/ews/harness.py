"""Shared set-up for the EWS tests: a populated simulator, a connector pointed at it, and a
person's hands (Outlook on the simulator's store). Same shape as every backend's harness (see
tests/sims/graph/harness.py): ``simulator``, ``populate``, ``connector``, ``hands``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.ews import EWSConnector
from tests.sims.ews.backdoor import SimBackdoor
from tests.sims.ews.server import EwsSimulator

CPH = ZoneInfo("Europe/Copenhagen")
METTE = "mette.hansen@lilleby.dk"
JONAS = "jonas.berg@lilleby.dk"
LOCKED = "laast.postkasse@lilleby.dk"  # the service account may not impersonate it
READER = "kun.laese@lilleby.dk"  # read-only for the service account
ROOM_L2 = "moedelokale.l2@lilleby.dk"
ROOM_L5 = "moedelokale.l5@lilleby.dk"
ROOM_LIST = "lokaler.jobcenter@lilleby.dk"
CASEWORKER, SECOND_CASEWORKER, ROOM = METTE, JONAS, ROOM_L2  # the names every harness uses
WINDOW = (datetime(2027, 1, 1, tzinfo=CPH), datetime(2027, 12, 31, tzinfo=CPH))
# The service account as on-premises Exchange knows it: NTLM with DOMAIN\user.
SERVICE_USER = "LILLEBY\\svc-syncd"
SERVICE_PASSWORD = "Vinter-2026!"


def simulator() -> EwsSimulator:
    """An EWS simulator that authenticates like an on-premises Exchange: NTLM (and Basic)."""
    return EwsSimulator(auth="ntlm", users={SERVICE_USER: SERVICE_PASSWORD})


def auth_settings(sim: EwsSimulator) -> dict[str, object]:
    """The connector's login for this simulator: the service account when it asks for one."""
    if sim.auth.mode in ("ntlm", "basic") and SERVICE_USER in sim.auth.users:
        return {"auth": sim.auth.mode, "username": SERVICE_USER, "password": SERVICE_PASSWORD}
    return {"auth": "none"}


def populate(sim: EwsSimulator) -> SimBackdoor:
    add = sim.store.add_mailbox
    add(METTE, "Mette Hansen")
    add(JONAS, "Jonas Berg")
    add(LOCKED, "Låst Postkasse", access="deny_impersonation")
    add(READER, "Kun Læse", access="read")
    add(ROOM_L2, "Mødelokale L2", kind="room", room_list=ROOM_LIST)
    add(ROOM_L5, "Mødelokale L5", kind="room", room_list=ROOM_LIST)
    return SimBackdoor(sim.store)


def connector(sim: EwsSimulator, **options: object) -> EWSConnector:
    settings: dict[str, object] = {
        "endpoint": sim.endpoint,
        **auth_settings(sim),
        "mailboxes": [METTE, JONAS],
        "max_inline_backoff": 2.0,
    }
    settings.update(options)
    return EWSConnector(settings)


def hands(sim: EwsSimulator) -> SimBackdoor:
    """A person in Outlook, straight on the simulator's store (never through the connector)."""
    return SimBackdoor(sim.store)


@contextmanager
def running(**options: object) -> Iterator[tuple[EwsSimulator, SimBackdoor, EWSConnector]]:
    with simulator() as sim:
        backdoor = populate(sim)
        conn = connector(sim, **options)
        try:
            yield sim, backdoor, conn
        finally:
            conn.close()


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)

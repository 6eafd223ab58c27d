"""The connector contract suite against the EWS connector and the local EWS simulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from connectors.ews import EWSConnector
from tests.contract.harness import ContractEnv
from tests.sims.ews import EwsSimulator, SimBackdoor
from tests.sims.ews.harness import auth_settings, simulator

NAME = "ews"
CASEWORKER = "mette.hansen@lilleby.dk"
SECOND_CASEWORKER = "jonas.berg@lilleby.dk"
ROOM = "moedelokale.l2@lilleby.dk"
ROOM_LIST = "lokaler.jobcenter@lilleby.dk"


def populate(sim: EwsSimulator) -> None:
    """A tiny organisation: two caseworkers and one room in a room list."""
    sim.store.add_mailbox(CASEWORKER, "Mette Hansen")
    sim.store.add_mailbox(SECOND_CASEWORKER, "Jonas Berg")
    sim.store.add_mailbox(ROOM, "Mødelokale L2", kind="room", room_list=ROOM_LIST)


def connector_for(sim: EwsSimulator, **options: object) -> EWSConnector:
    settings: dict[str, object] = {
        "endpoint": sim.endpoint,
        **auth_settings(sim),
        "mailboxes": [CASEWORKER, SECOND_CASEWORKER],
        "max_inline_backoff": 2.0,
    }
    settings.update(options)
    return EWSConnector(settings)


@contextmanager
def backend() -> Iterator[ContractEnv]:
    with simulator() as sim:
        populate(sim)
        connector = connector_for(sim)
        try:
            yield ContractEnv(
                connector=connector,
                caseworker_calendar=CASEWORKER,
                room_calendar=ROOM,
                second_caseworker_calendar=SECOND_CASEWORKER,
                backdoor=SimBackdoor(sim.store),
                markers_supported=False,
            )
        finally:
            connector.close()

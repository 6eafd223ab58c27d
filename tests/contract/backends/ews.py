"""The connector contract suite against the EWS connector and the local EWS simulator (NTLM)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.contract.harness import ContractEnv
from tests.sims.ews import EwsSimulator
from tests.sims.ews.harness import (
    CASEWORKER,
    ROOM,
    ROOM_LIST,
    SECOND_CASEWORKER,
    connector,
    hands,
    simulator,
)

NAME = "ews"


def populate(sim: EwsSimulator) -> None:
    """A tiny organisation: two caseworkers and one room in a room list."""
    sim.store.add_mailbox(CASEWORKER, "Mette Hansen")
    sim.store.add_mailbox(SECOND_CASEWORKER, "Jonas Berg")
    sim.store.add_mailbox(ROOM, "Mødelokale L2", kind="room", room_list=ROOM_LIST)


@contextmanager
def backend() -> Iterator[ContractEnv]:
    with simulator() as sim:
        populate(sim)
        ews = connector(sim)
        try:
            yield ContractEnv(
                connector=ews,
                caseworker_calendar=CASEWORKER,
                room_calendar=ROOM,
                second_caseworker_calendar=SECOND_CASEWORKER,
                backdoor=hands(sim),
                markers_supported=False,
            )
        finally:
            ews.close()

"""The connector contract suite against the Graph connector and the local Graph simulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.contract.harness import ContractEnv
from tests.sims.graph.harness import (
    CASEWORKER,
    ROOM,
    SECOND_CASEWORKER,
    OutlookBackdoor,
    connector_for,
    populate,
    simulator,
)

NAME = "graph"


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
                backdoor=OutlookBackdoor(sim),
            )
        finally:
            connector.close()

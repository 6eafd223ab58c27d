"""The connector contract suite against the Graph connector and the local Graph simulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.contract.harness import ContractEnv
from tests.sims.graph.harness import (
    CASEWORKER,
    ROOM,
    SECOND_CASEWORKER,
    connector,
    hands,
    populate,
    simulator,
)

NAME = "graph"


@contextmanager
def backend() -> Iterator[ContractEnv]:
    with simulator() as sim:
        populate(sim)
        graph = connector(sim)
        try:
            yield ContractEnv(
                connector=graph,
                caseworker_calendar=CASEWORKER,
                room_calendar=ROOM,
                second_caseworker_calendar=SECOND_CASEWORKER,
                backdoor=hands(sim),
            )
        finally:
            graph.close()

"""A local, stateful Exchange Web Services simulator for tests (SOAP over HTTP on loopback).

Usage::

    with EwsSimulator() as sim:
        sim.store.add_mailbox("mette@kommune.dk")
        sim.store.add_mailbox("l2@kommune.dk", kind="room", room_list="lokaler@kommune.dk")
        ... EWSConnector(endpoint=sim.endpoint, auth="none") ...
        SimBackdoor(sim.store).put_foreign_event(...)
"""

from tests.sims.ews.backdoor import SimBackdoor
from tests.sims.ews.server import EwsSimulator

__all__ = ["EwsSimulator", "SimBackdoor"]

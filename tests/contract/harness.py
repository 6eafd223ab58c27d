"""What a backend brings to the connector contract suite.

Each module in ``tests/contract/backends/`` defines ``NAME`` and a context manager
``backend()`` that yields a ``ContractEnv``: a connector under test, a caseworker calendar and a
room calendar on a real (or simulated) server, and a ``Backdoor`` that acts as a person would
(writes in Outlook or a CalDAV client), bypassing the connector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from connectors.base import Connector


class Backdoor(Protocol):
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
        """Create an event as a person would (no external id of ours). ``exdates`` are
        occurrence starts of the ``rrule`` series that the person removed."""
        ...

    def move_event(self, calendar_id: str, uid: str, start: datetime, end: datetime) -> None:
        """Move an existing event (ours or not) as a person would."""
        ...

    def delete_event(self, calendar_id: str, uid: str) -> None:
        """Delete an existing event as a person would."""
        ...

    def list_events(self, calendar_id: str) -> list[dict]:
        """Every event as stored: dicts with uid, summary, start, end, location, private."""
        ...


@dataclass
class ContractEnv:
    connector: Connector
    caseworker_calendar: str
    room_calendar: str
    second_caseworker_calendar: str
    backdoor: Backdoor
    # False for a backend with no cheap change marker at all (change_markers() returns {}).
    markers_supported: bool = True

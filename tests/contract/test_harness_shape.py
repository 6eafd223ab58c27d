"""Every backend's test harness has the same shape (tests/sims/<backend>/harness.py): the
server, ``populate``, ``connector`` and a person's ``hands``, so a test is written once."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

CPH = ZoneInfo("Europe/Copenhagen")


@pytest.mark.parametrize("backend", ["caldav", "ews", "graph"])
def test_each_harness_offers_the_same_four_things(backend: str) -> None:
    harness = importlib.import_module(f"tests.sims.{backend}.harness")
    for name in ("simulator", "populate", "connector", "hands"):
        assert callable(getattr(harness, name, None)), f"{backend} harness lacks {name}()"


def test_the_caldav_harness_works_end_to_end() -> None:
    from tests.sims.caldav.harness import connector, hands, populate, simulator

    server = simulator()
    calendars = populate(server)
    person = hands(server)
    caldav = connector(server, calendars)
    try:
        start = datetime(2027, 3, 2, 9, tzinfo=CPH)
        person.put_foreign_event(
            calendars.caseworker, "w1", "Selvbook", start, start + timedelta(hours=3)
        )
        changes = caldav.fetch_changes(
            calendars.caseworker, None, start - timedelta(days=1), start + timedelta(days=1)
        )
        assert [i.uid for i in changes.changed] == ["w1"]
    finally:
        caldav.close()
        person.close()

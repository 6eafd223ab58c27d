"""An Outlook copy of our event (Ctrl+drag to next week, "Copy: ...") is the caseworker's own.

Outlook's copy is a new item with a new UID / iCalUId that keeps the item's named MAPI
properties, our ``SelvbookId`` (and, on Graph, the iCalUId stamp) included. The daemon never
edits or deletes an item it did not create: ours = our property AND the UID we gave it. The copy
reads as someone's busy time, and our later writes and deletes leave it alone."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import EventDraft
from tests.sims.ews.harness import METTE, running
from tests.sims.graph.harness import CASEWORKER, OutlookBackdoor, connector_for, populate, simulator

CPH = ZoneInfo("Europe/Copenhagen")
DAY = datetime(2027, 3, 2, tzinfo=CPH)
WINDOW = (DAY - timedelta(days=7), DAY + timedelta(days=60))
EXT = "selvbook-bkcopy"
WEEK = timedelta(days=7)


def draft(hour: int) -> EventDraft:
    start = DAY.replace(hour=hour)
    return EventDraft(EXT, "Jobsamtale", start, start + timedelta(hours=1))


@pytest.mark.parametrize("kept", ["all", "selvbook-id"])
def test_graph_leaves_an_outlook_copy_of_our_event_alone(kept: str) -> None:
    """``kept``: the copy keeps all our named properties (the stamp too), or only SelvbookId."""
    with simulator() as sim:
        populate(sim)
        graph = connector_for(sim)
        try:
            graph.upsert_event(CASEWORKER, draft(10))
            with sim.state.lock:
                [ours] = sim.state.mailbox(CASEWORKER).events.values()
                props = [{"id": pid, "value": v} for pid, v in ours.extended.values()]
            assert len(props) == 2  # SelvbookId and the iCalUId stamp
            if kept != "all":
                props = [p for p in props if p["id"].endswith("SelvbookId")]
            copy, _ = sim.state.create_event(
                CASEWORKER,
                {
                    "subject": "Copy: Jobsamtale",
                    "start": {"dateTime": "2027-03-09T10:00:00", "timeZone": "Europe/Copenhagen"},
                    "end": {"dateTime": "2027-03-09T11:00:00", "timeZone": "Europe/Copenhagen"},
                    "body": {"contentType": "text", "content": "opfølgning"},
                    "singleValueExtendedProperties": props,
                },
            )
            read = {c.href: c for c in graph.fetch_changes(CASEWORKER, None, *WINDOW).changed}
            assert read[ours.id].external_id == EXT
            assert read[copy.id].external_id is None  # foreign busy time
            assert not read[copy.id].transparent

            graph.upsert_event(CASEWORKER, draft(12))  # our next write of the booking
            events = {e["id"]: e for e in OutlookBackdoor(sim).list_events(CASEWORKER)}
            assert events[copy.id]["summary"] == "Copy: Jobsamtale"
            assert events[copy.id]["start"] == DAY.replace(hour=10) + WEEK
            assert events[ours.id]["start"] == DAY.replace(hour=12)

            assert graph.delete_event(CASEWORKER, EXT)
            assert [e["id"] for e in OutlookBackdoor(sim).list_events(CASEWORKER)] == [copy.id]
            # The booking is written again: a new event of ours, the copy still untouched.
            assert graph.upsert_event(CASEWORKER, draft(9)).created
            events = OutlookBackdoor(sim).list_events(CASEWORKER)
            assert len(events) == 2 and copy.id in [e["id"] for e in events]
        finally:
            graph.close()


def test_ews_leaves_an_outlook_copy_of_our_event_alone() -> None:
    with running() as (sim, backdoor, ews):
        ews.upsert_event(METTE, draft(10))
        [ours] = sim.store.mailbox(METTE).items.values()
        copy = replace(
            ours,
            id=sim.store.new_id(METTE),
            uid="040000008200E00074C5B7101A82E008" + os.urandom(16).hex().upper(),
            subject="Copy: Jobsamtale",
            start=ours.start + WEEK,
            end=ours.end + WEEK,
            ext=dict(ours.ext),
        )
        sim.store.insert(copy)
        read = {c.href: c for c in ews.fetch_changes(METTE, None, *WINDOW).changed}
        assert read[ours.id].external_id == EXT
        assert read[copy.id].external_id is None

        ews.upsert_event(METTE, draft(12))
        events = {e["id"]: e for e in backdoor.list_events(METTE)}
        assert events[copy.id]["summary"] == "Copy: Jobsamtale"
        assert events[copy.id]["start"] == DAY.replace(hour=10) + WEEK
        assert events[ours.id]["start"] == DAY.replace(hour=12)

        assert ews.delete_event(METTE, EXT)
        assert [e["id"] for e in backdoor.list_events(METTE)] == [copy.id]
        assert ews.upsert_event(METTE, draft(9)).created
        assert len(backdoor.list_events(METTE)) == 2

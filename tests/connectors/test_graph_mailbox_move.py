"""A mailbox moved from Exchange Server (EWS) to Exchange Online (Graph) keeps our events ours.

A mailbox move keeps an item's named MAPI properties and its GlobalObjectId, so the events the
EWS connector wrote arrive in Exchange Online carrying the EWS connector's ``SelvbookId``
(property set + name), with the iCalUId Graph derives from the UID we gave them. The Graph
connector must use the same property set, find its events there, update and delete them in
place, and never make a second one."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import EventDraft
from connectors.graph_items import property_id
from tests.sims.ews.harness import METTE
from tests.sims.ews.harness import connector as ews_connector
from tests.sims.ews.harness import populate as ews_populate
from tests.sims.ews.harness import simulator as ews_simulator
from tests.sims.ews.store import Item, clean_global_object_id
from tests.sims.graph.harness import OutlookBackdoor, connector_for, simulator
from tests.sims.graph.state import GraphState

CPH = ZoneInfo("Europe/Copenhagen")
DAY = datetime(2027, 3, 2, tzinfo=CPH)
WINDOW = (DAY - timedelta(days=7), DAY + timedelta(days=60))
LEGACY_GRAPH_GUID = "5f3d2a41-8b6c-4e7a-9d1f-3c2b1a0e9f87"  # what Graph wrote before unifying


def draft(external_id: str, hour: int) -> EventDraft:
    start = DAY.replace(hour=hour)
    return EventDraft(
        external_id,
        "Jobsamtale (Selvbook)",
        start,
        start + timedelta(minutes=45),
        categories=("Selvbook-booking",),
    )


def move_mailbox(item: Item, state: GraphState, mailbox: str, *, plain_uid: bool) -> None:
    """What a mailbox move does to one EWS item: the same item in Exchange Online, its named
    properties kept ("String {set} Name name" in Graph's notation) and its GlobalObjectId kept,
    which Graph shows as the GOID's hex (or, for some clients, the UID itself)."""
    props = [
        {"id": f"String {{{pset}}} Name {name}", "value": value}
        for (pset, name, kind), value in item.ext.items()
        if kind == "String" and len(pset) == 36
    ]
    body = {
        "subject": item.subject,
        "start": {"dateTime": item.start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": item.end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "categories": list(item.categories),
        "showAs": "busy",
        "singleValueExtendedProperties": props,
    }
    uid = item.uid if plain_uid else clean_global_object_id(item.uid).hex().upper()
    state.create_event(mailbox, body, ical_uid=uid)


@pytest.mark.parametrize("plain_uid", [False, True], ids=["goid-hex", "plain-uid"])
def test_events_written_over_ews_stay_ours_after_the_mailbox_moves_to_graph(plain_uid) -> None:
    with ews_simulator() as onprem, simulator() as online:
        ews_populate(onprem)
        ews = ews_connector(onprem)
        try:
            ews.upsert_event(METTE, draft("selvbook-bkmove1", 10))
            ews.upsert_event(METTE, draft("selvbook-bkmove2", 13))
        finally:
            ews.close()
        online.state.add_mailbox(METTE, "Mette Hansen")
        for item in list(onprem.store.mailbox(METTE).items.values()):
            move_mailbox(item, online.state, METTE, plain_uid=plain_uid)

        graph = connector_for(online, mailboxes=(METTE,))
        try:
            changes = graph.fetch_changes(METTE, None, *WINDOW)
            assert sorted(c.external_id or "" for c in changes.changed) == [
                "selvbook-bkmove1",
                "selvbook-bkmove2",
            ]
            moved = draft("selvbook-bkmove1", 11)  # rescheduled after the move
            result = graph.upsert_event(METTE, moved)
            assert not result.created
            assert graph.delete_event(METTE, "selvbook-bkmove2")
            events = OutlookBackdoor(online).list_events(METTE)
            assert [(e["external_id"], e["start"]) for e in events] == [
                ("selvbook-bkmove1", moved.start)
            ]
        finally:
            graph.close()


def test_events_graph_wrote_with_its_former_property_set_are_still_ours() -> None:
    with simulator() as online:
        online.state.add_mailbox(METTE, "Mette Hansen")
        old = draft("selvbook-bkold", 10)
        online.state.create_event(
            METTE,
            {
                "subject": old.summary,
                "start": {"dateTime": "2027-03-02T10:00:00", "timeZone": "Europe/Copenhagen"},
                "end": {"dateTime": "2027-03-02T10:45:00", "timeZone": "Europe/Copenhagen"},
                "categories": list(old.categories),
                "transactionId": "selvbook-bkold.0123456789ab",
                "singleValueExtendedProperties": [
                    {"id": property_id(LEGACY_GRAPH_GUID), "value": old.external_id}
                ],
            },
        )
        graph = connector_for(online, mailboxes=(METTE,))
        try:
            [item] = graph.fetch_changes(METTE, None, *WINDOW).changed
            assert item.external_id == "selvbook-bkold"
            assert not graph.upsert_event(METTE, draft("selvbook-bkold", 12)).created
            [event] = OutlookBackdoor(online).list_events(METTE)
            assert event["start"] == DAY.replace(hour=12)
            # New events carry the property set the EWS connector uses.
            graph.upsert_event(METTE, draft("selvbook-bknew", 14))
            with online.state.lock:
                props = [
                    prop
                    for e in online.state.mailbox(METTE).events.values()
                    for prop in e.extended.values()
                    if prop[1] == "selvbook-bknew"
                ]
            assert [p.split()[1].lower() for p, _ in props] == [
                "{6f3b0f52-4c1e-4b8e-9d5a-2f1c7e9a0b11}"
            ]
        finally:
            graph.close()

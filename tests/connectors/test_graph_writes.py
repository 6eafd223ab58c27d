"""Graph writes: an uncertain create is confirmed by our extended property before it is sent
again, our events are found by that property, rooms are invited as resources and accept or decline first come, first served."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import ConnectorError, EventDraft
from connectors.graph import GraphConnector
from tests.sims.graph.harness import (
    CASEWORKER,
    ROOM,
    SECOND_CASEWORKER,
    OutlookBackdoor,
    connector_for,
    populate,
    simulator,
)
from tests.sims.graph.server import GraphSimulator

CPH = ZoneInfo("Europe/Copenhagen")
DAY = datetime(2027, 3, 2, tzinfo=CPH)
WINDOW = (DAY - timedelta(days=7), DAY + timedelta(days=60))


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute) + timedelta(days=days)


def booking(external_id: str, start: datetime, *, rooms: tuple[str, ...] = ()) -> EventDraft:
    return EventDraft(
        external_id=external_id,
        summary="Jobsamtale (selvbooket) - fremmøde",
        start=start,
        end=start + timedelta(minutes=30),
        location="Mødelokale L2, Jobcenter Lilleby",
        description="Bookingreference SB-7QK2",
        resources=rooms,
    )


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with simulator() as running:
        populate(running)
        yield running


@pytest.fixture
def graph(sim: GraphSimulator) -> Iterator[GraphConnector]:
    connector = connector_for(sim)
    yield connector
    connector.close()


def posts(sim: GraphSimulator) -> list:
    return [e for e in sim.http_requests() if e.method == "POST" and e.path.endswith("/events")]


def lookups(sim: GraphSimulator) -> list:
    return [e for e in sim.http_requests() if e.method == "GET" and "singleValue" in e.query]


def test_a_create_whose_answer_was_lost_is_confirmed_by_our_property(sim, graph):
    sim.drop_response("POST", "/events")  # the event is made, the answer never arrives
    result = graph.upsert_event(CASEWORKER, booking("bk-1", at(9, 40)))
    assert result.created is True
    assert len(posts(sim)) == 1  # found by our property: not sent again
    assert len(lookups(sim)) == 2  # before the create, and to confirm it
    events = OutlookBackdoor(sim).list_events(CASEWORKER)
    assert [(e["id"], e["external_id"]) for e in events] == [(result.href, "bk-1")]


def test_a_create_that_never_reached_exchange_is_sent_again(sim, graph):
    sim.fail_before("POST", "/events", status=504)
    result = graph.upsert_event(CASEWORKER, booking("bk-1b", at(9, 40)))
    assert result.created is True
    assert [p.status for p in posts(sim)] == [504, 201]
    [event] = OutlookBackdoor(sim).list_events(CASEWORKER)
    assert event["id"] == result.href


def test_an_unconfirmed_create_fails_clearly_and_makes_nothing(sim, graph):
    sim.fail_before("POST", "/events", count=2, status=502)
    with pytest.raises(ConnectorError, match="not confirmed"):
        graph.upsert_event(CASEWORKER, booking("bk-1c", at(9, 40)))
    assert OutlookBackdoor(sim).list_events(CASEWORKER) == []


def test_a_booking_whose_event_was_deleted_in_outlook_gets_a_new_one(sim, graph):
    first = graph.upsert_event(CASEWORKER, booking("bk-2", at(9)))
    sim.state.delete_event(CASEWORKER, first.href)  # the caseworker deleted it in Outlook
    second = graph.upsert_event(CASEWORKER, booking("bk-2", at(11)))
    assert second.created is True and second.href != first.href
    assert [p.status for p in posts(sim)] == [201, 201]
    ids = [p.body["transactionId"] for p in posts(sim)]
    assert len(set(ids)) == 2 and all(i.startswith("bk-2.") for i in ids)
    [event] = OutlookBackdoor(sim).list_events(CASEWORKER)
    assert (event["external_id"], event["start"]) == ("bk-2", at(11))


def test_duplicates_of_our_event_are_tidied_to_one(sim, graph):
    """A twin we created ourselves (carrying our property and its own iCalUId stamp, as two
    creates of one booking leave) is ours to tidy."""
    graph.upsert_event(CASEWORKER, booking("bk-3", at(9)))
    body = {
        "subject": "twin",
        "start": {"dateTime": "2027-03-02T12:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2027-03-02T12:30:00", "timeZone": "UTC"},
        "singleValueExtendedProperties": [{"id": graph.prop_id, "value": "bk-3"}],
    }
    twin, _ = sim.state.create_event(CASEWORKER, body)
    sim.state.update_event(
        CASEWORKER,
        twin.id,
        {"singleValueExtendedProperties": [{"id": graph.uid_prop, "value": twin.ical_uid}]},
    )
    graph.upsert_event(CASEWORKER, booking("bk-3", at(10)))
    events = OutlookBackdoor(sim).list_events(CASEWORKER)
    assert [(e["external_id"], e["start"]) for e in events] == [("bk-3", at(10))]


def test_a_cpr_number_is_never_written(sim, graph):
    draft = booking("bk-4", at(9))
    leaky = EventDraft(**{**draft.__dict__, "description": "Borger 010190-1234"})
    with pytest.raises(ConnectorError) as caught:
        graph.upsert_event(CASEWORKER, leaky)
    assert "010190" not in str(caught.value)
    assert OutlookBackdoor(sim).list_events(CASEWORKER) == []
    assert not posts(sim)


def test_repeating_an_upsert_sends_no_update(sim, graph):
    draft = booking("bk-5", at(9), rooms=(ROOM,))
    graph.upsert_event(CASEWORKER, draft)
    sim.clear_log()
    graph.upsert_event(CASEWORKER, draft)
    assert [e.method for e in sim.http_requests()] == ["GET"]


def test_the_room_is_invited_and_accepts(sim, graph):
    graph.upsert_event(CASEWORKER, booking("bk-6", at(9, 40), rooms=(ROOM,)))
    [item] = graph.fetch_changes(CASEWORKER, None, *WINDOW).changed
    assert item.attendee_status == {ROOM: "ACCEPTED"}
    [reservation] = OutlookBackdoor(sim).list_events(ROOM)
    assert (reservation["start"], reservation["uid"]) == (at(9, 40), item.uid)
    assert graph.free_busy([ROOM], at(0), at(23))[ROOM][0].start == at(9, 40)


def test_a_room_decline_shows_in_fetch_changes(sim, graph):
    token = graph.fetch_changes(SECOND_CASEWORKER, None, *WINDOW).token
    graph.upsert_event(CASEWORKER, booking("bk-7", at(10), rooms=(ROOM,)))
    graph.upsert_event(SECOND_CASEWORKER, booking("bk-8", at(10, 15), rooms=(ROOM,)))
    [late] = graph.fetch_changes(SECOND_CASEWORKER, token, *WINDOW).changed
    assert (late.external_id, late.attendee_status) == ("bk-8", {ROOM: "DECLINED"})
    assert [e["start"] for e in OutlookBackdoor(sim).list_events(ROOM)] == [at(10)]
    # booked elsewhere in time, the room accepts again
    graph.upsert_event(SECOND_CASEWORKER, booking("bk-8", at(11), rooms=(ROOM,)))
    [moved] = graph.fetch_changes(SECOND_CASEWORKER, token, *WINDOW).changed
    assert moved.attendee_status == {ROOM: "ACCEPTED"}


def test_a_caseworker_moving_a_booking_onto_a_busy_room_gets_a_decline(sim, graph):
    person = OutlookBackdoor(sim)
    graph.upsert_event(CASEWORKER, booking("bk-9", at(9), rooms=(ROOM,)))
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    person.put_foreign_event(ROOM, "hand-booked", "Byggemøde", at(13), at(15))
    person.move_event(CASEWORKER, first.changed[0].uid, at(13, 30), at(14))
    [moved] = graph.fetch_changes(CASEWORKER, first.token, *WINDOW).changed
    assert (moved.start, moved.attendee_status) == (at(13, 30), {ROOM: "DECLINED"})
    assert [e["summary"] for e in person.list_events(ROOM)] == ["Byggemøde"]


def test_deleting_the_booking_cancels_the_room_reservation(sim, graph):
    graph.upsert_event(CASEWORKER, booking("bk-10", at(9), rooms=(ROOM,)))
    assert len(OutlookBackdoor(sim).list_events(ROOM)) == 1
    assert graph.delete_event(CASEWORKER, "bk-10") is True
    assert OutlookBackdoor(sim).list_events(ROOM) == []


def test_the_rooms_copy_shows_the_organizer_unless_the_room_keeps_subjects(sim, graph):
    """Exchange's defaults (DeleteSubject, AddOrganizerToSubject: $true) put the organizer's
    name in the room's copy; the admin guide's settings keep the conversation's title."""
    graph.upsert_event(CASEWORKER, booking("bk-s1", at(9), rooms=(ROOM,)))
    [copy] = OutlookBackdoor(sim).list_events(ROOM)
    assert copy["summary"] == "Mette Jensen"
    from tests.sims.rba import RoomPolicy

    sim.state.mailbox(ROOM).policy = RoomPolicy(
        delete_subject=False, add_organizer_to_subject=False
    )
    graph.upsert_event(CASEWORKER, booking("bk-s2", at(11), rooms=(ROOM,)))
    titles = {e["uid"]: e["summary"] for e in OutlookBackdoor(sim).list_events(ROOM)}
    assert "Jobsamtale (selvbooket) - fremmøde" in titles.values()


def test_a_create_answered_503_with_retry_after_is_looked_up_before_it_is_sent_again(sim, graph):
    """Exchange carried the create out, the answer came back 503 with Retry-After. Whether a
    second POST would be folded into the first rests on transactionId, which Microsoft documents
    only as helping to "avoid redundant POST operations": here it does not, so only our look-up
    by the extended property keeps the calendar at one event."""
    sim.state.dedupe_transactions = False
    sim.fail_after("POST", "/events", status=503, retry_after=1)
    result = graph.upsert_event(CASEWORKER, booking("bk-1d", at(9, 40)))
    assert result.created is True
    assert len(posts(sim)) == 1
    [event] = OutlookBackdoor(sim).list_events(CASEWORKER)
    assert (event["id"], event["external_id"]) == (result.href, "bk-1d")
    # It is ours in full: stamped by the update that confirmed it.
    assert graph.upsert_event(CASEWORKER, booking("bk-1d", at(10))).created is False
    assert len(OutlookBackdoor(sim).list_events(CASEWORKER)) == 1

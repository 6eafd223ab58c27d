"""Graph reading: calendarView/delta paging, @removed, expired delta tokens, occurrences, time
zones and which items are ours - through msal and httpx against the local Graph simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import EventDraft, SyncTokenInvalid
from connectors.graph import GraphConnector
from connectors.graph_items import DeltaToken, item_from_event, window
from tests.sims.graph.harness import (
    CASEWORKER,
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


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with simulator() as running:
        populate(running)
        yield running


@pytest.fixture
def graph(sim: GraphSimulator) -> Iterator[GraphConnector]:
    connector = connector_for(sim, page_size=2)
    yield connector
    connector.close()


def delta_requests(sim: GraphSimulator) -> list:
    return [e for e in sim.http_requests() if e.path.endswith("/calendarView/delta")]


def test_pages_are_followed_and_the_token_wraps_the_delta_link(sim, graph):
    person = OutlookBackdoor(sim)
    for n in range(5):
        person.put_foreign_event(CASEWORKER, f"uid-{n}", f"Møde {n}", at(8 + n), at(9 + n))
    changes = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    assert changes.full is True
    assert sorted(i.uid for i in changes.changed) == [f"uid-{n}" for n in range(5)]
    assert len(delta_requests(sim)) == 3  # maxpagesize 2: two nextLinks, then the deltaLink
    token = DeltaToken.decode(changes.token)
    assert "$deltatoken=" in token.link
    assert token.covers(*WINDOW)
    prefer = {e.query for e in delta_requests(sim)}
    assert all("$skiptoken" in q or "startDateTime" in q for q in prefer)


def test_removed_entries_include_events_moved_out_of_the_window(sim, graph):
    person = OutlookBackdoor(sim)
    person.put_foreign_event(CASEWORKER, "inside", "Kursus", at(13), at(14))
    person.put_foreign_event(CASEWORKER, "far", "Ferie", at(8, days=300), at(9, days=300))
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    inside = next(i for i in first.changed if i.uid == "inside")
    assert [i.uid for i in first.changed] == ["inside"]

    person.move_event(CASEWORKER, "inside", at(13, days=200), at(14, days=200))
    far = sim.state.find_uid(CASEWORKER, "far")
    person.move_event(CASEWORKER, "far", at(8, days=301), at(9, days=301))
    second = graph.fetch_changes(CASEWORKER, first.token, *WINDOW)
    assert list(second.changed) == []
    # Graph reports both as removed: the one that left the window, and the one that changed
    # outside it (never seen by us; the engine ignores hrefs it does not know).
    assert set(second.deleted) == {inside.href, far.id}


def test_expired_delta_token_raises_and_a_full_round_recovers(sim, graph):
    person = OutlookBackdoor(sim)
    person.put_foreign_event(CASEWORKER, "a", "Teammøde", at(10), at(11))
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    sim.state.invalidate_delta_tokens(CASEWORKER)
    with pytest.raises(SyncTokenInvalid) as caught:
        graph.fetch_changes(CASEWORKER, first.token, *WINDOW)
    assert caught.value.calendar_id == CASEWORKER
    assert "syncStateNotFound" in str(caught.value)
    again = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    assert again.full is True and [i.uid for i in again.changed] == ["a"]
    quiet = graph.fetch_changes(CASEWORKER, again.token, *WINDOW)
    assert (list(quiet.changed), list(quiet.deleted), quiet.full) == ([], [], False)


def test_a_window_beyond_the_token_starts_a_new_full_round(sim, graph):
    OutlookBackdoor(sim).put_foreign_event(
        CASEWORKER, "late", "Kursus", at(9, days=90), at(10, days=90)
    )
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    assert first.changed == []
    later = (WINDOW[0] + timedelta(days=40), WINDOW[1] + timedelta(days=40))
    moved = graph.fetch_changes(CASEWORKER, first.token, *later)
    assert moved.full is True
    assert [i.uid for i in moved.changed] == ["late"]
    # a horizon moving a few days keeps the same token (slack at the end of the window)
    nudged = (WINDOW[0] + timedelta(days=3), WINDOW[1] + timedelta(days=3))
    assert graph.fetch_changes(CASEWORKER, first.token, *nudged).full is False


def test_series_master_and_all_day_items_map_as_documented():
    master = {"id": "m", "type": "seriesMaster", "start": {}, "end": {}}
    assert item_from_event(master) is None
    all_day = {
        "id": "d",
        "type": "singleInstance",
        "isAllDay": True,
        "showAs": "oof",
        "subject": "Fri",
        "originalStartTimeZone": "Romance Standard Time",
        "start": {"dateTime": "2027-03-05T00:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2027-03-06T00:00:00.0000000", "timeZone": "UTC"},
    }
    item = item_from_event(all_day)
    assert (item.start, item.end, item.all_day) == (date(2027, 3, 5), date(2027, 3, 6), True)


def test_windows_zone_names_become_the_items_own_zone(sim, graph):
    sim.state.create_event(
        CASEWORKER,
        {
            "subject": "Supervision",
            "start": {"dateTime": "2027-03-02T14:00:00", "timeZone": "Romance Standard Time"},
            "end": {"dateTime": "2027-03-02T15:00:00", "timeZone": "Romance Standard Time"},
        },
    )
    [item] = graph.fetch_changes(CASEWORKER, None, *WINDOW).changed
    assert item.tzid == "Romance Standard Time"
    assert item.start == at(14) and item.start.tzinfo == CPH


def test_only_our_events_carry_an_external_id(sim, graph):
    # Another app's event with a transactionId of its own is not ours.
    sim.state.create_event(
        CASEWORKER,
        {
            "subject": "Teams-møde",
            "transactionId": "c7555340-474b-cf1f-5bd8-d9e197da220e",
            "start": {"dateTime": "2027-03-02T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-03-02T13:00:00", "timeZone": "UTC"},
        },
    )
    draft = EventDraft("bk-42", "Jobsamtale (selvbooket)", at(9, 40), at(10, 10))
    graph.upsert_event(CASEWORKER, draft)
    sim.clear_log()
    items = {i.summary: i for i in graph.fetch_changes(CASEWORKER, None, *WINDOW).changed}
    assert items["Jobsamtale (selvbooket)"].external_id == "bk-42"
    assert items["Teams-møde"].external_id is None
    lookups = [e for e in sim.entries() if e.kind in ("graph", "sub") and "/events/" in e.path]
    assert len(lookups) == 2  # one GET per candidate with a transactionId


def test_many_candidates_are_checked_with_one_listing(sim, graph):
    for n in range(6):
        graph.upsert_event(CASEWORKER, EventDraft(f"bk-{n}", f"Samtale {n}", at(8 + n), at(9 + n)))
    sim.clear_log()
    items = graph.fetch_changes(CASEWORKER, None, *WINDOW).changed
    assert sorted(i.external_id for i in items) == [f"bk-{n}" for n in range(6)]
    paths = [e.path for e in sim.http_requests()]
    assert sum(p.endswith("/calendarView") for p in paths) == 1
    assert not any("/events/" in p for p in paths)


def test_an_unreadable_item_is_quarantined_and_the_rest_synced(sim, graph):
    person = OutlookBackdoor(sim)
    person.put_foreign_event(CASEWORKER, "good", "Teammøde", at(10), at(11))
    person.put_foreign_event(CASEWORKER, "bad", "Ødelagt", at(12), at(13))
    broken = sim.state.find_uid(CASEWORKER, "bad")
    broken.overrides = {"start": {"dateTime": "not a time", "timeZone": "UTC"}}
    changes = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    assert [i.uid for i in changes.changed] == ["good"]
    assert [href for href, _ in changes.quarantined] == [broken.id]


def test_delta_tokens_and_windows():
    lo, hi = window(datetime(2027, 3, 2, 9, 30, tzinfo=UTC), datetime(2027, 5, 1, 1, tzinfo=UTC), 7)
    assert (lo, hi) == (datetime(2027, 3, 2, tzinfo=UTC), datetime(2027, 5, 9, tzinfo=UTC))
    token = DeltaToken(lo, hi, "https://graph.example/v1.0/x?$deltatoken=abc", lo)
    assert DeltaToken.decode(token.encode()) == token
    for bad in ("", "graph1 x y z https://a", "caldav-token"):
        with pytest.raises(SyncTokenInvalid):
            DeltaToken.decode(bad, "someone@lilleby.dk")


def test_every_request_asks_for_immutable_ids(sim, graph):
    """Ids syncd stores must survive moves between folders ("Obtain immutable identifiers")."""
    OutlookBackdoor(sim).put_foreign_event(CASEWORKER, "a", "Møde", at(9), at(10))
    changes = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    graph.change_markers([CASEWORKER])
    graph.free_busy([CASEWORKER], *WINDOW)
    graph.fetch_changes(CASEWORKER, changes.token, *WINDOW)
    asked = [e for e in sim.entries() if e.kind in ("graph", "sub")]
    assert asked and all((e.prefer or {}).get("idtype") == "ImmutableId" for e in asked)


def test_a_token_from_before_immutable_ids_starts_a_full_round(sim, graph):
    old = "graph1 2027-02-23T00:00:00Z 2027-05-01T00:00:00Z 2027-02-20T00:00:00Z https://x/y"
    with pytest.raises(SyncTokenInvalid):
        graph.fetch_changes(CASEWORKER, old, *WINDOW)

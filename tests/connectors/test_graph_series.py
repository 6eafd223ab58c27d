"""Recurring series on Graph as Microsoft serves them: delta sends the series master plus bare
occurrence stubs (microsoft-graph-docs #1716, #7632, #22197; -contrib #34) and stays silent about
a deleted occurrence (PR #4501). The connector reads each series whole, through msal and httpx
against the local Graph simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.graph import GraphConnector
from connectors.graph_items import DeltaToken, recurrence_rule
from mappings.recurrence import expand
from mappings.salvage import blocked
from tests.sims.graph.harness import CASEWORKER, OutlookBackdoor, connector_for, populate, simulator
from tests.sims.graph.server import GraphSimulator

CPH = ZoneInfo("Europe/Copenhagen")
DAY = datetime(2027, 3, 2, tzinfo=CPH)
WINDOW = (DAY - timedelta(days=7), DAY + timedelta(days=60))
STUB_KEYS = {"@odata.type", "@odata.etag", "id", "type", "seriesMasterId", "start", "end"}


def at(hour: int, *, days: int = 0) -> datetime:
    return DAY.replace(hour=hour) + timedelta(days=days)


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with simulator() as running:
        populate(running)
        yield running


@pytest.fixture
def graph(sim: GraphSimulator) -> Iterator[GraphConnector]:
    connector = connector_for(sim, page_size=3)
    yield connector
    connector.close()


def weekly_window(sim: GraphSimulator, weeks: int = 4) -> None:
    OutlookBackdoor(sim).put_foreign_event(
        CASEWORKER,
        "series",
        "Selvbook: Jobsamtale",
        at(9),
        at(12),
        categories=("Selvbook",),
        rrule=f"FREQ=WEEKLY;COUNT={weeks}",
    )


def starts(item) -> list[datetime]:
    return [o.start for o in expand(item, *WINDOW, zone=CPH)]


def test_simulator_serves_master_and_stubs_like_graph(sim, graph):
    weekly_window(sim)
    body = graph.http.send(
        graph._request(
            "GET",
            CASEWORKER,
            f"/calendarView/delta?startDateTime={WINDOW[0]:%Y-%m-%dT%H:%M:%S%z}"
            f"&endDateTime={WINDOW[1]:%Y-%m-%dT%H:%M:%S%z}".replace("+", "%2B"),
            headers={"Prefer": "odata.maxpagesize=3"},
        )
    ).body
    # A series is never split over pages: master and its four stubs come on one page.
    [master, *stubs] = body["value"]
    assert master["type"] == "seriesMaster" and master["subject"] == "Selvbook: Jobsamtale"
    assert len(stubs) == 4
    for stub in stubs:
        assert set(stub) == STUB_KEYS and stub["seriesMasterId"] == master["id"]
    # Full reads give each occurrence its own iCalUId.
    full = [
        graph.http.send(graph._request("GET", CASEWORKER, f"/events/{s['id']}")).body for s in stubs
    ]
    assert all(f["subject"] == "Selvbook: Jobsamtale" and f["type"] == "occurrence" for f in full)
    assert len({f["iCalUId"] for f in full} | {master["iCalUId"]}) == 5
    listed = graph.http.send(
        graph._request(
            "GET",
            CASEWORKER,
            f"/events/{master['id']}/instances?startDateTime=2027-02-01T00:00:00Z"
            "&endDateTime=2027-05-01T00:00:00Z",
        )
    ).body["value"]
    assert [x["id"] for x in listed] == [s["id"] for s in stubs]


def test_a_series_is_one_item_filled_in_from_its_master(sim, graph):
    weekly_window(sim)
    sim.clear_log()
    changes = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    [item] = changes.changed
    assert item.summary == "Selvbook: Jobsamtale" and item.categories == ("Selvbook",)
    assert starts(item) == [at(9, days=7 * n) for n in range(4)]
    assert all(o.categories == ("Selvbook",) and not o.transparent for o in item.overrides)
    # A full round needs nothing beyond delta itself.
    assert {e.path.rsplit("/", 1)[-1] for e in sim.http_requests()} == {"delta"}


def test_a_deleted_occurrence_disappears_in_the_next_round(sim, graph):
    weekly_window(sim)
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    OutlookBackdoor(sim).delete_occurrence(CASEWORKER, "series", at(9, days=14))
    sim.clear_log()
    second = graph.fetch_changes(CASEWORKER, first.token, *WINDOW)
    [item] = second.changed
    assert item.href == first.changed[0].href and list(second.deleted) == []
    assert starts(item) == [at(9), at(9, days=7), at(9, days=21)]
    listed = [e for e in sim.entries() if e.path.endswith("/instances")]
    assert len(listed) == 1
    # Nothing changed: the next round lists nothing again.
    sim.clear_log()
    third = graph.fetch_changes(CASEWORKER, second.token, *WINDOW)
    assert list(third.changed) == [] and not [e for e in sim.entries() if "/events/" in e.path]


def test_deleting_the_whole_series_removes_its_item(sim, graph):
    weekly_window(sim)
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    OutlookBackdoor(sim).delete_event(CASEWORKER, "series")
    second = graph.fetch_changes(CASEWORKER, first.token, *WINDOW)
    assert first.changed[0].href in second.deleted


def test_stubs_without_their_master_fetch_it_batched(sim, graph):
    """Stubs whose master is not in the round: the master comes from GET /events/{id}."""
    weekly_window(sim)
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    master_id = first.changed[0].href
    stubs = [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": f"{master_id}_x{n}",
            "type": "occurrence",
            "seriesMasterId": master_id,
            "start": {"dateTime": f"2027-03-{2 + 7 * n:02d}T08:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": f"2027-03-{2 + 7 * n:02d}T11:00:00.0000000", "timeZone": "UTC"},
        }
        for n in range(2)
    ]
    sim.clear_log()
    result = graph._series.read(CASEWORKER, {}, {master_id: stubs}, graph_window(first), full=True)
    [item] = result.items
    assert item.summary == "Selvbook: Jobsamtale"
    reads = [e for e in sim.entries() if e.kind in ("sub", "graph")]
    assert [(e.method, e.path.rsplit("/", 1)[-1]) for e in reads] == [("GET", master_id)]


def graph_window(changes) -> tuple[datetime, datetime]:
    token = DeltaToken.decode(changes.token)
    return token.start, token.end


def test_a_moved_occurrence_is_read_whole_as_an_exception(sim, graph):
    weekly_window(sim)
    OutlookBackdoor(sim).move_occurrence(
        CASEWORKER, "series", at(9, days=7), at(13, days=8), at(16, days=8)
    )
    sim.clear_log()
    [item] = graph.fetch_changes(CASEWORKER, None, *WINDOW).changed
    assert starts(item) == [at(9), at(13, days=8), at(9, days=14), at(9, days=21)]
    [moved] = [o for o in item.overrides if o.start == at(13, days=8)]
    assert moved.recurrence_id == at(9, days=7) and moved.summary == "Selvbook: Jobsamtale"
    # An exception stub in a full round: the series is listed with /instances once.
    assert len([e for e in sim.entries() if e.path.endswith("/instances")]) == 1


def test_exceptions_instances_leaves_out_are_kept_from_delta(sim, graph):
    """/instances may answer without a series' exceptions (microsoft-graph-docs-contrib #540,
    microsoft-graph-docs #4294): the moved occurrence delta delivered is kept, in the full round
    that relists the series and in a later round whose master change relists it again."""
    sim.instances_omit_exceptions = True
    weekly_window(sim)
    hands = OutlookBackdoor(sim)
    hands.move_occurrence(CASEWORKER, "series", at(9, days=7), at(13, days=8), at(16, days=8))
    changes = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    [item] = changes.changed
    assert starts(item) == [at(9), at(13, days=8), at(9, days=14), at(9, days=21)]
    # Another occurrence is deleted: the master changes, the series is listed again; delta's
    # stub of the moved one came in the first round only, and still counts.
    hands.delete_occurrence(CASEWORKER, "series", at(9, days=14))
    [item] = graph.fetch_changes(CASEWORKER, changes.token, *WINDOW).changed
    assert starts(item) == [at(9), at(13, days=8), at(9, days=21)]


def busy_series(sim: GraphSimulator, uid: str = "team") -> None:
    OutlookBackdoor(sim).put_foreign_event(
        CASEWORKER, uid, "Teammøde", at(9), at(10), rrule="FREQ=WEEKLY;COUNT=4"
    )


@pytest.mark.parametrize("status", [500, 400])
def test_a_series_graph_cannot_list_is_quarantined_and_still_blocks(sim, graph, status):
    """/instances failing for one series (500 every time, or 400 for a corrupt recurrence)
    never fails the calendar's fetch: the series is quarantined with the time its master says
    it occupies, every other event is delivered (invariants 5 and 9)."""
    hands = OutlookBackdoor(sim)
    busy_series(sim)
    weekly_window(sim)
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    team = next(c.href for c in first.changed if c.summary == "Teammøde")
    hands.delete_occurrence(CASEWORKER, "team", at(9, days=7))  # both masters change
    hands.delete_occurrence(CASEWORKER, "series", at(9, days=7))
    hands.put_foreign_event(CASEWORKER, "single", "Frokost", at(12, days=1), at(13, days=1))
    sim.fail_before("GET", f"{team}/instances", count=100, status=status)
    changes = graph.fetch_changes(CASEWORKER, first.token, *WINDOW)
    assert {c.summary for c in changes.changed} == {"Frokost", "Selvbook: Jobsamtale"}
    [bad] = changes.quarantined
    assert bad.href == team and str(status) in bad.reason and bad.summary == "Teammøde"
    lo, hi = at(0, days=-1), at(0, days=40)
    starts_blocked = [a for a, _ in blocked(bad.spans, lo, hi, zone=CPH)]
    for week in range(4):  # conservative: the deleted week may block too, never less
        assert at(9, days=7 * week) in starts_blocked


def test_a_full_round_builds_a_series_from_delta_when_instances_fails(sim, graph):
    busy_series(sim)
    hands = OutlookBackdoor(sim)
    hands.move_occurrence(CASEWORKER, "team", at(9, days=7), at(13, days=8), at(14, days=8))
    sim.fail_before("GET", "/instances", count=100, status=500)
    changes = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    [item] = changes.changed
    assert starts(item) == [at(9), at(13, days=8), at(9, days=14), at(9, days=21)]
    assert not changes.quarantined


def test_a_passing_server_error_on_one_batched_listing_is_retried(sim, graph):
    busy_series(sim)
    weekly_window(sim)
    first = graph.fetch_changes(CASEWORKER, None, *WINDOW)
    hands = OutlookBackdoor(sim)
    hands.delete_occurrence(CASEWORKER, "team", at(9, days=7))
    hands.delete_occurrence(CASEWORKER, "series", at(9, days=7))
    sim.fail_before("GET", "/instances", count=1, status=503)  # no Retry-After
    changes = graph.fetch_changes(CASEWORKER, first.token, *WINDOW)
    assert not changes.quarantined
    assert sorted(len(starts(c)) for c in changes.changed) == [3, 3]


@pytest.mark.parametrize(
    ("recurrence", "rule"),
    [
        (
            {
                "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "friday"]},
                "range": {"type": "numbered", "numberOfOccurrences": 6},
            },
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;COUNT=6",
        ),
        (
            {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "endDate", "endDate": "2027-04-30"},
            },
            "FREQ=DAILY;INTERVAL=1;UNTIL=20270430T235959",
        ),
        (  # monthly: every day, never fewer; a count would cut it short, so none
            {
                "pattern": {"type": "relativeMonthly", "daysOfWeek": ["tuesday"]},
                "range": {"type": "numbered", "numberOfOccurrences": 3},
            },
            "FREQ=DAILY",
        ),
        (None, "FREQ=DAILY"),
    ],
)
def test_a_series_pattern_blocks_at_least_its_occurrences(recurrence, rule):
    assert recurrence_rule(recurrence) == rule

"""Graph's limits: $batch (20 per batch), 4 concurrent requests per mailbox, 429 Retry-After
honoured per sub-request, getSchedule splitting, and cheap idle-cycle markers. Timing is read
from the simulator's request log, never from sleeps."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import EventDraft, Throttled
from connectors.graph import GraphConnector
from tests.sims.graph.harness import (
    CASEWORKER,
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
MANY = [f"sagsbehandler{n:02d}@lilleby.dk" for n in range(45)]


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute) + timedelta(days=days)


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with simulator() as running:
        populate(running)
        for mailbox in MANY:
            running.state.add_mailbox(mailbox)
        yield running


@pytest.fixture
def graph(sim: GraphSimulator) -> Iterator[GraphConnector]:
    connector = connector_for(sim)
    yield connector
    connector.close()


def subs(sim: GraphSimulator, mailbox: str | None = None) -> list:
    return [e for e in sim.entries("sub") if mailbox is None or e.mailbox == mailbox]


def test_idle_markers_cost_one_batch_per_twenty_calendars(sim, graph):
    first = graph.change_markers(MANY)
    assert set(first) == set(MANY)
    sim.clear_log()
    assert graph.change_markers(MANY) == first
    requests = sim.http_requests()
    assert [e.kind for e in requests] == ["batch"] * 3  # 45 calendars: 20 + 20 + 5
    per_batch = Counter(e.batch for e in subs(sim))
    assert sorted(per_batch.values()) == [5, 20, 20]
    assert all(e.status == 200 for e in subs(sim))

    OutlookBackdoor(sim).put_foreign_event(MANY[7], "x", "Møde", at(8), at(9))
    changed = graph.change_markers(MANY)
    assert {c for c in MANY if changed[c] != first[c]} == {MANY[7]}
    assert graph.change_markers(MANY) == changed


def test_without_batch_an_idle_cycle_costs_one_request_per_calendar(sim):
    connector = connector_for(sim, use_batch=False)
    try:
        connector.change_markers(MANY)
        sim.clear_log()
        connector.change_markers(MANY)
        requests = sim.http_requests()
        assert len(requests) == len(MANY) and {e.kind for e in requests} == {"graph"}
    finally:
        connector.close()


def test_markers_never_consume_the_engines_delta_token(sim, graph):
    person = OutlookBackdoor(sim)
    token = graph.fetch_changes(CASEWORKER, None, *WINDOW).token
    before = graph.change_markers([CASEWORKER])
    person.put_foreign_event(CASEWORKER, "new", "Kursus", at(13), at(14))
    after = graph.change_markers([CASEWORKER])
    assert after[CASEWORKER] != before[CASEWORKER]
    assert graph.change_markers([CASEWORKER]) == after
    changes = graph.fetch_changes(CASEWORKER, token, *WINDOW)
    assert [i.uid for i in changes.changed] == ["new"]


def test_a_throttled_sub_request_alone_is_retried_and_not_sooner_than_told(sim, graph):
    calendars = MANY[:6]
    graph.change_markers(calendars)
    sim.clear_log()
    victim = calendars[2]
    sim.throttle(1, retry_after=1, mailbox=victim)
    markers = graph.change_markers(calendars)
    assert set(markers) == set(calendars)
    tries = subs(sim, victim)
    assert [e.status for e in tries] == [429, 200]
    assert tries[1].at - tries[0].at >= 1.0
    assert tries[1].batch != tries[0].batch
    for other in calendars:
        if other != victim:
            assert [e.status for e in subs(sim, other)] == [200]  # never sent twice


def test_throttling_beyond_max_wait_is_reported_for_that_calendar_only(sim):
    connector = connector_for(sim, max_retry_wait=0.5)
    try:
        calendars = MANY[:4]
        connector.change_markers(calendars)
        sim.throttle(2, retry_after=30, mailbox=calendars[0])
        markers = connector.change_markers(calendars)
        assert set(markers) == set(calendars[1:])
        with pytest.raises(Throttled) as caught:
            connector.fetch_changes(calendars[0], None, *WINDOW)
        assert caught.value.calendar_id == calendars[0]
        assert 29 < caught.value.retry_after <= 30  # what is left of the server's Retry-After
        assert "ApplicationThrottled" in str(caught.value)
        # Refused locally: the mailbox is not asked again before its Retry-After has passed.
        assert [e.status for e in sim.entries() if e.mailbox == calendars[0]][-2:] == [200, 429]
        connector.fetch_changes(calendars[1], None, *WINDOW)
    finally:
        connector.close()


def test_a_throttled_single_request_waits_retry_after(sim, graph):
    graph.fetch_changes(CASEWORKER, None, *WINDOW)
    sim.clear_log()
    sim.throttle(1, retry_after=1, mailbox=CASEWORKER)
    graph.upsert_event(CASEWORKER, EventDraft("bk-1", "Jobsamtale", at(9), at(9, 30)))
    tries = [e for e in sim.http_requests() if e.mailbox == CASEWORKER]
    assert tries[0].status == 429 and tries[1].status == 200
    assert tries[1].at - tries[0].at >= 1.0


def test_never_more_than_four_requests_in_flight_per_mailbox(sim, graph):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            graph.upsert_event(
                CASEWORKER, EventDraft(f"bk-{n}", f"Samtale {n}", at(8, days=n), at(9, days=n))
            )
            graph.fetch_changes(CASEWORKER, None, *WINDOW)
        except BaseException as exc:  # collected, re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and not any(t.is_alive() for t in threads)
    assert 1 <= sim.max_inflight[CASEWORKER] <= 4
    assert not [e for e in sim.entries() if e.status == 429]


def test_a_batch_carries_at_most_four_sub_requests_per_mailbox(sim, graph):
    # Ten getSchedule calls on one mailbox (610 days) plus two on another: one $batch would
    # carry ten for the same mailbox, beyond its 4 concurrent requests.
    graph.free_busy([CASEWORKER], WINDOW[0], WINDOW[0] + timedelta(days=61 * 10))
    graph.free_busy([SECOND_CASEWORKER], WINDOW[0], WINDOW[0] + timedelta(days=61 * 2))
    per = Counter((e.batch, e.mailbox) for e in subs(sim))
    assert sum(per.values()) == 12
    assert max(per.values()) <= 4
    assert not [e for e in sim.entries() if e.status == 429]


def test_get_schedule_is_split_by_twenty_schedules_and_under_62_days(sim, graph):
    start = datetime(2027, 1, 4, tzinfo=UTC)
    end = start + timedelta(days=100)
    across = start + timedelta(days=61)  # a meeting over the boundary between two calls
    OutlookBackdoor(sim).put_foreign_event(
        MANY[30], "long", "Kursus", across - timedelta(hours=2), across + timedelta(hours=3)
    )
    result = graph.free_busy(MANY, start, end)
    assert set(result) == set(MANY)
    calls = [e for e in sim.entries() if e.path.endswith("/getSchedule")]
    assert len(calls) == 6  # 3 groups of schedules x 2 time spans
    for call in calls:
        schedules = call.body["schedules"]
        assert 1 <= len(schedules) <= 20
        lo = datetime.fromisoformat(call.body["startTime"]["dateTime"])
        hi = datetime.fromisoformat(call.body["endTime"]["dateTime"])
        assert hi - lo < timedelta(days=62)
    asked = [s for c in calls for s in c.body["schedules"]]
    assert sorted(asked) == sorted(MANY * 2)
    [meeting] = result[MANY[30]]
    assert (meeting.start, meeting.end) == (
        across - timedelta(hours=2),
        across + timedelta(hours=3),
    )
    assert all(result[m] == [] for m in MANY if m != MANY[30])


def test_a_429_without_retry_after_backs_off_instead_of_failing(sim, graph):
    sim.throttle(1, retry_after=None, mailbox=CASEWORKER)
    graph.fetch_changes(CASEWORKER, None, *WINDOW)
    tries = [e for e in sim.http_requests() if e.mailbox == CASEWORKER]
    assert [t.status for t in tries[:2]] == [429, 200]
    assert tries[1].at - tries[0].at >= 1.0  # the first step of the exponential back-off


def test_bare_429s_beyond_max_wait_become_throttled(sim):
    connector = connector_for(sim, max_retry_wait=0.5)
    try:
        sim.throttle(3, retry_after=None, mailbox=CASEWORKER)
        with pytest.raises(Throttled) as caught:
            connector.fetch_changes(CASEWORKER, None, *WINDOW)
        assert caught.value.retry_after == pytest.approx(1.0, abs=0.2)
    finally:
        connector.close()


def test_get_schedule_over_62_days_is_refused_as_graph_does_and_split(sim):
    connector = connector_for(sim, schedule_days=90)
    try:
        start = datetime(2027, 1, 4, tzinfo=UTC)
        OutlookBackdoor(sim).put_foreign_event(
            CASEWORKER, "late", "Kursus", start + timedelta(days=80), start + timedelta(days=81)
        )
        result = connector.free_busy([CASEWORKER], start, start + timedelta(days=90))
        [busy] = result[CASEWORKER]
        assert busy.start == start + timedelta(days=80)
        calls = [e for e in sim.entries() if e.path.endswith("/getSchedule")]
        assert [c.status for c in calls] == [400, 200, 200]
    finally:
        connector.close()

"""Demand in and the forecast out, over real HTTP on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from syncd.api.app import create_app
from syncd.domain.model import CancelledBy
from syncd.store import capacity as store
from tests.support.http import serving
from tests.support.jobcentre import API_KEY, NOW, STAFF_KEY, TUESDAY, at
from tests.web.helpers import book, open_tuesday

WEEK = "2026-W49"  # the week of TUESDAY (1 December 2026)


def demand(count: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "site": "lilleby",
        "type": "jobsamtale",
        "deadline_week": WEEK,
        "latest_date": "2026-12-11",
        "count": count,
    }
    row.update(kw)
    return row


@pytest.fixture
def staff(rt):
    open_tuesday(rt)
    with (
        serving(create_app(rt)) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": STAFF_KEY}) as client,
    ):
        yield client


def stored(rt) -> list:
    with rt.db.read() as s:
        return store.load_demand(s, date(2026, 1, 1), TUESDAY + timedelta(weeks=8))


def test_staff_posts_counts_a_citizen_key_may_not(staff, rt):
    r = staff.post("/api/v1/demand", json={"rows": [demand(30), demand(5, team="Dagpenge")]})
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 2, "citizens": 35}
    # A newer count for the same key replaces the older one.
    assert staff.post("/api/v1/demand", json={"rows": [demand(33)]}).status_code == 200
    assert sorted((d.team or "", d.count) for d in stored(rt)) == [("", 33), ("Dagpenge", 5)]
    r = staff.post("/api/v1/demand", json={"rows": [demand(1)]}, headers={"X-API-Key": API_KEY})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([demand(3), demand(4, team="0101901234")], "rows item 1, column 'team': contains a CPR"),
        ([{**demand(3), "cpr": "x"}], "column 'cpr' looks like person-level data"),
        ([{**demand(3), "navn": "Anna"}], "column 'navn' looks like person-level data"),
        ([demand(1) for _ in range(6)], "looks like a list of people"),
        ([demand(3, site="andeby")], "rows item 0, column 'site': unknown site 'andeby'"),
    ],
)
def test_person_level_data_is_refused_and_nothing_is_stored(staff, rt, rows, message):
    r = staff.post("/api/v1/demand", json={"rows": rows})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_demand"
    assert message in r.json()["error"]["message"]
    assert "Anna" not in r.text and "0101901234" not in r.text.replace("rows item", "")
    assert stored(rt) == []


def test_the_forecast_flags_a_week_with_too_few_times_and_says_so_in_danish(staff, rt):
    book(rt, "lars", at(0, 9), citizen="c-1")
    cancelled = book(rt, "pia", at(0, 9), citizen="c-2")
    rt.bookings.cancel(cancelled.id, by=CancelledBy.CITIZEN)
    # Three caseworkers with four times each on Tuesday; 60 citizens have their deadline.
    assert staff.post("/api/v1/demand", json={"rows": [demand(60)]}).status_code == 200
    rt.clock.advance(days=1)  # history counts the days that are over
    r = staff.get("/api/v1/capacity")
    assert r.status_code == 200, r.text
    body = r.json()
    week = next(w for w in body["weeks"] if w["week"] == WEEK and w["type"] == "jobsamtale")
    assert week["offers"] > 0 and week["booked"] == 1
    # The citizens left without a time count in the week of their latest date (11 December).
    short = next(w for w in body["weeks"] if w["week"] == "2026-W50" and w["type"] == "jobsamtale")
    assert short["short"] and short["shortfall"] > 30 and short["binding"] == "caseworkers"
    advice = [a["text"] for a in body["advice"] if a["kind"] == "shortfall"]
    assert any(t.startswith("uge ") and "Jobcenter Lilleby, jobsamtale: ca. " in t for t in advice)
    facts = next(b for b in body["behaviour"] if b["type"] == "jobsamtale")
    assert facts["observations"] == 2
    assert "c-1" not in r.text and "c-2" not in r.text
    assert staff.get("/api/v1/capacity", headers={"X-API-Key": API_KEY}).status_code == 403


def test_history_reads_cancellations_and_rebookings_without_people(rt):
    open_tuesday(rt)
    first = book(rt, "mette", at(0, 9), citizen="c-9")
    rt.clock.advance(minutes=5)
    rt.bookings.cancel(first.id, by=CancelledBy.CITIZEN)
    rt.clock.advance(minutes=5)
    book(rt, "lars", at(0, 9), citizen="c-9")
    with rt.db.read() as s:
        facts = store.history(s, rt.index, rt.zone, NOW + timedelta(days=1))
    assert [(f.cancelled_on is not None, f.rebooked) for f in facts] == [
        (True, False),
        (False, True),
    ]
    assert all(not hasattr(f, "citizen_ref") for f in facts)


def test_a_hold_may_carry_the_citizens_deadline_and_history_learns_from_it(rt):
    open_tuesday(rt)
    with (
        serving(create_app(rt)) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}) as jobnet,
    ):
        offer = jobnet.get("/api/v1/offers", params={"type": "jobsamtale"}).json()["offers"][0]
        hold = jobnet.post(
            "/api/v1/holds",
            json={"offer_id": offer["offer_id"], "citizen_ref": "c-3", "deadline": "2026-11-27"},
        )
        assert hold.status_code == 201, hold.text
        assert jobnet.post(f"/api/v1/holds/{hold.json()['id']}/confirm").status_code == 200
        bad = jobnet.post(
            "/api/v1/holds",
            json={"offer_id": offer["offer_id"], "citizen_ref": "c-4", "deadline": "fredag"},
        )
        assert bad.status_code == 422
    with rt.db.read() as s:
        [fact] = store.history(s, rt.index, rt.zone, NOW + timedelta(days=10))
    assert fact.deadline == date(2026, 11, 27)
    assert (fact.deadline - fact.booked_on).days == 4  # booked on Monday 23 November

"""Behaviour learned from history, the seeded forecast, the split of shared caseworkers, and
the Danish advice."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.capacity.advice import advise, dayparts_text
from syncd.capacity.behaviour import PRIOR, BookingFact, learn
from syncd.capacity.demand import DemandCount
from syncd.capacity.forecast import ALL_TYPES, WeekCapacity, forecast
from syncd.capacity.supply import CaseworkerWeek, offers_by_type, pools

MONDAY = date(2027, 2, 15)  # ISO week 7
WEEKS = [MONDAY + timedelta(weeks=k) for k in range(3)]


def cohort(count: int, week: date = MONDAY, site: str = "lilleby") -> DemandCount:
    return DemandCount(site, "jobsamtale", week, week + timedelta(days=11), count)


def capacity(offers: int, site: str = "lilleby", **kw: object) -> list[WeekCapacity]:
    return [
        WeekCapacity(site, "jobsamtale", w - timedelta(weeks=k), offers, **kw)  # type: ignore[arg-type]
        for w in WEEKS
        for k in (0, 1, 2)
    ]


def test_learns_cancellations_last_days_and_misses_from_complete_history_only() -> None:
    rng = random.Random(4)
    as_of = date(2027, 3, 1)
    facts = []
    for n in range(2000):
        deadline = date(2027, 1, 4) + timedelta(days=n % 40)
        booked = deadline - timedelta(days=0 if n % 2 else rng.randint(4, 12))
        held = booked + timedelta(days=3)
        cancelled = booked + timedelta(days=1) if n % 5 == 0 else None
        facts.append(BookingFact("s", "t", booked, held, cancelled_on=cancelled, deadline=deadline))
    facts += [BookingFact("s", "t", date(2027, 1, 20), date(2027, 1, 21), False, strakstid=True)
              for _ in range(100)]  # fmt: skip
    # Future bookings do not count yet, however many.
    facts += [
        BookingFact("s", "t", as_of, as_of + timedelta(days=5), cancelled_on=as_of)
        for _ in range(5000)
    ]
    b = learn(facts, as_of)
    assert b.cancel_rate == pytest.approx(0.2, abs=0.02)
    assert b.last_days_share == pytest.approx(0.5, abs=0.04)
    assert b.miss_share == pytest.approx(100 / 2100, abs=0.01)
    assert b.observations == 2100


def test_without_history_the_prior_is_used() -> None:
    assert learn([], date(2027, 1, 1)).cancel_rate == PRIOR.cancel_rate


def test_a_fresh_store_no_capacity_no_demand_forecasts_nothing() -> None:
    """No history, no demand, no offers yet (a new installation): an empty forecast, not an
    error in the log every refresh."""
    assert forecast([], {}, [], WEEKS, runs=10).rows == []
    assert forecast([], {}, [], WEEKS, runs=10, pools={}).rows == []


def test_the_forecast_is_reproducible_and_its_band_holds_the_mean() -> None:
    a = forecast([cohort(300)], {}, capacity(400), WEEKS, runs=80, seed=3)
    b = forecast([cohort(300)], {}, capacity(400), WEEKS, runs=80, seed=3)
    assert a.rows == b.rows
    for r in a.rows:
        assert r.demand_low <= r.demand_mean <= r.demand_high


def test_enough_offers_no_shortfall_too_few_flags_it() -> None:
    fine = forecast([cohort(200)], {}, capacity(400), WEEKS, runs=60)
    assert not fine.short_weeks()
    short = forecast([cohort(600)], {}, capacity(150), WEEKS, runs=60)
    flagged = short.short_weeks()
    assert flagged and all(r.shortfall > 0 for r in flagged)
    week7 = next(r for r in short.rows if r.week == MONDAY and r.type_code == "jobsamtale")
    assert week7.binding == "caseworkers"


@settings(max_examples=15, deadline=None)
@given(base=st.integers(50, 300), extra=st.integers(0, 300))
def test_property_more_citizens_never_mean_fewer_missing_times(base: int, extra: int) -> None:
    lo = forecast([cohort(base)], {}, capacity(120), WEEKS, runs=40, seed=5)
    hi = forecast([cohort(base + extra)], {}, capacity(120), WEEKS, runs=40, seed=5)
    total = lambda f: sum(r.unmet_mean for r in f.rows if r.type_code != ALL_TYPES)  # noqa: E731
    assert total(hi) >= total(lo) - 1.0  # seeded noise of a different sample size


def test_a_rare_type_loses_shared_caseworkers_to_a_common_one() -> None:
    """Caseworkers who offer both types are eaten into by the common type: the rare type
    misses more times than if the same minutes were kept for it alone."""
    steps = {"jobsamtale": 40, "opfoelgning": 60}
    day = (600, 600, 600, 600, 600, 0, 0)
    demand = [
        DemandCount("s", "jobsamtale", MONDAY, MONDAY + timedelta(days=11), 1200),
        DemandCount("s", "opfoelgning", MONDAY, MONDAY + timedelta(days=11), 40),
    ]

    def unmet_rare(second_group: frozenset[str]) -> float:
        pool = {
            ("s", w): {frozenset({"jobsamtale"}): tuple(m * 8 for m in day), second_group: day}
            for w in WEEKS[:2]
        }
        f = forecast(demand, {}, [], WEEKS, runs=60, pools=pool, steps=steps)
        return sum(r.unmet_mean for r in f.rows if r.type_code == "opfoelgning")

    shared = unmet_rare(frozenset({"jobsamtale", "opfoelgning"}))
    kept = unmet_rare(frozenset({"opfoelgning"}))
    assert kept < 0.5 and shared > kept + 2


def test_shared_caseworkers_are_split_in_proportion_to_demand() -> None:
    weeks = [
        CaseworkerWeek("s", MONDAY, ("a",), ((0, 400),), None),
        CaseworkerWeek("s", MONDAY, ("a", "b"), ((1, 400),), None),
    ]
    even = offers_by_type(weeks, {"a": 40, "b": 40})
    assert sum(even[("s", "a", MONDAY)]) == 15 and sum(even[("s", "b", MONDAY)]) == 5
    fitted = offers_by_type(
        weeks, {"a": 40, "b": 40}, {("s", "a", MONDAY): 10, ("s", "b", MONDAY): 10}
    )
    assert sum(fitted[("s", "b", MONDAY)]) == 10
    assert pools(weeks, {"a": 40, "b": 40})[("s", MONDAY)][frozenset({"a", "b"})][1] == 400


def test_advice_is_danish_and_names_week_site_type_and_rooms() -> None:
    f = forecast(
        [cohort(600)],
        {},
        capacity(
            150,
            room_places=160,
            room_free=(
                ("tirsdag eftermiddag", 6),
                ("onsdag formiddag", 1),
                ("torsdag eftermiddag", 5),
            ),
        ),
        WEEKS,
        runs=60,
    )
    lines = advise(f.rows, {"lilleby": "Lilleby"}, {"jobsamtale": "Jobsamtale"})
    text = next(a.text for a in lines if a.kind == "shortfall")
    assert re.match(r"uge \d+, Lilleby, jobsamtale: ca\. \d+ tider for få ved 90 %-niveau", text)
    assert "tirsdag og torsdag eftermiddag" in text


def test_dayparts_are_grouped_by_part_of_day() -> None:
    assert dayparts_text([("mandag formiddag", 2), ("tirsdag eftermiddag", 5)]) == (
        "mandag formiddag og tirsdag eftermiddag"
    )
    assert dayparts_text([]) == ""


def test_strakstid_reserve_is_sized_from_the_share_that_misses() -> None:
    from syncd.capacity.behaviour import Behaviour

    b = Behaviour(PRIOR.before_deadline, PRIOR.lead, 0.3, 0.2, 0.4, 0.10, 0.5)
    f = forecast(
        [cohort(500)], {("lilleby", "jobsamtale"): b}, capacity(800, strakstid=10), WEEKS, runs=80
    )
    week7 = next(r for r in f.rows if r.week == MONDAY and r.type_code == "jobsamtale")
    # 10 % of 500 miss; those with a Friday deadline get their strakstid the next Monday.
    assert 40 <= week7.strakstid_needed <= 60
    lines = advise(f.rows)
    assert any(a.kind == "strakstid" and "strakstider i reserve" in a.text for a in lines)

"""A small, fast version of bench/capacity.py: the backtest's world runs, the forecaster learns
from its history and forecasts the next weeks' bookings within a few per cent."""

from __future__ import annotations

from datetime import timedelta

from bench.capacity import HISTORY_WEEKS, START, build, issue, run


def test_the_forecast_tracks_what_the_simulated_citizens_then_do() -> None:
    world = build(caseworkers=60, seed=11)
    outcome = run(world, seed=11)
    as_of = START + timedelta(weeks=HISTORY_WEEKS)
    weeks = [as_of + timedelta(weeks=k) for k in range(3)]
    fc = issue(world, outcome, as_of, weeks, runs=30)
    for k, week in enumerate(weeks, start=HISTORY_WEEKS):
        forecast = sum(r.demand_mean for r in fc.rows if r.week == week and r.type_code)
        actual = sum(n for (_, _, w), n in outcome.wanted.items() if w == k)
        assert abs(forecast - actual) <= 0.12 * actual, (week, forecast, actual)
    # Learned from the history before as_of only, and from every site.
    facts = [f for f in outcome.facts if f.booked_on < as_of]
    assert facts and {f.site_id for f in facts} == {s.id for s in world.gen.directory.sites}

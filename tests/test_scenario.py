"""The scenario generator: deterministic from the seed, realistic in shape."""

from __future__ import annotations

from datetime import date

import pytest

from syncd import scenario
from syncd.demo import bundled_scenario

START = date(2026, 11, 30)


def test_small_scenario_is_deterministic():
    data = scenario.load(bundled_scenario("small"))
    a = scenario.generate(data, start=START)
    b = scenario.generate(data, start=START)
    assert a.windows == b.windows and a.busy == b.busy and a.bookings == b.bookings
    assert len(a.directory.caseworkers) == 40 and len(a.directory.rooms) == 10
    assert {r.id for r in a.directory.rooms} == {f"L{i}" for i in range(1, 11)}


def test_shape_of_the_generated_jobcentre():
    gen = scenario.generate(scenario.load(bundled_scenario("small")), start=START)
    per_week = len(gen.windows) / (40 * gen.weeks)
    assert 2 <= per_week <= 4
    assert all(
        w.start.astimezone(gen.zone).hour >= 8 and w.end.astimezone(gen.zone).hour <= 16
        for w in gen.windows
    )
    assert all(w.start.weekday() < 5 for w in gen.windows)
    books = [r for r in gen.bookings if r.action == "book"]
    cancels = [r for r in gen.bookings if r.action == "cancel"]
    assert 0.3 <= len(cancels) / len(books) <= 0.5  # the scenario's 40 % cancellations
    assert gen.bookings == sorted(gen.bookings, key=lambda r: (r.at, r.key, r.action))
    assert all(r.at <= r.slot.start for r in books if r.slot)


def test_large_scenario_rooms_from_counts():
    gen = scenario.generate(scenario.load(bundled_scenario("large")), start=START, caseworkers=50)
    assert len(gen.directory.rooms) == 200 and len(gen.directory.sites) == 4
    caps = sorted({r.capacity for r in gen.directory.rooms})
    assert caps == [2, 3, 4, 6]
    assert len(gen.directory.caseworkers) == 50


def test_bad_scenario_says_what(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[jobcentre]\nname = 'x'\n")
    with pytest.raises(scenario.ScenarioError, match="missing key"):
        scenario.generate(scenario.load(bad), source=str(bad))

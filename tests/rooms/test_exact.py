"""The exact fallback (CP-SAT): forced by a tiny search budget, it must give the oracle's answer;
and on a crowded day where the budgeted search gives up, it decides. The booking path has no
fallback (``BOOKING_PREFERENCES``): where it gives up, the janitor's re-pack with
``Preferences()`` completes the answer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.rooms import allocate, reallocate
from syncd.rooms.exact import _cliques
from syncd.rooms.model import (
    BOOKING_PREFERENCES,
    AllocationRequest,
    Occupation,
    Preferences,
    RoomSpec,
)
from tests.rooms.oracle import apply, check_moves, check_state, min_moves
from tests.rooms.test_properties import UNIT, packed, requests

# Budget 1: the search runs out on its first step, so CP-SAT decides nearly every call.
FORCED = Preferences(search_budget=1)
# The booking path with the search starved as well: every call that needs more than a free room
# gives up, so the janitor's step always has something to do.
STARVED_BOOKING = replace(BOOKING_PREFERENCES, search_budget=1)
SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(packed(), requests("new"))
def test_fallback_matches_oracle(state, new) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied, live = state
    plan = allocate(new, live, rooms, occupied, FORCED)
    assert plan.exact
    check_moves(plan, live)
    best = min_moves([new], live, rooms, occupied)
    assert (plan.assignments["new"] is None) == (best is None), (best, plan)
    if best is None:
        assert plan.moves == ()
    else:
        assert len(plan.moves) == best, (best, plan)
    check_state(apply(plan, [new], live), rooms, occupied)


@SETTINGS
@given(packed(), st.data())
def test_fallback_reallocates_like_the_oracle(state, data) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied, live = state
    if not live:
        return
    hit = data.draw(st.sampled_from(live))
    assert hit.current_room is not None
    before = data.draw(st.integers(0, 3))
    start = hit.start - before * UNIT
    block = Occupation(
        hit.current_room, start, start + (before + data.draw(st.integers(1, 5))) * UNIT
    )
    occupied = [*occupied, block]
    displaced = [
        x
        for x in live
        if x.current_room == hit.current_room and x.start < block.end and block.start < x.end
    ]
    plan = reallocate(displaced, live, rooms, occupied, FORCED)
    assert plan.exact
    check_moves(plan, [x for x in live if x not in displaced])
    best = min_moves(displaced, live, rooms, occupied)
    placed = [d for d in displaced if plan.assignments[d.booking_id] is not None]
    if best is not None:
        assert len(placed) == len(displaced) and len(plan.moves) == best, (best, plan)
    else:
        for d in displaced:
            if plan.assignments[d.booking_id] is None:
                assert min_moves([*placed, d], live, rooms, occupied) is None
    check_state(apply(plan, displaced, live), rooms, occupied)


def test_booking_preferences_skip_the_fallback_only() -> None:
    assert BOOKING_PREFERENCES.search_budget == Preferences().search_budget
    assert BOOKING_PREFERENCES.solver_limit == 0
    assert Preferences().solver_limit > 0


@SETTINGS
@given(packed(), requests("new"))
def test_a_booking_call_that_gives_up_is_completed_by_the_janitor(state, new) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied, live = state
    plan = allocate(new, live, rooms, occupied, STARVED_BOOKING)
    assert not plan.fallback
    check_moves(plan, live)
    after = apply(plan, [new], live)
    check_state(after, rooms, occupied)
    best = min_moves([new], live, rooms, occupied)
    if plan.exact:
        assert (plan.assignments["new"] is None) == (best is None), (best, plan)
        if best is not None:
            assert len(plan.moves) == best, (best, plan)
    if plan.assignments["new"] is not None:
        return
    assert plan.moves == ()
    # The janitor: the bookings without a room, re-packed with the full limit.
    fix = reallocate([new], after, rooms, occupied, Preferences())
    assert fix.exact
    assert (fix.assignments["new"] is None) == (best is None), (best, fix)
    if best is not None:
        assert len(fix.moves) == best, (best, fix)
    check_moves(fix, after)
    check_state(apply(fix, [new], after), rooms, occupied)


@SETTINGS
@given(packed(), requests("new"))
def test_booking_preferences_match_the_oracle_when_exact(state, new) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied, live = state
    plan = allocate(new, live, rooms, occupied, BOOKING_PREFERENCES)
    assert not plan.fallback
    # On instances this small the budgeted search always decides.
    assert plan.exact
    check_moves(plan, live)
    best = min_moves([new], live, rooms, occupied)
    assert (plan.assignments["new"] is None) == (best is None), (best, plan)
    if best is not None:
        assert len(plan.moves) == best, (best, plan)
    check_state(apply(plan, [new], live), rooms, occupied)


def test_fallback_with_two_roots_that_compete_for_one_room() -> None:
    rooms = [RoomSpec("r1", "A", 2), RoomSpec("r2", "A", 3)]
    day = datetime(2026, 3, 2)
    x = AllocationRequest("x", "cw1", day.replace(hour=9), day.replace(hour=10), frozenset("A"), 2)
    live = [replace(x, current_room="r2")]
    a = AllocationRequest("a", "cw2", day.replace(hour=9), day.replace(hour=11), frozenset("A"), 3)
    b = AllocationRequest("b", "cw3", day.replace(hour=10), day.replace(hour=12), frozenset("A"), 2)
    plan = reallocate([a, b], live, rooms, [], FORCED)
    assert plan.exact and plan.fallback
    # a needs r2 (3 seats) from 9 to 11, so x moves to r1 and b, overlapping a, joins x there.
    assert plan.assignments == {"a": "r2", "b": "r1"}
    assert [(m.booking_id, m.to_room) for m in plan.moves] == [("x", "r1")]


def _load(path: Path) -> tuple[AllocationRequest, list[AllocationRequest], list, list]:  # type: ignore[type-arg]
    raw = json.loads(path.read_text())

    def req(d: dict) -> AllocationRequest:  # type: ignore[type-arg]
        return AllocationRequest(
            d["id"],
            d["cw"],
            datetime.fromisoformat(d["start"]),
            datetime.fromisoformat(d["end"]),
            frozenset(d["sites"]),
            d["cap"],
            frozenset(d["features"]),
            d["team"],
            d["room"],
            d["pinned"],
            d["movable"],
        )

    rooms = [
        RoomSpec(r["id"], r["site"], r["cap"], frozenset(r["features"]), r["floor"])
        for r in raw["rooms"]
    ]
    occupied = [
        Occupation(o["room"], datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]))
        for o in raw["occupied"]
    ]
    return req(raw["new"]), [req(d) for d in raw["existing"]], rooms, occupied


def test_crowded_day_where_the_search_gave_up() -> None:
    """A site-day from bench/allocation.py (0.6x rooms; 50 rooms, 143 allocations around the
    new booking): the budgeted search neither finds an assignment nor proves there is none,
    and before the fallback the booking was refused. CP-SAT finds one and proves its moves
    are the fewest."""
    new, live, rooms, occupied = _load(Path(__file__).parent / "data" / "hard_day.json")
    old = allocate(new, live, rooms, occupied)
    assert old.exact and old.fallback
    assert old.assignments[new.booking_id] is not None
    assert len(old.moves) == 5
    check_moves(old, live)
    check_state(apply(old, [new], live), rooms, occupied)
    # The same call is deterministic.
    assert allocate(new, live, rooms, occupied) == old
    # Without the fallback the search alone gives up (and finds nothing).
    alone = allocate(new, live, rooms, occupied, replace(Preferences(), solver_limit=0))
    assert not alone.exact
    assert alone.assignments[new.booking_id] is None


def test_booking_path_on_the_crowded_day_then_the_janitor() -> None:
    """The booking path stops after its search budget (no CP-SAT: ``plan.fallback`` False, so the
    call costs no more than the budgeted search), leaves the booking without a room and says it
    is not proven; the janitor's re-pack with ``Preferences()`` places it with the fewest moves,
    as ``allocate`` with the full limit does."""
    new, live, rooms, occupied = _load(Path(__file__).parent / "data" / "hard_day.json")
    quick = allocate(new, live, rooms, occupied, BOOKING_PREFERENCES)
    assert not quick.exact and not quick.fallback
    assert quick.assignments[new.booking_id] is None and quick.moves == ()
    assert allocate(new, live, rooms, occupied, BOOKING_PREFERENCES) == quick
    fix = reallocate([new], live, rooms, occupied, Preferences())
    assert fix.exact and fix.fallback
    full = allocate(new, live, rooms, occupied, Preferences())
    assert fix.assignments == full.assignments and fix.moves == full.moves
    assert fix.assignments[new.booking_id] is not None and len(fix.moves) == 5
    check_moves(fix, live)
    check_state(apply(fix, [new], live), rooms, occupied)


def test_cliques_are_the_maximal_ones() -> None:
    day = datetime(2026, 3, 2)

    def r(bid: str, s: int, e: int) -> AllocationRequest:
        return AllocationRequest(
            bid, "cw", day.replace(hour=s), day.replace(hour=e), frozenset(), 1
        )

    reqs = sorted(
        [r("a", 8, 12), r("b", 9, 10), r("c", 9, 11), r("d", 10, 13), r("e", 13, 14)],
        key=lambda q: q.start,
    )
    assert sorted(map(sorted, _cliques(reqs))) == [["a", "b", "c"], ["a", "c", "d"]]

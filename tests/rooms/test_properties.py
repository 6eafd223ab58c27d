"""Property tests: random booking streams on small sites, checked against a brute-force oracle."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, timedelta
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.rooms import allocate, fcfs_allocate, in_person_capacity, reallocate, repack
from syncd.rooms.feasibility import component
from syncd.rooms.model import (
    AllocationPlan,
    AllocationRequest,
    Move,
    Occupation,
    Preferences,
    RoomSpec,
)
from syncd.rooms.relax import split_refutes
from syncd.rooms.repack import point_bound
from syncd.rooms.situation import Situation
from syncd.rooms.splitpack import split_pack
from tests.rooms.oracle import apply, check_moves, check_state, min_moves

DAY = datetime(2026, 3, 2, 8, 0)
UNIT = timedelta(minutes=15)
WHEEL = frozenset({"wheelchair"})

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def sites(draw: st.DrawFn, min_rooms: int = 2) -> tuple[list[RoomSpec], list[Occupation]]:
    n = draw(st.integers(min_rooms, 4))
    rooms = [
        RoomSpec(
            f"r{i}",
            draw(st.sampled_from(["A", "A", "A", "A", "B"])),
            draw(st.sampled_from([2, 3])),
            draw(st.sampled_from([frozenset(), WHEEL])),
        )
        for i in range(n)
    ]
    occupied = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, 14))
        occupied.append(
            Occupation(
                draw(st.sampled_from(rooms)).room_id,
                DAY + start * UNIT,
                DAY + (start + draw(st.integers(1, 4))) * UNIT,
            )
        )
    return rooms, occupied


@st.composite
def requests(draw: st.DrawFn, booking_id: str) -> AllocationRequest:
    start = draw(st.integers(0, 10))
    return AllocationRequest(
        booking_id=booking_id,
        caseworker_id=draw(st.sampled_from(["cw1", "cw2", "cw3"])),
        start=DAY + start * UNIT,
        end=DAY + (start + draw(st.integers(2, 5))) * UNIT,
        sites=draw(st.sampled_from([frozenset({"A"}), frozenset({"A", "B"})])),
        min_capacity=draw(st.sampled_from([2, 2, 3])),
        features=draw(st.sampled_from([frozenset(), frozenset(), frozenset(), WHEEL])),
        pinned=draw(st.integers(0, 19)) == 0,
        movable=draw(st.integers(0, 9)) > 0,
    )


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[str, object]]:
    ops: list[tuple[str, object]] = []
    for i in range(draw(st.integers(1, 16))):
        if draw(st.integers(0, 9)) < 2:
            ops.append(("cancel", draw(st.integers(0, 1000))))
        ops.append(("book", draw(requests(f"b{i}"))))
    return ops


def replay(ops, rooms, occupied, allocator=allocate):  # type: ignore[no-untyped-def]
    """Apply a stream; after each booking check the invariants and compare with the oracle."""
    live: list[AllocationRequest] = []
    for kind, arg in ops:
        if kind == "cancel":
            if live:
                live.pop(arg % len(live))  # type: ignore[operator]
            continue
        new = arg
        assert isinstance(new, AllocationRequest)
        plan = allocator(new, live, rooms, occupied)
        check_moves(plan, live)
        best = min_moves([new], live, rooms, occupied)
        got = plan.assignments[new.booking_id]
        if allocator is allocate:
            assert plan.exact
            assert (got is None) == (best is None), (best, plan)
            if got is not None:
                assert len(plan.moves) == best, (best, plan)
        if got is None:
            assert plan.moves == ()
        live = apply(plan, [new], live)
        check_state(live, rooms, occupied)
    return live


@SETTINGS
@given(sites(), streams())
def test_stream_never_breaks_rules_and_matches_oracle(site, ops) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied = site
    replay(ops, rooms, occupied)


@SETTINGS
@given(sites(), streams())
def test_fcfs_never_moves_and_never_breaks_rules(site, ops) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied = site
    live: list[AllocationRequest] = []
    for kind, arg in ops:
        if kind == "book":
            plan = fcfs_allocate(arg, live, rooms, occupied)  # type: ignore[arg-type]
            assert plan.moves == ()
            live = apply(plan, [arg], live)  # type: ignore[list-item]
            check_state(live, rooms, occupied)
        elif live:
            live.pop(arg % len(live))  # type: ignore[operator]


@SETTINGS
@given(sites(), streams(), st.data())
def test_reallocate_after_a_block(site, ops, data) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied = site
    live = replay(ops, rooms, occupied)
    if not live:
        return
    room = data.draw(st.sampled_from(rooms)).room_id
    start = data.draw(st.integers(0, 14))
    block = Occupation(
        room, DAY + start * UNIT, DAY + (start + data.draw(st.integers(2, 8))) * UNIT
    )
    occupied = [*occupied, block]
    displaced = [
        x for x in live if x.current_room == room and x.start < block.end and block.start < x.end
    ]
    if not displaced:
        return
    plan = reallocate(displaced, live, rooms, occupied)
    assert plan.exact
    check_moves(plan, [x for x in live if x not in displaced])
    best = min_moves(displaced, live, rooms, occupied)
    placed = [d for d in displaced if plan.assignments[d.booking_id] is not None]
    if best is not None:
        assert len(placed) == len(displaced)
        assert len(plan.moves) == best
    else:
        assert len(placed) < len(displaced)
        # Maximal: no displaced booking left out could join the ones placed.
        for d in displaced:
            if plan.assignments[d.booking_id] is None:
                assert min_moves([*placed, d], live, rooms, occupied) is None
    after = apply(plan, displaced, live)
    check_state(after, rooms, occupied)


@SETTINGS
@given(sites(), streams(), st.lists(requests("cand"), min_size=1, max_size=4))
def test_capacity_never_promises_what_cannot_be_given(site, ops, cands) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied = site
    live = replay(ops, rooms, occupied)
    cands = [
        AllocationRequest(**{**c.__dict__, "booking_id": f"cand{i}"}) for i, c in enumerate(cands)
    ]
    answer = in_person_capacity(cands, live, rooms, occupied)
    # The promise must hold without any search (and without the exact fallback).
    starved = Preferences(search_budget=0, solver_limit=0)
    for c in cands:
        if answer[c.booking_id]:
            assert min_moves([c], live, rooms, occupied) is not None
            assert allocate(c, live, rooms, occupied).assignments[c.booking_id] is not None
            plan = allocate(c, live, rooms, occupied, starved)
            assert plan.assignments[c.booking_id] is not None
            check_moves(plan, live)
            check_state(apply(plan, [c], live), rooms, occupied)


@st.composite
def packed(draw: st.DrawFn) -> tuple[list[RoomSpec], list[Occupation], list[AllocationRequest]]:
    """A dense, valid state: requests put into random free suitable rooms (as a coordinator
    might have placed them by hand), so that new requests often need a re-pack."""
    rooms, occupied = draw(sites(min_rooms=3))
    live: list[AllocationRequest] = []
    for i in range(draw(st.integers(3, 9))):
        req = draw(requests(f"x{i}"))
        free = [
            room
            for room in rooms
            if min_moves([req], [], [room], occupied) == 0
            and all(
                x.current_room != room.room_id or not (x.start < req.end and req.start < x.end)
                for x in live
            )
        ]
        if free:
            room = draw(st.sampled_from(free))
            live.append(AllocationRequest(**{**req.__dict__, "current_room": room.room_id}))
    return rooms, occupied, live


class _NoRecolour:
    def __init__(self, sit: Situation) -> None:
        pass

    def recolour(self, cand: AllocationRequest) -> None:
        return None


MODES = {
    "default": {},
    # Constructed bound (re-colouring, flow splits) first, then deepening up to it.
    "construct": {"CHEAP_DEPTH": 0},
    # Flow splits alone as the bound.
    "splitpack": {"CHEAP_DEPTH": 0, "RoomClasses": _NoRecolour},
    # No constructed bound: the exhaustive search decides and bounds the moves.
    "exhaustive": {"CHEAP_DEPTH": 0, "QUICK_DEPTH": 0, "_construct": lambda *args: None},
}


@settings(max_examples=600, deadline=None, derandomize=True)
@given(packed(), requests("new"), st.sampled_from(sorted(MODES)))
def test_repack_in_dense_states_matches_oracle(state, new, mode) -> None:  # type: ignore[no-untyped-def]
    """Every path through the search (see MODES) gives the oracle's answer."""
    rooms, occupied, live = state
    check_state(live, rooms, occupied)
    with ExitStack() as stack:
        for name, value in MODES[mode].items():
            stack.enter_context(patch.object(repack, name, value))
        plan = allocate(new, live, rooms, occupied)
    assert plan.exact
    check_moves(plan, live)
    best = min_moves([new], live, rooms, occupied)
    assert (plan.assignments["new"] is None) == (best is None), (best, plan)
    if best is not None:
        assert len(plan.moves) == best, (best, plan)
    else:
        assert plan.moves == ()
    check_state(apply(plan, [new], live), rooms, occupied)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(packed(), st.data())
def test_reallocate_in_dense_states_matches_oracle(state, data) -> None:  # type: ignore[no-untyped-def]
    rooms, occupied, live = state
    if not live:
        return
    hit = data.draw(st.sampled_from(live))  # block the room of someone, around her time
    room = hit.current_room
    assert room is not None
    before = data.draw(st.integers(0, 3))
    start = hit.start - before * UNIT
    block = Occupation(room, start, start + (before + data.draw(st.integers(1, 5))) * UNIT)
    occupied = [*occupied, block]
    displaced = [
        x for x in live if x.current_room == room and x.start < block.end and block.start < x.end
    ]
    plan = reallocate(displaced, live, rooms, occupied)
    assert plan.exact
    others = [x for x in live if x not in displaced]
    check_moves(plan, others)
    best = min_moves(displaced, live, rooms, occupied)
    placed = [d for d in displaced if plan.assignments[d.booking_id] is not None]
    if best is not None:
        assert len(placed) == len(displaced) and len(plan.moves) == best, (best, plan)
    else:
        for d in displaced:
            if plan.assignments[d.booking_id] is None:
                assert min_moves([*placed, d], live, rooms, occupied) is None
    check_state(apply(plan, displaced, live), rooms, occupied)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(packed(), requests("new"))
def test_flow_proofs_and_flow_packing_are_sound(state, new) -> None:  # type: ignore[no-untyped-def]
    """The per-instant matching and the two-way split proofs never refute a feasible case, and
    the matching's bound never exceeds the fewest moves; the split packing only returns valid
    assignments (hard rules, no overlaps, only movable allocations move)."""
    rooms, occupied, live = state
    sit = Situation(live, rooms, occupied, exclude={new.booking_id})
    items = [new, *component([new], sit)]
    best = min_moves([new], live, rooms, occupied)
    if split_refutes(items, sit):
        assert best is None
    bound = point_bound([new], sit)
    if bound is None:
        assert best is None
    elif best is not None:
        assert best >= bound
    packed_rooms = split_pack(items, sit)
    if best is None:
        assert packed_rooms is None
    if packed_rooms is not None:
        moves = [
            Move(x.booking_id, x.current_room, packed_rooms[x.booking_id])
            for x in live
            if x.booking_id in packed_rooms and packed_rooms[x.booking_id] != x.current_room
        ]
        plan = AllocationPlan({new.booking_id: packed_rooms[new.booking_id]}, tuple(moves))
        check_moves(plan, live)
        check_state(apply(plan, [new], live), rooms, occupied)

"""The search's proofs and bounds on hand-made cases (the property tests cover random ones)."""

from __future__ import annotations

from syncd.rooms import allocate
from syncd.rooms.feasibility import component, exhaustive
from syncd.rooms.relax import split_refutes
from syncd.rooms.repack import point_bound
from syncd.rooms.situation import Situation
from syncd.rooms.splitpack import split_pack
from tests.rooms.helpers import at, req, room


def test_point_bound_counts_a_chain_at_one_instant() -> None:
    rooms = [room("wheel", 3, features={"wheelchair"}), room("big", 3), room("small", 2)]
    existing = [
        req("w", at(9), at(10), cap=3, room="wheel"),
        req("b", at(9), at(10), cap=2, room="big"),
    ]
    new = req("x", at(9), at(10), features={"wheelchair"})
    sit = Situation(existing, rooms, [], exclude={"x"})
    assert point_bound([new], sit) == 2
    assert len(allocate(new, existing, rooms, []).moves) == 2


def test_point_bound_refutes_an_overfull_instant() -> None:
    rooms = [room("r1"), room("r2")]
    existing = [
        req("a", at(9), at(10), room="r1"),
        req("b", at(9, 30), at(10), room="r2", movable=False),
    ]
    sit = Situation(existing, rooms, [], exclude={"x"})
    assert point_bound([req("x", at(9, 40), at(9, 50))], sit) is None


def continuity_case(extra_big_room: bool) -> tuple[list, list, object]:  # type: ignore[type-arg]
    """At every instant the conversations fit the rooms, but x would have to be in the big
    room at 9:00 (a is stuck in the small one behind e) and in the small one at 9:30 (b needs
    the big one): no single room works for x."""
    rooms = [room("big", 3), room("small", 2)]
    if extra_big_room:
        rooms.append(room("big2", 3))
    existing = [
        req("e", at(8), at(8, 50), cap=3, room="big"),
        req("a", at(8, 30), at(9, 20), room="small"),
        req("b", at(9, 20), at(10), cap=3, room="big"),
    ]
    return rooms, existing, req("x", at(9), at(9, 40))


def test_split_proof_catches_what_instants_miss() -> None:
    rooms, existing, new = continuity_case(extra_big_room=False)
    sit = Situation(existing, rooms, [], exclude={"x"})
    assert point_bound([new], sit) is not None
    items = [new, *component([new], sit)]
    assert split_refutes(items, sit)
    assert split_pack(items, sit) is None
    assert exhaustive([new], sit) is None
    plan = allocate(new, existing, rooms, [])
    assert plan.assignments == {"x": None} and plan.exact


def test_construction_and_exhaustive_search_find_the_feasible_variant() -> None:
    rooms, existing, new = continuity_case(extra_big_room=True)
    sit = Situation(existing, rooms, [], exclude={"x"})
    items = [new, *component([new], sit)]
    assert not split_refutes(items, sit)
    for found in (split_pack(items, sit), exhaustive([new], sit)):
        assert found is not None
        assert set(found) == {"x", "e", "a", "b"}
    plan = allocate(new, existing, rooms, [])
    assert plan.assignments["x"] is not None and plan.moves == () and plan.exact

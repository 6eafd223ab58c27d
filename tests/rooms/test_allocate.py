"""allocate(): time rules, preferences and re-packing, on hand-made cases."""

from __future__ import annotations

from datetime import timedelta

from syncd.rooms import allocate
from syncd.rooms.model import Move, Preferences
from tests.rooms.helpers import at, busy, req, room


def test_touching_intervals_share_a_room() -> None:
    rooms = [room("r1"), room("r2", 3)]
    existing = [req("e", at(9), at(10), room="r1")]
    plan = allocate(req("x", at(10), at(11)), existing, rooms, [])
    assert plan.assignments == {"x": "r1"}


def test_overlapping_allocation_makes_a_room_unavailable() -> None:
    rooms = [room("r1"), room("r2", 3)]
    existing = [req("e", at(9), at(10), room="r1")]
    plan = allocate(req("x", at(9, 59), at(11)), existing, rooms, [])
    assert plan.assignments == {"x": "r2"}


def test_foreign_meeting_or_block_makes_a_room_unavailable() -> None:
    rooms = [room("r1"), room("r2", 3)]
    assert allocate(
        req("x", at(9), at(10)), [], rooms, [busy("r1", at(9, 30), at(11))]
    ).assignments == {"x": "r2"}
    # Touching an occupation is fine.
    assert allocate(
        req("x", at(9), at(10)), [], rooms, [busy("r1", at(10), at(11))]
    ).assignments == {"x": "r1"}


def test_prefers_the_smallest_room_that_fits() -> None:
    rooms = [room("big", 6), room("mid", 3), room("small", 2)]
    assert allocate(req("x", at(9), at(10)), [], rooms, []).assignments == {"x": "small"}
    assert allocate(req("y", at(9), at(10), cap=3), [], rooms, []).assignments == {"y": "mid"}


def test_prefers_the_room_of_back_to_back_conversations() -> None:
    rooms = [room("r1"), room("r2")]
    existing = [req("e", at(9), at(9, 40), cw="anna", room="r2")]
    plan = allocate(req("x", at(9, 50), at(10, 30), cw="anna"), existing, rooms, [])
    assert plan.assignments == {"x": "r2"}
    # Another caseworker's conversation does not attract (load spreading sends it to r1).
    plan = allocate(req("y", at(9, 50), at(10, 30), cw="bo"), existing, rooms, [])
    assert plan.assignments == {"y": "r1"}
    # More than the adjacency gap apart: not back to back.
    plan = allocate(req("z", at(11), at(11, 40), cw="anna"), existing, rooms, [])
    assert plan.assignments == {"z": "r1"}
    wide = Preferences(adjacent_gap=timedelta(hours=2))
    plan = allocate(req("z", at(11), at(11, 40), cw="anna"), existing, rooms, [], wide)
    assert plan.assignments == {"z": "r2"}


def test_smallest_room_outweighs_adjacency() -> None:
    rooms = [room("r3", 3), room("r2", 2)]
    existing = [req("e", at(9), at(9, 40), cw="anna", room="r3")]
    plan = allocate(req("x", at(9, 40), at(10, 20), cw="anna"), existing, rooms, [])
    assert plan.assignments == {"x": "r2"}


def test_prefers_the_teams_rooms_then_floor() -> None:
    rooms = [room("r1", floor="1"), room("r2", floor="2"), room("r3", floor="3")]
    prefs = Preferences(team_rooms={"unge": ("r3",)}, team_floors={"dagpenge": "2"})
    assert allocate(req("x", at(9), at(10), team="unge"), [], rooms, [], prefs).assignments == {
        "x": "r3"
    }
    assert allocate(req("y", at(9), at(10), team="dagpenge"), [], rooms, [], prefs).assignments == {
        "y": "r2"
    }
    assert allocate(req("z", at(9), at(10), team="other"), [], rooms, [], prefs).assignments == {
        "z": "r1"
    }


def test_keeps_equipped_rooms_for_those_who_need_them() -> None:
    rooms = [room("wheel", features={"wheelchair"}), room("plain")]
    assert allocate(req("x", at(9), at(10)), [], rooms, []).assignments == {"x": "plain"}


def test_spreads_load_across_rooms() -> None:
    rooms = [room("r1"), room("r2")]
    existing = [req("e", at(8), at(9), cw="other", room="r1")]
    assert allocate(req("x", at(13), at(14)), existing, rooms, []).assignments == {"x": "r2"}


def test_repacks_when_no_room_is_free() -> None:
    # A two-person conversation sits in the only big room; a joint conversation needs it.
    rooms = [room("big", 3), room("small", 2)]
    existing = [req("e", at(9), at(10), room="big")]
    plan = allocate(req("joint", at(9, 30), at(10, 30), cap=3), existing, rooms, [])
    assert plan.assignments == {"joint": "big"}
    assert plan.moves == (Move("e", "big", "small"),)
    assert plan.exact


def test_never_moves_pinned_or_frozen_allocations() -> None:
    rooms = [room("big", 3), room("small", 2)]
    for flags in ({"pinned": True}, {"movable": False}):
        existing = [req("e", at(9), at(10), room="big", **flags)]  # type: ignore[arg-type]
        plan = allocate(req("joint", at(9, 30), at(10, 30), cap=3), existing, rooms, [])
        assert plan.assignments == {"joint": None}
        assert plan.moves == ()


def test_moves_as_few_as_possible() -> None:
    # x (site A only) fits into r1 by moving a to the B-site room (one move), or into r2 by
    # moving b and c there (two moves).
    rooms = [room("r2"), room("r1"), room("rb", site="B")]
    existing = [
        req("a", at(9), at(10), sites={"A", "B"}, room="r1"),
        req("b", at(9), at(9, 30), sites={"A", "B"}, room="r2"),
        req("c", at(9, 30), at(10), sites={"A", "B"}, room="r2"),
    ]
    plan = allocate(req("x", at(9), at(10)), existing, rooms, [])
    assert plan.assignments == {"x": "r1"}
    assert plan.moves == (Move("a", "r1", "rb"),)


def test_chain_of_moves() -> None:
    # x needs the wheelchair room; its occupant needs a big room; the big room's occupant
    # fits anywhere.
    rooms = [room("wheel", 3, features={"wheelchair"}), room("big", 3), room("small", 2)]
    existing = [
        req("w", at(9), at(10), cap=3, room="wheel"),
        req("b", at(9), at(10), cap=2, room="big"),
    ]
    plan = allocate(req("x", at(9), at(10), features={"wheelchair"}), existing, rooms, [])
    assert plan.assignments == {"x": "wheel"}
    assert set(plan.moves) == {Move("w", "wheel", "big"), Move("b", "big", "small")}


def test_impossible_means_none_and_nothing_moves() -> None:
    rooms = [room("r1"), room("r2")]
    existing = [req("a", at(9), at(10), room="r1"), req("b", at(9), at(10), room="r2")]
    plan = allocate(req("x", at(9, 30), at(9, 45)), existing, rooms, [])
    assert plan.assignments == {"x": None}
    assert plan.moves == ()
    assert plan.exact


def test_ignores_existing_without_room_and_the_booking_itself() -> None:
    rooms = [room("r1")]
    existing = [
        req("waiting", at(9), at(10)),  # no room: holds nothing
        req("x", at(9), at(10), room="r1"),  # the booking being re-allocated (rebooking)
    ]
    assert allocate(req("x", at(9, 30), at(10, 30)), existing, rooms, []).assignments == {"x": "r1"}


def test_invalid_existing_allocations_are_left_alone() -> None:
    # Two allocations already overlap in r1 (someone double-booked by hand): neither is moved,
    # and both still block r1.
    rooms = [room("r1"), room("r2")]
    existing = [req("a", at(9), at(10), room="r1"), req("b", at(9, 30), at(10, 30), room="r1")]
    plan = allocate(req("x", at(9), at(10)), existing, rooms, [])
    assert plan.assignments == {"x": "r2"}
    plan = allocate(
        req("y", at(9), at(10)), [*existing, req("c", at(9), at(10), room="r2")], rooms, []
    )
    assert plan.assignments == {"y": None}
    assert plan.moves == ()


def test_same_input_same_plan() -> None:
    rooms = [room(f"r{i}", 2 + i % 2) for i in range(6)]
    existing = [req(f"e{i}", at(9 + i % 3), at(10 + i % 3), room=f"r{i}") for i in range(6)]
    new = req("x", at(9, 30), at(10, 30), cap=3)
    assert allocate(new, existing, rooms, []) == allocate(new, existing, rooms, [])


def test_a_starved_budget_still_gives_a_valid_plan() -> None:
    rooms = [room("big", 3), room("small", 2)]
    existing = [req("e", at(9), at(10), room="big")]
    new = req("joint", at(9, 30), at(10, 30), cap=3)
    # Without the exact fallback: the constructed plan, not proven.
    plan = allocate(new, existing, rooms, [], Preferences(search_budget=0, solver_limit=0))
    assert plan.assignments == {"joint": "big"}
    assert plan.moves == (Move("e", "big", "small"),)
    assert not plan.exact and not plan.fallback
    # With it (the default): CP-SAT decides and proves the same plan.
    plan = allocate(new, existing, rooms, [], Preferences(search_budget=0))
    assert plan.assignments == {"joint": "big"}
    assert plan.moves == (Move("e", "big", "small"),)
    assert plan.exact and plan.fallback

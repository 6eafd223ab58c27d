"""in_person_capacity(): which offers can promise a room."""

from __future__ import annotations

from syncd.rooms import allocate, in_person_capacity
from syncd.rooms.model import Preferences
from tests.rooms.helpers import at, busy, req, room


def test_free_room_means_yes_none_suitable_means_no() -> None:
    rooms = [room("r1"), room("r2")]
    existing = [req("e", at(9), at(10), room="r1")]
    cands = [
        req("free", at(9), at(10)),
        req("big", at(9), at(10), cap=3),
        req("full", at(9), at(10), cw="x"),
    ]
    answer = in_person_capacity(cands[:2], existing, rooms, [])
    assert answer == {"free": True, "big": False}
    existing.append(req("f", at(9), at(10), room="r2"))
    assert in_person_capacity(cands[2:], existing, rooms, []) == {"full": False}


def test_yes_when_recolouring_one_class_makes_room() -> None:
    # No room is free for 9:30-10:30, but moving b into r1 after a frees r2.
    rooms = [room("r1"), room("r2")]
    existing = [req("a", at(9), at(10), room="r1"), req("b", at(10), at(11), room="r2")]
    cand = req("c", at(9, 30), at(10, 30))
    assert in_person_capacity([cand], existing, rooms, []) == {"c": True}
    for prefs in (Preferences(), Preferences(search_budget=0, solver_limit=0)):
        plan = allocate(cand, existing, rooms, [], prefs)
        assert plan.assignments["c"] is not None
        assert len(plan.moves) == 1


def test_conservative_when_fixed_things_touch_the_class() -> None:
    # Same as above, but b may not move (frozen): allocate still finds a way (move a to r2
    # before b), but the cheap test refuses to promise it. That is allowed: it is conservative.
    rooms = [room("r1"), room("r2")]
    existing = [
        req("a", at(9), at(10), room="r1"),
        req("b", at(10), at(11), room="r2", movable=False),
    ]
    cand = req("c", at(9, 30), at(10, 30))
    assert in_person_capacity([cand], existing, rooms, []) == {"c": False}
    assert allocate(cand, existing, rooms, []).assignments["c"] == "r1"
    # A foreign meeting in the class during the stretch is treated the same way.
    existing[1] = req("b", at(10), at(11), room="r2")
    assert in_person_capacity([cand], existing, rooms, [busy("r2", at(8), at(8, 30))]) == {
        "c": True
    }
    assert in_person_capacity([cand], existing, rooms, [busy("r2", at(10, 59), at(11))]) == {
        "c": False
    }


def test_a_candidate_for_an_existing_booking_is_judged_with_its_room_released() -> None:
    rooms = [room("r1")]
    existing = [req("x", at(9), at(10), room="r1")]
    assert in_person_capacity([req("x", at(9, 30), at(10, 30))], existing, rooms, []) == {"x": True}


def test_many_candidates_at_once() -> None:
    rooms = [room(f"r{i}") for i in range(3)]
    existing = [req(f"e{i}", at(9), at(10), room=f"r{i}") for i in range(2)]
    cands = [req(f"c{h}", at(h), at(h + 1)) for h in range(8, 16)]
    answer = in_person_capacity(cands, existing, rooms, [])
    assert all(answer.values())

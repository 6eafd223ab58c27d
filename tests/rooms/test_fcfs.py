"""First come, first served: the baseline that Exchange's Resource Booking Assistant is."""

from __future__ import annotations

from syncd.rooms import allocate, fcfs_allocate
from syncd.rooms.model import Preferences
from tests.rooms.helpers import at, busy, req, room


def test_takes_the_first_free_suitable_room_in_list_order() -> None:
    rooms = [room("big", 6), room("small", 2), room("wheel", 2, features={"wheelchair"})]
    assert fcfs_allocate(req("x", at(9), at(10)), [], rooms, []).assignments == {"x": "big"}
    existing = [req("e", at(9), at(10), room="big")]
    assert fcfs_allocate(req("x", at(9), at(10)), existing, rooms, []).assignments == {"x": "small"}
    assert fcfs_allocate(
        req("w", at(9), at(10), features={"wheelchair"}),
        [],
        rooms,
        [busy("wheel", at(9), at(9, 5))],
    ).assignments == {"w": None}


def test_with_preferences_it_takes_the_best_free_room() -> None:
    rooms = [room("big", 6), room("small", 2)]
    plan = fcfs_allocate(req("x", at(9), at(10)), [], rooms, [], Preferences())
    assert plan.assignments == {"x": "small"}


def test_never_moves_anyone_where_the_engine_would() -> None:
    rooms = [room("big", 3), room("small", 2)]
    existing = [req("e", at(9), at(10), room="big")]
    new = req("joint", at(9, 30), at(10, 30), cap=3)
    fcfs = fcfs_allocate(new, existing, rooms, [])
    assert fcfs.assignments == {"joint": None} and fcfs.moves == ()
    assert allocate(new, existing, rooms, []).assignments == {"joint": "big"}

"""reallocate(): bookings displaced by a block or a hand-made booking in their room."""

from __future__ import annotations

from syncd.rooms import reallocate
from syncd.rooms.model import Move
from tests.rooms.helpers import at, busy, req, room


def test_displaced_booking_moves_to_a_free_room() -> None:
    rooms = [room("r1"), room("r2")]
    a = req("a", at(9), at(10), room="r1")
    plan = reallocate([a], [a], rooms, [busy("r1", at(8), at(12))])
    assert plan.assignments == {"a": "r2"}
    assert plan.moves == ()


def test_displaced_booking_keeps_its_room_if_still_free_at_its_time() -> None:
    rooms = [room("r1"), room("r2")]
    a = req("a", at(9), at(10), room="r1")
    plan = reallocate([a], [a], rooms, [busy("r1", at(10), at(12))])
    assert plan.assignments == {"a": "r1"}


def test_others_move_to_make_room_with_fewest_moves() -> None:
    rooms = [room("wheel", features={"wheelchair"}), room("plain"), room("gone")]
    w = req("w", at(9), at(10), features={"wheelchair"}, room="gone")
    other = req("o", at(9), at(10), room="wheel")
    plan = reallocate([w], [w, other], rooms, [busy("gone", at(9), at(10))])
    assert plan.assignments == {"w": "wheel"}
    assert plan.moves == (Move("o", "wheel", "plain"),)


def test_those_that_cannot_be_placed_come_back_as_none() -> None:
    rooms = [room("r1"), room("r2")]
    a = req("a", at(9), at(10), room="r1")
    b = req("b", at(9, 30), at(10, 30), room="r1", cw="other")
    c = req("c", at(9), at(11), room="r2", movable=False)
    plan = reallocate([a, b], [a, b, c], rooms, [busy("r1", at(9), at(11))])
    assert plan.assignments == {"a": None, "b": None}
    assert plan.moves == ()
    # With r2 free, only one of the two (they overlap) fits: the earlier one, in start order.
    plan = reallocate([b, a], [a, b], rooms, [busy("r1", at(9), at(11))])
    assert plan.assignments == {"a": "r2", "b": None}
    assert not plan.moves


def test_a_booking_made_by_hand_displaces_ours() -> None:
    rooms = [room("r1"), room("r2")]
    a = req("a", at(9), at(10), room="r1")
    b = req("b", at(9), at(10), room="r2")
    hand = req("hand", at(9), at(10), room="r2", cw="other", pinned=True)
    plan = reallocate([b, a], [a, b, hand], rooms, [])
    # a keeps r1; b has nowhere to go while a and the hand-made booking hold both rooms.
    assert plan.assignments == {"a": "r1", "b": None}
    assert plan.moves == ()

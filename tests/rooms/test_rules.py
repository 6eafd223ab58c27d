"""Hard rules that do not depend on time: site, seats, features."""

from __future__ import annotations

import pytest

from syncd.rooms import allocate, suitable_rooms
from tests.rooms.helpers import at, req, room


def ids(rooms):  # type: ignore[no-untyped-def]
    return [r.room_id for r in rooms]


def test_site_rule() -> None:
    rooms = [room("a1", site="A"), room("b1", site="B")]
    assert ids(suitable_rooms(req("x", at(9), at(10), sites={"A"}), rooms)) == ["a1"]
    assert ids(suitable_rooms(req("x", at(9), at(10), sites={"A", "B"}), rooms)) == ["a1", "b1"]
    assert suitable_rooms(req("x", at(9), at(10), sites={"C"}), rooms) == []


def test_capacity_rule() -> None:
    rooms = [room("r2", 2), room("r3", 3), room("r4", 4)]
    assert ids(suitable_rooms(req("x", at(9), at(10), cap=3), rooms)) == ["r3", "r4"]
    assert ids(suitable_rooms(req("x", at(9), at(10), cap=2), rooms)) == ["r2", "r3", "r4"]


def test_feature_rule_needs_every_feature() -> None:
    rooms = [
        room("plain"),
        room("wheel", features={"wheelchair"}),
        room("both", features={"wheelchair", "video"}),
    ]
    assert ids(suitable_rooms(req("x", at(9), at(10), features={"wheelchair"}), rooms)) == [
        "wheel",
        "both",
    ]
    assert ids(
        suitable_rooms(req("x", at(9), at(10), features={"wheelchair", "video"}), rooms)
    ) == ["both"]


def test_allocate_never_picks_an_unsuitable_room() -> None:
    rooms = [room("small", 2), room("other-site", 3, site="B"), room("big", 3)]
    plan = allocate(req("x", at(9), at(10), cap=3), [], rooms, [])
    assert plan.assignments == {"x": "big"}


def test_no_suitable_room_means_none_and_no_moves() -> None:
    rooms = [room("small", 2)]
    existing = [req("e", at(9), at(10), room="small")]
    plan = allocate(req("x", at(9), at(10), cap=3), existing, rooms, [])
    assert plan.assignments == {"x": None}
    assert plan.moves == ()
    assert plan.unassigned == ["x"]
    assert plan.exact


def test_an_empty_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        allocate(req("x", at(10), at(10)), [], [room("r")], [])

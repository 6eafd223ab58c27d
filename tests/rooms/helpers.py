"""Small builders for room-allocation tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from syncd.rooms.model import AllocationRequest, Occupation, RoomSpec

DAY = (2026, 3, 2)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(*DAY, hour, minute)


def room(
    room_id: str,
    capacity: int = 2,
    site: str = "A",
    features: Iterable[str] = (),
    floor: str | None = None,
) -> RoomSpec:
    return RoomSpec(room_id, site, capacity, frozenset(features), floor)


def req(
    booking_id: str,
    start: datetime,
    end: datetime,
    *,
    cw: str = "cw1",
    sites: Iterable[str] = ("A",),
    cap: int = 2,
    features: Iterable[str] = (),
    team: str | None = None,
    room: str | None = None,
    pinned: bool = False,
    movable: bool = True,
) -> AllocationRequest:
    return AllocationRequest(
        booking_id=booking_id,
        caseworker_id=cw,
        start=start,
        end=end,
        sites=frozenset(sites),
        min_capacity=cap,
        features=frozenset(features),
        team=team,
        current_room=room,
        pinned=pinned,
        movable=movable,
    )


def busy(room_id: str, start: datetime, end: datetime) -> Occupation:
    return Occupation(room_id, start, end)

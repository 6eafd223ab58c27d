"""Hard rules a room must meet, whatever the time: site, seats and equipment."""

from __future__ import annotations

from collections.abc import Sequence

from syncd.rooms.model import AllocationRequest, RoomSpec


def is_suitable(req: AllocationRequest, room: RoomSpec) -> bool:
    """The caseworker may use the room's site, it seats the conversation, and it has every
    feature the conversation needs (e.g. wheelchair access)."""
    return (
        room.site_id in req.sites
        and room.capacity >= req.min_capacity
        and req.features <= room.features
    )


def suitable_rooms(req: AllocationRequest, rooms: Sequence[RoomSpec]) -> list[RoomSpec]:
    """The rooms (in the given order) that meet the hard rules for ``req``, ignoring time."""
    return [room for room in rooms if is_suitable(req, room)]


def request_kind(req: AllocationRequest) -> tuple[frozenset[str], int, frozenset[str]]:
    """Requests of one kind are suitable for exactly the same rooms; there are few kinds."""
    return (req.sites, req.min_capacity, req.features)


def room_class(room: RoomSpec) -> tuple[str, int, frozenset[str]]:
    """Rooms of one class are suitable for exactly the same requests."""
    return (room.site_id, room.capacity, room.features)


def validate(req: AllocationRequest) -> None:
    """Refuse requests that cannot be reasoned about (an empty or negative interval)."""
    if req.end <= req.start:
        raise ValueError(f"booking {req.booking_id}: end must be after start")

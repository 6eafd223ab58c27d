"""Brute-force oracle and invariant checks for the allocator tests (small instances only).

Deliberately naive and independent of the allocator's code: it enumerates every assignment.
"""

from __future__ import annotations

from collections.abc import Sequence

from syncd.rooms.model import AllocationPlan, AllocationRequest, Occupation, RoomSpec

Req = AllocationRequest


def fits(req: Req, room: RoomSpec) -> bool:
    return (
        room.site_id in req.sites
        and room.capacity >= req.min_capacity
        and req.features <= room.features
    )


def clash(a_start, a_end, b_start, b_end) -> bool:  # type: ignore[no-untyped-def]
    return a_start < b_end and b_start < a_end


def min_moves(
    roots: Sequence[Req],
    existing: Sequence[Req],
    rooms: Sequence[RoomSpec],
    occupied: Sequence[Occupation],
) -> int | None:
    """Fewest moves of existing allocations that lets every root have a room, or None."""
    root_ids = {r.booking_id for r in roots}
    by_id = {room.room_id: room for room in rooms}
    held = [x for x in existing if x.current_room in by_id and x.booking_id not in root_ids]
    fixed = [x for x in held if x.pinned or not x.movable]
    free = [x for x in held if not (x.pinned or not x.movable)]
    busy: dict[str, list[tuple[object, object]]] = {rid: [] for rid in by_id}
    for o in occupied:
        if o.room_id in busy:
            busy[o.room_id].append((o.start, o.end))
    for x in fixed:
        busy[x.current_room].append((x.start, x.end))  # type: ignore[index]
    items = [*roots, *free]
    best: list[int | None] = [None]

    def go(i: int, moves: int) -> None:
        if best[0] is not None and moves >= best[0]:
            return
        if i == len(items):
            best[0] = moves
            return
        req = items[i]
        for room in rooms:
            if not fits(req, room):
                continue
            if any(clash(req.start, req.end, s, e) for s, e in busy[room.room_id]):  # type: ignore[arg-type]
                continue
            busy[room.room_id].append((req.start, req.end))
            moved = req.booking_id not in root_ids and room.room_id != req.current_room
            go(i + 1, moves + int(moved))
            busy[room.room_id].pop()

    go(0, 0)
    return best[0]


def apply(plan: AllocationPlan, new: Sequence[Req], existing: list[Req]) -> list[Req]:
    """The allocations after the plan: moves applied, requests added with their rooms."""
    from dataclasses import replace

    moved = {m.booking_id: m for m in plan.moves}
    new_ids = {r.booking_id for r in new}
    out = []
    for x in existing:
        if x.booking_id in new_ids:
            continue
        if x.booking_id in moved:
            assert moved[x.booking_id].from_room == x.current_room
            x = replace(x, current_room=moved[x.booking_id].to_room)
        out.append(x)
    for r in new:
        room = plan.assignments.get(r.booking_id)
        if room is not None:
            out.append(replace(r, current_room=room))
    return out


def check_state(
    allocs: Sequence[Req], rooms: Sequence[RoomSpec], occupied: Sequence[Occupation]
) -> None:
    """Hard rules and no overlaps, for every allocation that holds a room."""
    by_id = {room.room_id: room for room in rooms}
    held = [x for x in allocs if x.current_room is not None]
    for x in held:
        assert x.current_room in by_id, x
        assert fits(x, by_id[x.current_room]), (
            f"{x.booking_id} violates a hard rule in {x.current_room}"
        )
        for o in occupied:
            if o.room_id == x.current_room:
                assert not clash(x.start, x.end, o.start, o.end), f"{x.booking_id} over {o}"
    for i, a in enumerate(held):
        for b in held[i + 1 :]:
            if a.current_room == b.current_room:
                assert not clash(a.start, a.end, b.start, b.end), (
                    f"{a.booking_id} and {b.booking_id} overlap"
                )


def check_moves(plan: AllocationPlan, existing: Sequence[Req]) -> None:
    """Only movable, unpinned allocations move, each from its current room to another one."""
    by_id = {x.booking_id: x for x in existing}
    seen = set()
    for m in plan.moves:
        assert m.booking_id not in seen
        seen.add(m.booking_id)
        x = by_id[m.booking_id]
        assert x.movable and not x.pinned, f"moved {x}"
        assert m.from_room == x.current_room and m.to_room is not None and m.to_room != m.from_room
